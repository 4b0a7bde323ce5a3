"""The organisation office's pages: ledger check and rules preview, admins only."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.config import PROJECT_ROOT
from service.kernel.periods import period_of, town_today
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown, raw_connection

HOST = "testserver.local"
TEXTAREA = re.compile(r"<textarea[^>]*>(.*?)</textarea>", re.DOTALL)


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


@pytest.fixture
def admin(town: SmallTown, make_browser: Any) -> Browser:
    return signed_in(make_browser, "admin")


def approve(
    database: Database, town: SmallTown, rulebook: Rulebook, username: str, rule: str
) -> int:
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput(rule, today(), Decimal(1), "在西山桥路口指挥交通"),
            today=today(),
            now=utcnow(),
        )
    with database.transaction() as session:
        approve_entry(
            session, town.principal(database, "secretary"), rulebook, entry_id, now=utcnow()
        )
    return entry_id


@pytest.fixture
def approved(database: Database, town: SmallTown, rulebook: Rulebook) -> dict[str, int]:
    """张伟: one good deed (2.0 points). 李娜: one volunteer hour (3.0 points)."""
    return {
        "good_deed": approve(database, town, rulebook, "member", "good_deed"),
        "volunteer": approve(database, town, rulebook, "member2", "volunteer"),
    }


def candidate(rulebook: Rulebook, good_deed_points: int) -> str:
    """The rules in force today as a new version from the first of this month (the day
    after the version in force starts, when that is the first), good deeds re-priced."""
    latest = rulebook.in_force(today())
    assert latest is not None
    source = (PROJECT_ROOT / "scoring_rules" / f"{latest.version}.toml").read_text("utf-8")
    source = source.replace(f'version = "{latest.version}"', 'version = "next"', 1)
    starts = max(today().replace(day=1), latest.effective_from + timedelta(days=1))
    source = source.replace(
        f"effective_from = {latest.effective_from}", f"effective_from = {starts}", 1
    )
    source, count = re.subn(
        r'(id = "good_deed"\n(?:[^\[\n].*\n)*?points = )2\n', rf"\g<1>{good_deed_points}\n", source
    )
    assert count == 1
    return source


def textarea(page: str) -> str:
    match = TEXTAREA.search(page)
    assert match, "no textarea on the page"
    return html.unescape(match.group(1))


def table_rows(page: str) -> list[str]:
    """Each table row's text, tags removed and whitespace squeezed."""
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.DOTALL)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in rows]


# --- who may see the office pages -----------------------------------------------------


@pytest.mark.parametrize("username", ["member", "secretary", "instructor"])
def test_everybody_but_the_office_is_refused(
    town: SmallTown, make_browser: Any, username: str
) -> None:
    browser = signed_in(make_browser, username)
    for path in ("/admin", "/admin/ledger", "/admin/rules"):
        assert browser.client.get(path).status_code == 403, path
    assert 'href="/admin"' not in browser.client.get("/boards").text
    # A valid CSRF token does not open the doors either.
    verify = browser.submit("/boards", "/admin/ledger/verify", {})
    assert verify.status_code == 403
    preview = browser.submit("/boards", "/admin/rules/preview", {"candidate": "x"})
    assert preview.status_code == 403


def test_signed_out_visitors_are_sent_to_the_login(client: TestClient[Litestar]) -> None:
    response = client.get("/admin/rules", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fadmin%2Frules"


def test_the_office_landing_page_links_both_checks(admin: Browser, rulebook: Rulebook) -> None:
    page = admin.client.get("/admin")
    assert page.status_code == 200
    assert 'href="/admin/ledger"' in page.text and 'href="/admin/rules"' in page.text
    in_force = rulebook.in_force(today())
    assert in_force is not None
    assert f"In force today: version {in_force.version}" in page.text
    assert 'href="/admin"' in admin.client.get("/boards").text  # the nav shows the office


# --- ledger check ---------------------------------------------------------------------


def test_the_ledger_check_runs_on_request(admin: Browser, approved: dict[str, int]) -> None:
    page = admin.client.get("/admin/ledger")
    assert page.status_code == 200
    assert "Run the check" in page.text and "Result" not in page.text

    result = admin.submit("/admin/ledger", "/admin/ledger/verify", {})
    assert result.status_code == 200
    assert "OK: the ledger and the boards agree with a fresh scoring." in result.text
    assert "Checked 2 member-years (2 activities), 2 ledger lines and 2 summary rows" in (
        result.text
    )
    assert re.search(r"in \d+\.\d\d s \([\d,]+ rows per second\)", result.text)


def test_the_ledger_check_shows_a_tampered_summary(
    admin: Browser, database: Database, town: SmallTown, approved: dict[str, int]
) -> None:
    with raw_connection(database) as connection:
        connection.execute(
            text("UPDATE points_summary SET points = points + 10 WHERE member_id = :m"),
            {"m": town.member_ids["member"]},
        )
    result = admin.submit("/admin/ledger", "/admin/ledger/verify", {})
    assert result.status_code == 200
    assert "1 difference found." in result.text
    assert "OK:" not in result.text
    (row,) = [r for r in table_rows(result.text) if "张伟" in r]
    assert "Summary row differs from its ledger lines" in row
    assert period_of(today()) in row and "Good deed for the public" in row
    assert row.endswith("2.0 1 line 3.0 1 line")
    assert not any("李娜" in r for r in table_rows(result.text))
    # ... and says what to do about it.
    assert "What to do" in result.text and "jifen ledger rebuild-totals" in result.text
    assert "jifen ledger rescore" not in result.text


def test_the_ledger_check_shows_a_tampered_ledger_line(
    admin: Browser, database: Database, approved: dict[str, int]
) -> None:
    with raw_connection(database) as connection:
        connection.execute(
            text("UPDATE ledger_line SET points = 50 WHERE entry_id = :e"),
            {"e": approved["good_deed"]},
        )
    result = admin.submit("/admin/ledger", "/admin/ledger/verify", {})
    assert "2 differences found." in result.text
    rows = [r for r in table_rows(result.text) if "Ledger differs from a fresh scoring" in r]
    assert len(rows) == 1
    assert f"entry:{approved['good_deed']}" in rows[0]
    assert rows[0].endswith("2.0 5.0")
    assert "jifen ledger rescore" in result.text


def test_running_the_check_needs_the_csrf_token(admin: Browser, approved: dict[str, int]) -> None:
    response = admin.client.post("/admin/ledger/verify", data={}, follow_redirects=False)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert "OK:" not in response.text


# --- rules and preview ------------------------------------------------------------------


def test_the_rules_page_lists_versions_with_points_and_limits(
    admin: Browser, rulebook: Rulebook
) -> None:
    page = admin.client.get("/admin/rules")
    assert page.status_code == 200
    for ruleset in rulebook.rulesets:
        assert f"Version {ruleset.version}" in page.text
        assert ruleset.title_en in page.text
    rows = table_rows(page.text)
    latest = rulebook.latest
    theme_day = latest.rule("theme_day")
    assert theme_day is not None and theme_day.cap_per_year is not None
    assert any(
        r.startswith("Took part in a theme party day theme_day")
        and f"2.0 points {theme_day.cap_per_year:.1f} a year" in r
        for r in rows
    ), rows
    assert any("Volunteer service volunteer" in r and "3.0 points per hour" in r for r in rows)
    assert "in force" in page.text
    # How far back members may declare: the shipped files leave the default.
    assert "Members may declare this month and the month before it." in page.text
    assert textarea(page.text) == ""


def test_a_broken_candidate_shows_the_problem_and_keeps_the_text(
    admin: Browser, approved: dict[str, int], rulebook: Rulebook
) -> None:
    pasted = candidate(rulebook, 2).replace("cap_per_month = 10", "cap_per_month = -10", 1)
    assert pasted != candidate(rulebook, 2)
    response = admin.submit("/admin/rules", "/admin/rules/preview", {"candidate": pasted})
    assert response.status_code == 422
    assert (
        "candidate: rule &#39;good_deed&#39; field &#39;cap_per_month&#39;: "
        "Input should be greater than or equal to 0"
    ) in response.text
    assert "The candidate ruleset has 1 problem; nothing was previewed" in response.text
    assert textarea(response.text) == pasted
    assert "What version" not in response.text


def test_text_that_is_not_toml_is_refused(admin: Browser) -> None:
    pasted = 'version = "next\n<script>alert(1)</script>'
    response = admin.submit("/admin/rules", "/admin/rules/preview", {"candidate": pasted})
    assert response.status_code == 422
    assert "candidate: not valid TOML" in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert textarea(response.text) == pasted


def test_an_empty_candidate_or_a_bad_month_is_refused(admin: Browser, rulebook: Rulebook) -> None:
    empty = admin.submit("/admin/rules", "/admin/rules/preview", {"candidate": "  "})
    assert empty.status_code == 422
    assert "Paste the candidate ruleset (TOML) here, or choose its file." in empty.text

    pasted = candidate(rulebook, 5)
    bad_month = admin.submit(
        "/admin/rules", "/admin/rules/preview", {"candidate": pasted, "month": "2026-13"}
    )
    assert bad_month.status_code == 422
    assert "A month is written YYYY-MM, e.g. 2026-03." in bad_month.text
    assert textarea(bad_month.text) == pasted
    assert 'value="2026-13"' in bad_month.text


def test_a_good_candidate_shows_points_and_ranks_before_and_after(
    admin: Browser, approved: dict[str, int], rulebook: Rulebook
) -> None:
    pasted = candidate(rulebook, 5)
    month = period_of(today())
    response = admin.submit(
        "/admin/rules", "/admin/rules/preview", {"candidate": pasted, "month": month}
    )
    assert response.status_code == 200
    assert "What version next would change" in response.text
    assert "2 members would get other points or another town rank." in response.text
    month_name = date.fromisoformat(f"{month}-01").strftime("%B %Y")  # "December 2026"
    assert f"<h3>{month_name}</h3>" in response.text
    assert "Month total 5.0 → 8.0 points." in response.text
    rows = table_rows(response.text)
    # 张伟 overtakes 李娜.
    assert "张伟 M001 金湾工业园区联合党支部 2.0 → 5.0 +3.0 2 → 1" in rows
    assert "李娜 M002 金湾工业园区联合党支部 3.0 → 3.0 0.0 1 → 2" in rows
    assert textarea(response.text) == pasted


def test_a_candidate_that_changes_nothing_says_so(
    admin: Browser, approved: dict[str, int], rulebook: Rulebook
) -> None:
    response = admin.submit(
        "/admin/rules", "/admin/rules/preview", {"candidate": candidate(rulebook, 2)}
    )
    assert response.status_code == 200
    assert "No member's points or rank would change." in response.text


def test_previewing_needs_the_csrf_token(admin: Browser, rulebook: Rulebook) -> None:
    response = admin.client.post(
        "/admin/rules/preview",
        data={"candidate": candidate(rulebook, 5)},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "This form has expired" in response.text
