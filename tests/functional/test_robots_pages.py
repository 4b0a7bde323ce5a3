"""Group robot settings through the real app: a branch's secretary and the office set
them, others are refused; addresses are shown masked, secrets as "set", and neither the
URL's token nor the signing secret ever appears in a response."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.outbox.emit import emit
from service.persistence.db import Database
from service.persistence.notify import RobotService, RobotWebhook
from tests.conftest import Browser, SmallTown

TOKEN = "a1b2c3d4e5f6toksecretwecom7788"
DING_TOKEN = "dd99ee88secretaccesstoken4321"
SECRET = "SECf00dfacecafebeef0123456789signing"
WECOM = f"http://127.0.0.1:9/cgi-bin/webhook/send?key={TOKEN}"
DINGTALK = f"http://127.0.0.1:9/robot/send?access_token={DING_TOKEN}"


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain="testserver.local")
    browser.login(username)
    return browser


def no_secret(text: str) -> None:
    for secret in (TOKEN, DING_TOKEN, SECRET, SECRET[3:]):
        assert secret not in text


def post(browser: Browser, path: str, form: dict[str, str]) -> Any:
    token = browser.csrf_token("/inbox")
    return browser.client.post(path, data={**form, "_csrf_token": token}, follow_redirects=False)


def test_a_secretary_sets_up_the_branch_robots_and_never_sees_the_secrets_again(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    base = f"/branches/{town.jinwan}/robots"
    first = secretary.client.get(base)
    assert first.status_code == 200
    assert "No group robot is set up." in first.text
    saved = post(secretary, base, {"service": "wecom", "url": WECOM})
    assert saved.status_code == 303, saved.text
    no_secret(saved.text)
    saved = post(secretary, base, {"service": "dingtalk", "url": DINGTALK, "secret": SECRET})
    assert saved.status_code == 303, saved.text
    page = secretary.client.get(base)
    no_secret(page.text)
    assert "send?…7788" in page.text and TOKEN[:8] not in page.text
    assert "set" in page.text
    with database.transaction(write=False) as session:
        rows = list(session.scalars(select(RobotWebhook).order_by(RobotWebhook.id)))
    assert [(r.service, r.branch_id, r.url, r.secret) for r in rows] == [
        (RobotService.WECOM, town.jinwan, WECOM, ""),
        (RobotService.DINGTALK, town.jinwan, DINGTALK, SECRET),
    ]
    # replacing the address keeps the secret when it is left empty
    replaced = post(secretary, base, {"service": "dingtalk", "url": DINGTALK + "X", "secret": ""})
    assert replaced.status_code == 303
    # turning off, on, and removing
    ding = rows[1].id
    assert post(secretary, f"{base}/{ding}/disable", {}).status_code == 303
    with database.transaction(write=False) as session:
        robot = session.get(RobotWebhook, ding)
        assert robot is not None and not robot.enabled and robot.secret == SECRET
    assert post(secretary, f"{base}/{ding}/enable", {}).status_code == 303
    assert post(secretary, f"{base}/{ding}/remove", {}).status_code == 303
    with database.transaction(write=False) as session:
        assert session.get(RobotWebhook, ding) is None
    # the audit log shows the change without the secrets
    audit = signed_in(make_browser, "admin").client.get("/admin/audit")
    no_secret(audit.text)


def test_refusals_are_beside_the_field_and_echo_no_secret(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    base = f"/branches/{town.jinwan}/robots"
    missing = post(secretary, base, {"service": "dingtalk", "url": DINGTALK, "secret": ""})
    assert missing.status_code == 422
    assert 'id="secret-error"' in missing.text
    # neither the address (its token) nor the secret comes back: the page asks again
    no_secret(missing.text)
    assert 'id="retype"' in missing.text
    assert '<option value="dingtalk" selected>' in missing.text
    wrong = post(secretary, base, {"service": "dingtalk", "url": "ftp://x", "secret": SECRET})
    assert wrong.status_code == 422
    assert 'id="url-error"' in wrong.text
    no_secret(wrong.text)
    bad_secret = post(
        secretary, base, {"service": "dingtalk", "url": DINGTALK, "secret": "x" + SECRET}
    )
    assert bad_secret.status_code == 422
    assert 'id="secret-error"' in bad_secret.text
    no_secret(bad_secret.text)
    wecom_secret = post(secretary, base, {"service": "wecom", "url": WECOM, "secret": SECRET})
    assert wecom_secret.status_code == 422
    no_secret(wecom_secret.text)
    with database.transaction(write=False) as session:
        assert session.scalar(select(RobotWebhook.id)) is None


def test_production_accepts_only_the_services_hosts(database: Database, town: SmallTown) -> None:
    from service.kernel.errors import InvalidInput
    from service.notify.robots_config import save_robot

    admin = town.principal(database, "admin")
    with database.transaction() as session:
        try:
            save_robot(session, admin, None, service="wecom", url=WECOM, production=True)
        except InvalidInput as exc:
            assert set(exc.errors) == {"url"}
            assert TOKEN not in str(exc)
        else:
            raise AssertionError("a local address was accepted in production")
        robot = save_robot(
            session, admin, None, service="wecom",
            url=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}", production=True,
        )  # fmt: skip
        assert robot > 0


def test_who_may_set_up_robots(database: Database, town: SmallTown, make_browser: Any) -> None:
    base = f"/branches/{town.jinwan}/robots"
    for username, status in (
        ("member", 403), ("instructor", 403), ("secretary2", 403), ("secretary", 200),
        ("admin", 200),
    ):  # fmt: skip
        assert signed_in(make_browser, username).client.get(base).status_code == status, username
    for username, status in (("secretary", 403), ("admin", 200)):
        page = signed_in(make_browser, username).client.get("/office/robots")
        assert page.status_code == status, username
    other = signed_in(make_browser, "secretary2")
    refused = post(other, base, {"service": "wecom", "url": WECOM})
    assert refused.status_code == 403
    no_secret(refused.text)
    # another branch's robot through this branch's address: not found
    admin = signed_in(make_browser, "admin")
    assert (
        post(
            admin, f"/branches/{town.baoyuan}/robots", {"service": "wecom", "url": WECOM}
        ).status_code
        == 303
    )
    with database.transaction(write=False) as session:
        baoyuan_robot = session.scalar(select(RobotWebhook.id))
    secretary = signed_in(make_browser, "secretary")
    assert post(secretary, f"{base}/{baoyuan_robot}/remove", {}).status_code == 404
    assert post(secretary, f"{base}/{baoyuan_robot}/disable", {}).status_code == 404


def test_a_robot_with_deliveries_is_removed_by_clearing_its_secrets(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    admin = signed_in(make_browser, "admin")
    assert (
        post(
            admin, "/office/robots", {"service": "dingtalk", "url": DINGTALK, "secret": SECRET}
        ).status_code
        == 303
    )
    with database.transaction() as session:
        emit(
            session, "declare_reminder", params={"period": "2026-12", "deadline": "2026-12-25"},
            link="/entries/new", broadcast="town", robots="town",
        )  # fmt: skip
        robot_id = session.scalar(select(RobotWebhook.id))
    assert post(admin, f"/office/robots/{robot_id}/remove", {}).status_code == 303
    with database.transaction(write=False) as session:
        robot = session.get(RobotWebhook, robot_id)
        assert robot is not None and (robot.url, robot.secret, robot.enabled) == ("", "", False)
    page = admin.client.get("/office/robots")
    assert "No group robot is set up." in page.text
