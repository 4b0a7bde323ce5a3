"""The inbox through the real app: the header's count, the list in the reader's
language, opening a message (read, then its link), marking all read, and nobody
opening another's message."""

from __future__ import annotations

import re
from typing import Any

from service.outbox.emit import emit
from service.persistence.db import Database
from tests.conftest import Browser, SmallTown

COUNT = re.compile(r'id="inbox-link"[^>]*>[^<]*(?:<span class="count">\((\d+)\)</span>)?')


def header_count(html: str) -> int:
    match = COUNT.search(html)
    assert match, "no inbox link in the header"
    return int(match.group(1) or 0)


def seed(database: Database, town: SmallTown) -> dict[str, int]:
    member = town.account_ids["member"]
    with database.transaction() as session:
        rejected = emit(
            session,
            "entry_rejected",
            params={"rule": "志愿服务", "date": "2026-12-01", "reason": "缺少照片"},
            link="/entries",
            accounts=[member],
        )[0]
        approved = emit(
            session,
            "entry_approved",
            params={"rule": "志愿服务", "date": "2026-12-02", "points": "2"},
            link="/me/points",
            accounts=[member],
        )[0]
        meeting = emit(
            session,
            "meeting_scheduled",
            params={
                "branch": "金湾", "meeting": "主题党日", "date": "2026-12-10",
                "time": "09:00", "place": "会议室",
            },
            link="/meetings",
            branch_id=town.jinwan,
            broadcast="branch",
        )[0]  # fmt: skip
        private3 = emit(
            session,
            "warning_opened",
            params={"period": "2026-11", "deadline": "2027-01-31"},
            link="/warnings",
            accounts=[town.account_ids["member3"]],
        )[0]
        return {
            "rejected": rejected.id,
            "approved": approved.id,
            "meeting": meeting.id,
            "private3": private3.id,
        }


def signed_in(make_browser: Any, username: str, lang: str = "en") -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", lang, domain="testserver.local")
    browser.login(username)
    return browser


def test_the_header_counts_and_the_inbox_lists_in_the_readers_language(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    seed(database, town)
    member = signed_in(make_browser, "member", "zh_CN")
    home = member.client.get("/")
    assert header_count(home.text) == 3  # two personal, one broadcast of 金湾
    assert "消息" in home.text
    page = member.client.get("/inbox")
    assert page.status_code == 200
    assert "缺少照片" in page.text  # the reason, to the member it concerns
    assert "主题党日" in page.text
    assert "警示" not in page.text and "2027-01-31" not in page.text  # member3's
    english = signed_in(make_browser, "member2", "en")
    page2 = english.client.get("/inbox")
    assert "Meeting: 主题党日 on 2026-12-10" in page2.text
    assert "缺少照片" not in page2.text
    assert header_count(page2.text) == 1
    # 宝元's secretary sees nothing of 金湾's broadcast; zero shows no number
    other = signed_in(make_browser, "secretary2")
    assert header_count(other.client.get("/").text) == 0


def test_opening_a_message_marks_it_read_and_follows_its_link(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    ids = seed(database, town)
    member = signed_in(make_browser, "member")
    token = member.csrf_token("/inbox")
    opened = member.client.post(
        f"/inbox/{ids['rejected']}/open", data={"_csrf_token": token}, follow_redirects=False
    )
    assert opened.status_code == 303
    assert opened.headers["location"] == "/entries"
    assert header_count(member.client.get("/inbox").text) == 2
    unread = member.client.get("/inbox?unread=1")
    assert f'id="message-{ids["rejected"]}"' not in unread.text
    assert f'id="message-{ids["approved"]}"' in unread.text
    done = member.client.post("/inbox/read", data={"_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    page = member.client.get(done.headers["location"])
    assert header_count(page.text) == 0
    assert "Every message is marked read." in page.text
    # the other reader of the broadcast still has it unread: read marks are per account
    assert header_count(signed_in(make_browser, "member2").client.get("/").text) == 1


def test_nobody_opens_a_message_not_theirs(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    ids = seed(database, town)
    member = signed_in(make_browser, "member")
    token = member.csrf_token("/inbox")
    for key in ("private3", "nonexistent"):
        target = ids.get(key, 999_999)
        response = member.client.post(
            f"/inbox/{target}/open", data={"_csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 404
    # without the CSRF token nothing is marked
    refused = member.client.post(f"/inbox/{ids['approved']}/open", follow_redirects=False)
    assert refused.status_code == 403
    assert header_count(member.client.get("/").text) == 3


def test_a_visitor_gets_no_inbox_link_and_is_sent_to_sign_in(browser: Browser) -> None:
    page = browser.client.get("/login")
    assert 'id="inbox-link"' not in page.text
    response = browser.client.get("/inbox", follow_redirects=False)
    assert response.status_code == 303


def test_error_pages_count_too(database: Database, town: SmallTown, make_browser: Any) -> None:
    """A page that failed (its transaction rolled back) still shows the count, read in a
    worker thread as the transaction ends. A refusal before any handler ran (a guard's
    403) has no transaction: it shows no number rather than wait for a connection on
    the event loop, which under load stalls every request (503s)."""
    seed(database, town)
    member = signed_in(make_browser, "member")
    missing = member.client.get("/meetings/999999")
    assert missing.status_code == 404
    assert header_count(missing.text) == 3
    refused = member.client.get("/outbox")
    assert refused.status_code == 403
    assert header_count(refused.text) == 0
