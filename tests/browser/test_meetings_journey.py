"""Issue 17's "Done when", through the pages, on 390 px phones in Chinese.

The secretary of 金湾 schedules a 主题党日 for the whole branch a minute or two ahead;
one member asks for leave and is granted it; at the meeting two members and the
secretary check in with the code read from the check-in screen and the secretary ticks a
member who has no phone; after the end the secretary closes the meeting with minutes.
Then each member's points, the branch's organisational life and the office's compliance
table show it, and ``ledger verify`` agrees with the ledger.

The meeting really takes place: it starts at the next whole minute plus one (the form
has minute precision) and lasts one minute, so leave can still be asked before it starts,
check-in is open at once (it opens 30 minutes before the start), and closing, refused
before the end, waits for the clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.ledger.verify import verify_ledger
from service.meetings.schedule import town_zone
from service.persistence.db import Database
from service.persistence.models import Account, Member, MemberStatus, Role, RoleGrant
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.browser.test_checkin_journey import page_problems, signed_in
from tests.browser.test_journey import zh
from tests.conftest import SmallTown, password_hash
from web.meetings.notices import MEETING_NOTICES

TITLE = "十二月主题党日：重温入党誓词"
LEAVE_REASON = "当天在外地出差，无法参加。"
MINUTES = "全体到会党员重温入党誓词，书记领学党章第一章；张伟请假。"
# Two more members of 金湾 with accounts: the journey needs four besides the secretary.
NEWCOMERS = {"member4": ("M007", "孙丽"), "member5": ("M008", "周强")}
EIGHTY_PERCENT = re.compile(r"\b80(\.0)?%")
# Longest wait for the meeting's end: it is at most three minutes after scheduling.
END_WAIT_S = 240.0


def add_newcomers(database: Database, town: SmallTown) -> None:
    """Members 孙丽 and 周强 in 金湾, each with an account (role: member)."""
    with database.transaction() as session:
        for username, (code, name) in NEWCOMERS.items():
            member = Member(
                code=code,
                name=name,
                branch_id=town.jinwan,
                status=MemberStatus.FULL,
                joined_party_on=date(2015, 7, 1),
                active=True,
            )
            session.add(member)
            session.flush()
            account = Account(
                username=username,
                password_hash=password_hash(),
                display_name=name,
                member_id=member.id,
            )
            session.add(account)
            session.flush()
            session.add(RoleGrant(account_id=account.id, role=Role.MEMBER, branch_id=town.jinwan))
            town.member_ids[username] = member.id
            town.account_ids[username] = account.id


def meeting_times(rulebook: Rulebook) -> tuple[datetime, datetime]:
    """Start at the next whole minute plus one, end a minute later, town time; both on
    one day (the form has one date), so just before midnight this waits for the day."""
    while True:
        now = utcnow().astimezone(town_zone(rulebook, utcnow().date()))
        starts = now.replace(second=0, microsecond=0) + timedelta(minutes=2)
        ends = starts + timedelta(minutes=1)
        if ends.date() == starts.date():
            return starts, ends
        time.sleep(5)


def held(text: str) -> int:
    """The first number in a compliance text or cell: the meetings held."""
    found = re.search(r"\d+", text)
    assert found is not None, text
    return int(found.group())


def assert_fits(page: Page, what: str) -> None:
    problems = page_problems(page)
    assert problems == [], f"{what}: {problems}"


def theme_day_cell(page: Page, branch_id: int) -> str:
    """The office's compliance table: 金湾's 主题党日 cell ("held / due (required)")."""
    headers = page.locator("table.compliance-table thead th").all_inner_texts()
    column = next(i for i, text in enumerate(headers) if zh("Theme party day") in text)
    return page.locator(f"tr#branch-{branch_id} > *").nth(column).inner_text()


# The meeting takes place on the real clock (two to three minutes from scheduling to
# its end): more room than the suite's 300 s per test, for a machine under load.
@pytest.mark.timeout(420)
def test_a_theme_day_from_scheduling_to_points(
    database: Database,
    rulebook: Rulebook,
    town: SmallTown,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    add_newcomers(database, town)
    # Everyone signs in first: leave must be asked before the start, a minute or two on.
    secretary = signed_in(new_context, "secretary")
    on_leave = signed_in(new_context, "member")  # 张伟 asks for leave
    by_code = [signed_in(new_context, name) for name in ("member2", "member4")]  # 李娜, 孙丽
    ticked_id = town.member_ids["member5"]  # 周强 has no phone: the secretary ticks him
    office = signed_in(new_context, "admin")

    branch_page = f"/branches/{town.jinwan}"
    secretary.goto(branch_page)
    held_before = held(secretary.locator("#compliance-theme_day").inner_text())
    office.goto("/compliance")
    office_before = held(theme_day_cell(office, town.jinwan))
    assert office_before == held_before

    # 1. The secretary schedules the theme day for the whole branch.
    secretary.goto("/meetings/new")
    expect(secretary.locator("h1")).to_have_text(zh("Schedule a meeting"))
    assert_fits(secretary, "the meeting form")
    starts, ends = meeting_times(rulebook)
    secretary.select_option("#kind", "theme_day")
    secretary.fill("#title", TITLE)
    secretary.fill("#day", starts.date().isoformat())
    secretary.fill("#start", starts.strftime("%H:%M"))
    secretary.fill("#end", ends.strftime("%H:%M"))
    secretary.fill("#place", "金湾党群服务中心二楼")
    secretary.fill("#agenda", "重温入党誓词；学习党章。")
    expect(secretary.locator("input[name=audience][value=branch]")).to_be_checked()
    screenshot(secretary, "meetings-01-schedule-form")
    secretary.get_by_role("button", name=zh("Schedule"), exact=True).click()
    expect(secretary).to_have_url(re.compile(r"/meetings/\d+\?done=scheduled$"))
    expect(secretary.locator(".notice").first).to_have_text(zh(MEETING_NOTICES["scheduled"]))
    found = re.search(r"/meetings/(\d+)", secretary.url)
    assert found is not None
    meeting = f"/meetings/{found.group(1)}"
    expect(secretary.locator("h1")).to_have_text(TITLE)
    expect(secretary.locator("#meeting-when")).to_contain_text(f"{starts:%H:%M}–{ends:%H:%M}")
    expect(secretary.locator("#attendance tbody tr")).to_have_count(5)

    # 2. A member asks for leave with a reason before the start.
    on_leave.goto(meeting)
    on_leave.fill("#leave-reason", LEAVE_REASON)
    on_leave.locator("#ask-leave").get_by_role("button", name=zh("Ask for leave")).click()
    expect(on_leave.locator(".notice").first).to_have_text(zh(MEETING_NOTICES["leave_requested"]))
    expect(on_leave.locator("#my-leave")).to_contain_text(
        zh("Leave requested, awaiting the answer")
    )
    assert utcnow() < starts, "the leave request came after the start: the machine is slow"
    screenshot(on_leave, "meetings-02-leave-asked")
    assert_fits(on_leave, "the meeting page with a leave request")

    # ...the secretary grants it...
    secretary.goto(meeting)
    request = secretary.locator(f"#row-{town.member_ids['member']}")
    expect(request).to_contain_text(LEAVE_REASON)
    screenshot(secretary, "meetings-03-leave-to-decide")
    assert_fits(secretary, "the meeting page with a leave to decide")
    request.get_by_role("button", name=zh("Grant"), exact=True).click()
    expect(secretary.locator(".notice").first).to_have_text(zh(MEETING_NOTICES["leave_granted"]))
    expect(request).to_contain_text(zh("Leave granted"))

    # ...and the member sees the answer.
    on_leave.goto(meeting)
    expect(on_leave.locator("#my-leave")).to_contain_text(zh("Leave granted"))
    expect(on_leave.locator("#my-leave")).to_contain_text(LEAVE_REASON)

    # 3. Check-in: the screen shows the code; two members and the secretary use it.
    secretary.goto(f"{meeting}/checkin/screen")
    expect(secretary.locator(".checkin-qr svg")).to_be_visible()
    expect(secretary.locator(".checkin-count")).to_contain_text("已签到：0 / 5 人")
    screenshot(secretary, "meetings-04-checkin-screen")
    assert_fits(secretary, "the check-in screen")

    def code_on_screen() -> str:
        secretary.reload()
        return re.sub(r"\D", "", secretary.locator(".checkin-code").inner_text())

    for phone in by_code:
        phone.goto(f"{meeting}/checkin?code={code_on_screen()}")
        phone.get_by_role("button", name=zh("Check in"), exact=True).click()
        expect(phone.locator(".checkin-done")).to_contain_text(re.compile(r"签到成功 \d\d:\d\d"))
    screenshot(by_code[0], "meetings-05-member-checked-in")
    assert_fits(by_code[0], "the member's check-in page")
    # The secretary is expected too, and checks in with the code like everyone else
    # (nobody ticks their own attendance).
    code = code_on_screen()
    secretary.goto(f"{meeting}/checkin?code={code}")
    secretary.get_by_role("button", name=zh("Check in"), exact=True).click()
    expect(secretary.locator(".checkin-done")).to_contain_text("签到成功")

    secretary.goto(f"{meeting}/attendance")
    row = secretary.locator(f"#member-{ticked_id}")
    row.get_by_role("button", name=re.compile(zh("Tick present"))).click()
    expect(secretary.locator(".notice").first).to_contain_text("已标记为到会")
    expect(secretary.locator("main")).to_contain_text("已签到：4 / 5 人")
    expect(secretary.locator(f"#member-{town.member_ids['member']}")).to_contain_text(
        zh("on leave (granted)")
    )
    screenshot(secretary, "meetings-06-attendance-list")
    assert_fits(secretary, "the attendance list")

    # 4. After the end, the secretary closes the meeting with minutes.
    deadline = time.monotonic() + END_WAIT_S
    while utcnow() <= ends and time.monotonic() < deadline:
        time.sleep(1)
    assert utcnow() > ends, "the meeting's end never came"
    secretary.goto(f"{meeting}/close")
    expect(secretary.locator("#count-attended")).to_have_text("4")
    expect(secretary.locator("#count-leave")).to_have_text("1")
    expect(secretary.locator("#count-absent")).to_have_text("0")
    screenshot(secretary, "meetings-07-close-form")
    assert_fits(secretary, "the closing form")
    secretary.fill("#minutes", MINUTES)
    secretary.get_by_role("button", name=zh("Close and write the points")).click()
    expect(secretary).to_have_url(re.compile(rf"{meeting}\?done=closed$"))
    expect(secretary.locator(".notice").first).to_have_text(zh(MEETING_NOTICES["closed"]))
    expect(secretary.locator("#meeting-status")).to_have_text(zh("Closed"))
    expect(secretary.locator("#minutes")).to_have_text(MINUTES)
    outcomes = secretary.locator("#attendance tbody tr td:last-child").all_inner_texts()
    assert sorted(outcomes) == sorted([zh("Attended")] * 4 + [zh("On leave")])
    screenshot(secretary, "meetings-08-closed")
    assert_fits(secretary, "the closed meeting's page")

    # 5. Each member's points: +2 under 主题党日 for those who attended, nothing for leave.
    attended = [secretary, *by_code]
    ticked = signed_in(new_context, "member5")
    for page in [*attended, ticked]:
        page.goto("/me/points")
        line = page.locator("li.line.kind-attendance", has_text=TITLE)
        expect(line).to_have_count(1)
        expect(line.locator(".description")).to_contain_text(zh("Theme party day"))
        expect(line.locator(".counted")).to_have_text(zh("counts %(points)s") % {"points": "2.0"})
    screenshot(ticked, "meetings-09-points-ticked-member")
    assert_fits(ticked, "the points of a ticked member")
    on_leave.goto("/me/points")
    expect(on_leave.locator("h1")).to_be_visible()
    expect(on_leave.locator("li.line", has_text=TITLE)).to_have_count(0)

    # The branch's organisational life: one more theme day held, and the office agrees.
    secretary.goto(branch_page)
    theme_days = secretary.locator("#compliance-theme_day")
    expect(theme_days).to_contain_text(zh("Theme party day"))
    assert held(theme_days.inner_text()) == held_before + 1
    # Four of the five expected attended (on leave counts as not attending).
    expect(secretary.locator(".meetings-compliance")).to_contain_text(EIGHTY_PERCENT)
    screenshot(secretary, "meetings-10-branch-page")
    assert_fits(secretary, "the branch page")
    office.goto("/compliance")
    assert held(theme_day_cell(office, town.jinwan)) == held_before + 1
    expect(office.locator(f"tr#branch-{town.jinwan}")).to_contain_text(EIGHTY_PERCENT)
    screenshot(office, "meetings-11-office-compliance")
    assert_fits(office, "the office's compliance table")

    # 6. The ledger agrees with a fresh scoring of everything.
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert report.ok, report.differences
