"""The office's audit log page and its CSV export, after changes made over HTTP."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from service.audit.capture import acting
from service.entries.entry import EntryInput, submit_entry
from service.kernel.periods import town_today
from service.persistence.db import Database
from service.persistence.models import AuditEvent, Branch, BranchKind
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import PASSWORD, Browser, SmallTown
from web.auth import client_address

HOST = "testserver.local"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def signed_in(make_browser: Any, username: str, *, locale: str = "en") -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", locale, domain=HOST)
    browser.login(username)
    return browser


def submit(database: Database, town: SmallTown, rulebook: Rulebook, username: str) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput("volunteer", today(), Decimal(2), "在西山桥路口指挥交通"),
            today=today(),
            now=utcnow(),
        )


def approve_over_http(browser: Browser, entry_id: int, **headers: str) -> None:
    token = browser.csrf_token("/review")
    response = browser.client.post(
        f"/review/{entry_id}/approve",
        data={"_csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def items(html: str) -> list[str]:
    return re.findall(r'<li class="entry" id="event-\d+">(.*?)</li>', html, re.S)


def test_a_change_over_http_shows_who_when_where_and_what(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    entry_id = submit(database, town, rulebook, "member")
    secretary = signed_in(make_browser, "secretary")
    # Without a trusted proxy, a forged X-Forwarded-For is ignored.
    approve_over_http(secretary, entry_id, **{"X-Forwarded-For": "10.9.9.9"})

    with database.transaction(write=False) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.kind == "entry.approve"))
    assert event is not None
    assert event.actor_id == town.account_ids["secretary"]
    assert event.ip_address == "testclient"  # the test client's socket address

    office = signed_in(make_browser, "admin")
    page = office.client.get("/admin/audit?account=secretary&kind=entry")
    assert page.status_code == 200
    (item,) = items(page.text)
    assert "Entry approved" in item and "entry.approve" in item
    assert f"#{entry_id}" in item
    assert "by 王书记 (secretary)" in item and "from testclient" in item
    assert "金湾工业园区联合党支部" in item
    assert re.search(
        r"<code>status</code></th>\s*<td[^>]*>pending</td>\s*<td[^>]*>approved</td>", item
    )
    assert "10.9.9.9" not in page.text

    everything = office.client.get("/admin/audit")
    kinds = re.findall(r'<span class="badge">([a-z_.]+)</span>', everything.text)
    # Newest first: the office signing in, then the approval, then the secretary's sign-in.
    assert kinds[:3] == ["sign_in.success", "entry.approve", "sign_in.success"]
    assert "entry.create" in kinds and "member.create" in kinds
    assert "1 change" in page.text


def test_filters_by_branch_kind_and_dates(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    submit(database, town, rulebook, "member3")
    office = signed_in(make_browser, "admin")

    def kinds(query: str) -> list[str]:
        page = office.client.get(f"/admin/audit?{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<span class="badge">([a-z_.]+)</span>', page.text)

    assert kinds("branch=B002&kind=entry") == ["entry.create"]
    assert kinds("branch=B002&kind=entry.approve") == []
    assert set(kinds("kind=member")) == {"member.create"}
    assert kinds(f"since={today().isoformat()}&until={today().isoformat()}")
    assert kinds(f"since={(today() + timedelta(days=1)).isoformat()}") == []
    empty = office.client.get("/admin/audit?account=nobody")
    assert "No change matches this filter." in empty.text

    bad = office.client.get("/admin/audit?since=2026-13-45")
    assert bad.status_code == 422
    assert "Enter a date like 2026-03-12." in bad.text
    backwards = office.client.get("/admin/audit?since=2026-03-02&until=2026-03-01")
    assert backwards.status_code == 422
    assert "The end date is before the start date." in backwards.text
    assert office.client.get("/admin/audit.csv?since=yesterday").status_code == 422


def test_pages_newest_first(database: Database, town: SmallTown, make_browser: Any) -> None:
    with acting(town.account_ids["admin"], "192.0.2.1"), database.transaction() as session:
        session.execute(
            insert(Branch),
            [
                {"code": f"C{n:03d}", "name": f"测试支部{n:03d}", "kind": BranchKind.SINGLE}
                for n in range(60)
            ],
        )
    office = signed_in(make_browser, "admin")
    first = office.client.get("/admin/audit?kind=branch.create&account=admin")
    assert first.status_code == 200
    assert len(items(first.text)) == 50
    assert "Page 1 of 2" in first.text
    assert 'href="?account=admin&amp;kind=branch.create&amp;page=2"' in first.text
    second = office.client.get("/admin/audit?kind=branch.create&account=admin&page=2")
    assert len(items(second.text)) == 10
    assert "from 192.0.2.1" in second.text


def test_csv_export_of_the_filtered_rows(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    entry_id = submit(database, town, rulebook, "member")
    approve_over_http(signed_in(make_browser, "secretary"), entry_id)
    office = signed_in(make_browser, "admin")
    page = office.client.get("/admin/audit?kind=entry&branch=B001")
    assert 'href="/admin/audit.csv?branch=B001&amp;kind=entry"' in page.text
    response = office.client.get("/admin/audit.csv?branch=B001&kind=entry")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "jifen-audit.csv" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Number", "When", "Who", "From where", "What"]
    assert [row[4] for row in rows[1:]] == ["entry.approve", "entry.create"]
    approve = rows[1]
    assert approve[2] == "secretary" and approve[3] == "testclient"
    assert approve[7] == "金湾工业园区联合党支部"
    assert '"status": "approved"' in approve[10]
    assert approve[1].endswith("+08:00")


def sign_in(browser: Browser, username: str, password: str) -> int:
    token = browser.csrf_token("/login")
    response = browser.client.post(
        "/login",
        data={"username": username, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )
    return int(response.status_code)


def test_sign_ins_are_in_the_log_with_the_username_the_address_and_the_outcome(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    """Issue 15, item 19: sign-ins (success, failure, throttled) were not in the audit
    log. Each attempt is a line (a burst of refusals one line), the password never."""
    stranger: Browser = make_browser()
    assert sign_in(stranger, "nobody-here", "guess-secret-x") == 400
    for attempt in range(5):
        assert sign_in(stranger, "secretary", f"guess-secret-{attempt}") == 400
    assert sign_in(stranger, "secretary", PASSWORD) == 429
    assert sign_in(stranger, "secretary", "guess-secret-9") == 429
    assert sign_in(make_browser(), "member", PASSWORD) == 303

    office = signed_in(make_browser, "admin")
    page = office.client.get("/admin/audit?kind=sign_in")
    assert page.status_code == 200
    lines = items(page.text)
    # member, the office and the refusal are newest; the stranger's five failures and
    # the unknown username oldest.
    assert len(lines) == 1 + 5 + 1 + 2
    assert "guess-secret" not in page.text and PASSWORD not in page.text
    unknown = lines[-1]
    assert "Sign-in failed: wrong username or password" in unknown
    assert "nobody-here" in unknown
    assert "by someone not signed in" in unknown and "from testclient" in unknown
    (refused,) = [line for line in lines if "sign_in.throttled" in line]
    assert "Sign-in refused: too many failed sign-ins" in refused and "secretary" in refused
    assert re.search(
        r"<code>wait_minutes</code></th>\s*<td[^>]*>.*?</td>\s*<td[^>]*>1</td>", refused, re.S
    )
    member = [line for line in lines if "sign_in.success" in line][-1]
    assert "Sign-in succeeded" in member and "(member)" in member

    # The office asks about one person: what they did, and what was tried in their name.
    secretary = office.client.get("/admin/audit?account=secretary")
    kinds = re.findall(r'<span class="badge">([a-z_.]+)</span>', secretary.text)
    assert kinds == ["sign_in.throttled"] + ["sign_in.failure"] * 5

    office.client.cookies.set("jifen_lang", "zh_CN", domain=HOST)
    chinese = office.client.get("/admin/audit?kind=sign_in").text
    assert "登录失败:用户名或密码错误" in chinese
    assert "登录被拒绝:登录失败次数过多" in chinese
    assert "登录成功" in chinese
    assert "操作人:未登录的访问者" in chinese


def test_page_in_chinese(database: Database, town: SmallTown, make_browser: Any) -> None:
    office = signed_in(make_browser, "admin", locale="zh_CN")
    page = office.client.get("/admin/audit")
    assert page.status_code == 200
    assert "<h1>" in page.text


def test_client_address_behind_a_trusted_proxy() -> None:
    scope: Any = {
        "client": ("10.0.0.2", 5000),
        "headers": [(b"x-forwarded-for", b"198.51.100.7, 203.0.113.9")],
    }
    assert client_address(scope) == "10.0.0.2"
    # The proxy appends the address it saw last; earlier hops are the client's to forge.
    assert client_address(scope, trust_proxy=True) == "203.0.113.9"
    assert client_address({"headers": []}) == ""
