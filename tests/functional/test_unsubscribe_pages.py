"""The digest email's unsubscribe link over HTTP, signed out as a mail reader is: the
confirmation page and its form (with the CSRF token), RFC 8058's one-click POST (no
token: the address's secret is the authority, and it demands the RFC's body), and a
clear 404 for a link that is not one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.notify.account_settings import settings_for
from service.persistence.db import Database
from service.persistence.notify import Mode, NotifyPreference
from tests.conftest import Browser, SmallTown
from tests.functional.test_csrf_everywhere import changed, snapshot

HOST = "testserver.local"


def subscribe(database: Database, account_id: int) -> str:
    """The account gets approvals and meetings as a weekly digest; returns its token."""
    with database.transaction() as session:
        token = settings_for(session, account_id).unsubscribe_token
        for kind_id in ("entry_approved", "meeting_scheduled"):
            session.add(NotifyPreference(account_id=account_id, kind=kind_id, mode=Mode.DIGEST))
        session.add(NotifyPreference(account_id=account_id, kind="leave_decided", mode=Mode.EMAIL))
    return token


def modes(database: Database, account_id: int) -> dict[str, Mode]:
    with database.transaction(write=False) as session:
        rows = session.execute(
            select(NotifyPreference.kind, NotifyPreference.mode).where(
                NotifyPreference.account_id == account_id
            )
        ).all()
    return {kind_id: mode for kind_id, mode in rows}


AFTER = {
    "entry_approved": Mode.INBOX,
    "meeting_scheduled": Mode.INBOX,
    "leave_decided": Mode.EMAIL,  # an email per message is not the digest: kept
}


def test_the_link_asks_then_stops_the_digest(
    database: Database, town: SmallTown, browser: Browser
) -> None:
    member = town.account_ids["member"]
    token = subscribe(database, member)
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    page = browser.client.get(f"/notify/unsubscribe/{token}")
    assert page.status_code == 200
    assert "This stops the weekly digest email of" in page.text
    assert page.headers["cache-control"] == "private, no-store"
    assert page.headers["referrer-policy"] == "same-origin"  # the token stays on the site
    assert modes(database, member)["entry_approved"] == Mode.DIGEST  # a GET changes nothing

    done = browser.submit(f"/notify/unsubscribe/{token}", f"/notify/unsubscribe/{token}", {})
    assert done.status_code == 200
    assert "gets no weekly digest email any more" in done.text
    assert modes(database, member) == AFTER


def test_the_page_speaks_chinese_by_default(
    database: Database, town: SmallTown, browser: Browser
) -> None:
    token = subscribe(database, town.account_ids["member"])
    page = browser.client.get(f"/notify/unsubscribe/{token}")
    assert "停止每周摘要" in page.text
    done = browser.submit(f"/notify/unsubscribe/{token}", f"/notify/unsubscribe/{token}", {})
    assert "不再收到每周摘要邮件" in done.text


def test_the_form_needs_its_csrf_token(
    database: Database, town: SmallTown, browser: Browser
) -> None:
    member = town.account_ids["member"]
    token = subscribe(database, member)
    response = browser.client.post(f"/notify/unsubscribe/{token}", data={})
    assert response.status_code == 403
    assert modes(database, member)["entry_approved"] == Mode.DIGEST


def test_one_click_from_a_mail_client(database: Database, town: SmallTown, client: Any) -> None:
    member = town.account_ids["member"]
    token = subscribe(database, member)
    url = f"/notify/unsubscribe/{token}/one-click"
    # Without the RFC's body (a link checker's stray POST): nothing changes.
    before = snapshot(database)
    refused = client.post(url, data={"something": "else"})
    assert refused.status_code == 400
    assert not changed(before, snapshot(database))
    # As a mail client sends it: no cookie, no CSRF token, URL-encoded or multipart.
    response = client.post(
        url,
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert modes(database, member) == AFTER
    again = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert again.status_code == 200  # twice is harmless
    # A client that opens the address in a browser lands on the page.
    opened = client.get(url, follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/notify/unsubscribe/{token}"


def test_a_link_that_is_not_one_is_a_clear_404(
    database: Database, town: SmallTown, browser: Browser
) -> None:
    subscribe(database, town.account_ids["member"])
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    before = snapshot(database)
    for path in ("/notify/unsubscribe/not-a-token", "/notify/unsubscribe/" + "x" * 300):
        page = browser.client.get(path)
        assert page.status_code == 404
        assert "This unsubscribe link is not valid" in page.text
    crafted = browser.client.get(
        "/notify/unsubscribe/a%0d%0aSet-Cookie:%20x=1/one-click", follow_redirects=False
    )
    assert crafted.status_code == 404
    assert "x=1" not in crafted.headers.get("set-cookie", "")
    csrf = browser.csrf_token("/login")
    posted = browser.client.post("/notify/unsubscribe/nope", data={"_csrf_token": csrf})
    assert posted.status_code == 404
    one_click = browser.client.post(
        "/notify/unsubscribe/nope/one-click", data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 404
    assert not changed(before, snapshot(database))
