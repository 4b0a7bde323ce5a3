"""One's notification settings through the real app: saving, refusals beside their
fields with everything typed kept, mandatory kinds that cannot be turned off, and the
kinds each role is offered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.persistence.db import Database
from service.persistence.notify import Mode, NotifyPreference, NotifySettings
from tests.conftest import Browser, SmallTown


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain="testserver.local")
    browser.login(username)
    return browser


def save(browser: Browser, form: dict[str, str]) -> Any:
    token = browser.csrf_token("/me/notifications")
    return browser.client.post(
        "/me/notifications", data={**form, "_csrf_token": token}, follow_redirects=False
    )


def test_a_member_saves_settings(database: Database, town: SmallTown, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    page = member.client.get("/me/notifications")
    assert page.status_code == 200
    assert "An entry of mine is approved" in page.text
    assert "Entries wait for my review" not in page.text  # not a reviewer
    assert "Objections wait for an answer" not in page.text  # not the office
    saved = save(
        member,
        {
            "email": "zhangwei@example.com",
            "locale": "en",
            "quiet": "custom",
            "quiet_from": "21:30",
            "quiet_to": "06:45",
            "kind.entry_approved": "email",
            "kind.meeting_soon": "off",
            "kind.board_published": "digest",
            "kind.warning_opened": "inbox",
        },
    )
    assert saved.status_code == 303, saved.text
    shown = member.client.get(saved.headers["location"])
    assert "Your notification settings are saved." in shown.text
    assert 'value="zhangwei@example.com"' in shown.text
    account = town.account_ids["member"]
    with database.transaction(write=False) as session:
        row = session.get(NotifySettings, account)
        assert row is not None
        assert (row.email, row.locale, row.quiet_from, row.quiet_to) == (
            "zhangwei@example.com", "en", "21:30", "06:45",
        )  # fmt: skip
        modes = {
            p.kind: p.mode
            for p in session.scalars(
                select(NotifyPreference).where(NotifyPreference.account_id == account)
            )
        }
    assert modes == {
        "entry_approved": Mode.EMAIL,
        "meeting_soon": Mode.OFF,
        "board_published": Mode.DIGEST,
        "warning_opened": Mode.INBOX,
    }
    # no quiet hours, then the town's default again
    assert save(member, {"email": "", "locale": "zh_CN", "quiet": "none"}).status_code == 303
    with database.transaction(write=False) as session:
        row = session.get(NotifySettings, account)
        assert row is not None and (row.email, row.quiet_from, row.quiet_to) == (
            None,
            "00:00",
            "00:00",
        )
    assert save(member, {"email": "", "locale": "zh_CN", "quiet": "town"}).status_code == 303
    with database.transaction(write=False) as session:
        row = session.get(NotifySettings, account)
        assert row is not None and (row.quiet_from, row.quiet_to) == (None, None)


def test_refusals_stand_beside_their_fields_and_keep_what_was_typed(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    member = signed_in(make_browser, "member")
    refused = save(
        member,
        {
            "email": "not an address",
            "locale": "fr",
            "quiet": "custom",
            "quiet_from": "25:00",
            "quiet_to": "07:00",
            "kind.warning_opened": "off",
            "kind.entry_approved": "email",
        },
    )
    assert refused.status_code == 422
    text = refused.text
    for field in ("email", "locale", "quiet_from", "kind-warning_opened"):
        assert f'id="{field}-error"' in text, field
    assert "cannot be turned off" in text
    assert 'value="not an address"' in text and 'value="25:00"' in text
    assert 'value="07:00"' in text
    # the choice typed for another kind is kept, not reset to the saved one
    assert '<option value="email" selected>Inbox and email</option>' in text
    with database.transaction(write=False) as session:
        assert session.scalar(select(NotifyPreference.kind)) is None
        row = session.get(NotifySettings, town.account_ids["member"])
        assert row is None or row.email is None
    same = save(
        member,
        {
            "email": "",
            "locale": "en",
            "quiet": "custom",
            "quiet_from": "22:00",
            "quiet_to": "22:00",
        },
    )
    assert same.status_code == 422 and 'id="quiet_to-error"' in same.text


def test_each_role_is_offered_its_kinds(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    admin = signed_in(make_browser, "admin").client.get("/me/notifications").text
    assert "Objections wait for an answer" in admin and "Entries wait for my review" in admin
    assert "An entry of mine is approved" not in admin  # the office has no member record
    instructor = signed_in(make_browser, "instructor").client.get("/me/notifications").text
    assert "Entries wait for my review" in instructor
    assert "A month is ready to publish" not in instructor
    assert "My password is changed or reset" in instructor
    # a kind one does not receive is ignored, not saved
    member = signed_in(make_browser, "member")
    assert (
        save(
            member, {"email": "", "locale": "en", "quiet": "town", "kind.publish_ready": "off"}
        ).status_code
        == 303
    )
    with database.transaction(write=False) as session:
        assert session.scalar(select(NotifyPreference.kind)) is None
