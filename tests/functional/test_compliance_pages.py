"""The compliance pages (组织生活开展情况): the office's and instructors' table with its
"only behind" filter and CSV and XLSX downloads, the block on a branch's page, and the
meetings on the achievements page. The town's day is fixed at 2027-07-15 (January to
June have ended) so what is due does not depend on when the suite runs."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook

from service.persistence.db import Database
from service.persistence.meetings import Outcome
from service.persistence.models import Branch
from tests.conftest import Browser, SmallTown
from tests.meeting_rows import add_meeting, add_party_group

HOST = "testserver.local"
TODAY = date(2027, 7, 15)
TYPES = ("congress", "committee", "group", "lecture", "theme_day")


@pytest.fixture(autouse=True)
def town_day(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("web.compliance.views", "web.branches.views", "web.achievements.views"):
        monkeypatch.setattr(f"{module}.town_date", lambda _request: TODAY)


@pytest.fixture
def meetings(database: Database, town: SmallTown) -> SmallTown:
    """金湾, with a party group, has held everything due by July (and one theme day with
    attendance); 宝元, without one, has held two theme days and nothing else."""
    creator = town.account_ids["admin"]
    members = town.member_ids
    with database.transaction() as session:
        add_party_group(session, branch_id=town.jinwan)
        first = None
        for month in range(1, 7):
            for kind in ("committee", "group", "theme_day"):
                meeting = add_meeting(
                    session,
                    branch_id=town.jinwan,
                    kind=kind,
                    day=date(2027, month, 10),
                    created_by_id=creator,
                    outcomes={members["member"]: Outcome.ATTENDED}
                    if kind == "theme_day" and month == 6
                    else None,
                )
                first = first or meeting.id
        for month in (2, 5):
            for kind in ("congress", "lecture"):
                add_meeting(
                    session,
                    branch_id=town.jinwan,
                    kind=kind,
                    day=date(2027, month, 20),
                    created_by_id=creator,
                )
        # A make-up session is not a held meeting.
        add_meeting(
            session,
            branch_id=town.jinwan,
            kind="theme_day",
            day=date(2027, 6, 20),
            created_by_id=creator,
            makeup_of_id=first,
        )
        for month in (1, 2):
            add_meeting(
                session,
                branch_id=town.baoyuan,
                kind="theme_day",
                day=date(2027, month, 10),
                created_by_id=creator,
                outcomes={
                    members["member3"]: Outcome.ATTENDED,
                    members["secretary2"]: Outcome.ABSENT if month == 1 else Outcome.LEAVE,
                },
            )
    return town


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


def table_rows(html: str) -> dict[str, list[str]]:
    """Each row of the compliance table by branch name: its cells as text."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        rows[cells[0].split()[0]] = cells[1:]
    return rows


def test_the_office_sees_every_branch_held_against_due(
    meetings: SmallTown, make_browser: Any
) -> None:
    office = signed_in(make_browser, "admin")
    page = office.client.get("/compliance")
    assert page.status_code == 200
    assert "Organisational life, 2027" in page.text
    assert "2 branches, 1 behind as of" in page.text
    rows = table_rows(page.text)
    # Types: congress, committee, group, lecture, theme day; then rate and status.
    assert rows["金湾工业园区联合党支部"] == [
        "2 / 2 (4)",
        "6 / 6 (12)",
        "6 / 6 (12)",
        "2 / 2 (4)",
        "6 / 6 (12)",
        "100.0%",
        "On track",
    ]
    assert rows["宝元鞋厂党支部"] == [
        "0 / 2 (4) behind",
        "0 / 6 (12) behind",
        "— not applicable: the branch has no party group",
        "0 / 2 (4) behind",
        "2 / 6 (12) behind",
        "50.0%",
        "Behind",
    ]
    # The rule behind "due by now" is on the page, in words.
    assert "shared over the months that have ended, rounded down" in page.text
    assert "for the whole year even when those rules began later in it" in page.text
    assert "required only of branches that have a party group" in page.text
    assert 'class="table-scroll wide"' in page.text
    assert 'href="/compliance.csv?year=2027"' in page.text


def test_only_behind_filters_the_table_and_the_downloads(
    meetings: SmallTown, make_browser: Any
) -> None:
    office = signed_in(make_browser, "admin")
    page = office.client.get("/compliance?year=2027&behind=1")
    assert page.status_code == 200
    assert list(table_rows(page.text)) == ["宝元鞋厂党支部"]
    assert "1 branch behind as of" in page.text
    assert 'name="behind" value="1" checked' in page.text
    assert 'href="/compliance.csv?year=2027&amp;behind=1"' in page.text
    data = office.client.get("/compliance.csv?year=2027&behind=1")
    lines = list(csv.reader(io.StringIO(data.content.decode("utf-8-sig"))))
    assert [line[1] for line in lines[1:]] == ["宝元鞋厂党支部"]


def test_a_past_year_owes_the_whole_years_requirement(
    meetings: SmallTown, make_browser: Any
) -> None:
    # The rules required meetings only from December 2026, yet all of 2026 is due.
    office = signed_in(make_browser, "admin")
    page = office.client.get("/compliance?year=2026")
    assert page.status_code == 200
    assert "2 branches, 2 behind as of" in page.text
    rows = table_rows(page.text)
    assert rows["金湾工业园区联合党支部"][:5] == [
        "0 / 4 (4) behind",
        "0 / 12 (12) behind",
        "0 / 12 (12) behind",
        "0 / 4 (4) behind",
        "0 / 12 (12) behind",
    ]


def test_no_branch_behind_says_so(meetings: SmallTown, make_browser: Any) -> None:
    office = signed_in(make_browser, "admin")
    # In January nothing is due yet... but the town's day is July: look at last year,
    # before the rules required meetings.
    page = office.client.get("/compliance?year=2025&behind=1")
    assert page.status_code == 200
    assert "do not require any meetings" in page.text
    assert "No branch is behind." in page.text


def test_the_csv_has_one_line_per_branch(meetings: SmallTown, make_browser: Any) -> None:
    office = signed_in(make_browser, "admin")
    response = office.client.get("/compliance.csv?year=2027")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="jifen-compliance-2027.csv"' in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    heading = lines[0]
    assert heading[:5] == [
        "Branch code",
        "Branch",
        "Branch general meeting: held",
        "Branch general meeting: due by now",
        "Branch general meeting: required this year",
    ]
    assert heading[-5:] == [
        "Meetings held (all types)",
        "Attendances",
        "Expected attendances",
        "Attendance rate (%)",
        "Behind",
    ]
    by_code = {line[0]: dict(zip(heading, line, strict=True)) for line in lines[1:]}
    assert list(by_code) == ["B001", "B002"]
    jinwan, baoyuan = by_code["B001"], by_code["B002"]
    assert jinwan["Theme party day: held"] == "6"
    assert jinwan["Meetings held (all types)"] == "22"
    assert jinwan["Behind"] == ""
    assert baoyuan["Theme party day: held"] == "2"
    assert baoyuan["Theme party day: due by now"] == "6"
    assert baoyuan["Theme party day: required this year"] == "12"
    assert jinwan["Party group meeting: due by now"] == "6"
    # 宝元 has no party group: the type does not apply to it.
    assert baoyuan["Party group meeting: held"] == "0"
    assert baoyuan["Party group meeting: due by now"] == "—"
    assert baoyuan["Party group meeting: required this year"] == "—"
    assert (baoyuan["Attendances"], baoyuan["Expected attendances"]) == ("2", "4")
    assert baoyuan["Attendance rate (%)"] == "50.0"
    assert baoyuan["Behind"] == "yes"


def test_the_xlsx_has_a_title_and_numbers(meetings: SmallTown, make_browser: Any) -> None:
    office = signed_in(make_browser, "admin")
    response = office.client.get("/compliance.xlsx?year=2027")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    header_index = next(i for i, row in enumerate(values) if row[0] == "Branch code")
    assert header_index >= 1
    assert "Meetings held by the branches, 2027" in str(values[0][0])
    heading = values[header_index]
    data = {row[0]: dict(zip(heading, row, strict=True)) for row in values[header_index + 1 :]}
    assert data["B002"]["Theme party day: held"] == 2
    assert data["B002"]["Behind"] == "yes"
    assert data["B001"]["Behind"] in ("", None)


def test_a_branch_named_like_a_formula_stays_text(
    database: Database, meetings: SmallTown, make_browser: Any
) -> None:
    with database.transaction() as session:
        branch = session.get(Branch, meetings.baoyuan)
        assert branch is not None
        branch.name = '=HYPERLINK("http://evil.example","x")'
    office = signed_in(make_browser, "admin")
    text = office.client.get("/compliance.csv?year=2027").content.decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    sheet = load_workbook(
        io.BytesIO(office.client.get("/compliance.xlsx?year=2027").content)
    ).active
    assert sheet is not None
    cells = [
        cell
        for row in sheet.iter_rows()
        for cell in row
        if cell.value and "HYPERLINK" in str(cell.value)
    ]
    assert cells and all(cell.data_type == "s" for cell in cells)


def test_an_instructor_sees_their_branches_only(meetings: SmallTown, make_browser: Any) -> None:
    instructor = signed_in(make_browser, "instructor")
    page = instructor.client.get("/compliance")
    assert page.status_code == 200
    assert list(table_rows(page.text)) == ["金湾工业园区联合党支部"]
    assert 'href="/compliance"' in page.text  # in the navigation
    lines = instructor.client.get("/compliance.csv").content.decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and "宝元" not in "".join(lines)


def test_a_secretary_sees_their_own_branch_without_a_nav_link(
    meetings: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary2")
    page = secretary.client.get("/compliance")
    assert page.status_code == 200
    assert list(table_rows(page.text)) == ["宝元鞋厂党支部"]
    home = secretary.client.get("/branches")
    assert 'href="/compliance"' not in home.text


@pytest.mark.parametrize("path", ["/compliance", "/compliance.csv", "/compliance.xlsx"])
def test_a_member_is_refused(meetings: SmallTown, make_browser: Any, path: str) -> None:
    member = signed_in(make_browser, "member")
    assert member.client.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/compliance", "/compliance.csv"])
def test_signed_out_is_sent_to_sign_in(client: Any, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code in (302, 303, 401)


@pytest.mark.parametrize("year", ["2028", "1999", "20x7", "99999999999"])
def test_a_year_that_is_not_a_page_is_not_found(
    meetings: SmallTown, make_browser: Any, year: str
) -> None:
    office = signed_in(make_browser, "admin")
    assert office.client.get(f"/compliance?year={year}").status_code == 404
    assert office.client.get(f"/compliance.csv?year={year}").status_code == 404


def test_the_branch_page_shows_its_organisational_life(
    meetings: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary2")
    page = secretary.client.get(f"/branches/{meetings.baoyuan}")
    assert page.status_code == 200
    block = page.text.split('class="card meetings-compliance"', 1)[1].split("</section>", 1)[0]
    assert "Organisational life, 2027" in block
    theme = re.search(r'id="compliance-theme_day"[^>]*>(.*?)</li>', block, re.S)
    assert theme is not None
    assert " ".join(re.sub(r"<[^>]+>", " ", theme.group(1)).split()) == (
        "Theme party day : 2 held · 6 due by now · 12 this year behind"
    )
    assert "Attendance rate at the meetings held: 50.0%." in block
    group = re.search(r'id="compliance-group"[^>]*>(.*?)</li>', block, re.S)
    assert group is not None
    assert " ".join(re.sub(r"<[^>]+>", " ", group.group(1)).split()) == (
        "Party group meeting : not required, the branch has no party group"
    )
    instructor = signed_in(make_browser, "instructor")
    jinwan = instructor.client.get(f"/branches/{meetings.jinwan}").text
    assert (
        "Behind"
        not in jinwan.split('class="card meetings-compliance"', 1)[1].split("</section>")[0]
    )


def test_the_achievements_page_counts_meetings_and_attendance(
    meetings: SmallTown, make_browser: Any
) -> None:
    member = signed_in(make_browser, "member3")
    page = member.client.get(f"/achievements/{meetings.baoyuan}")
    assert page.status_code == 200
    held = re.search(r'id="meetings-held"><strong>(\d+)</strong>', page.text)
    rate = re.search(r'id="attendance-rate"><strong>([^<]+)</strong>', page.text)
    assert held is not None and held.group(1) == "2"
    assert rate is not None and rate.group(1) == "50.0%"
    quiet = member.client.get(f"/achievements/{meetings.baoyuan}?year=2025").text
    assert 'id="attendance-rate"><strong>–</strong>' in quiet
