"""Roster import (党员名册导入): the dry run reports every problem by row and column and
writes nothing; apply creates and updates; re-importing changes nothing."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from sqlalchemy import func, insert, select

from service.people.fields import id_number_check_char
from service.people.roster_file import (
    COLUMNS,
    RosterFileError,
    read_table,
    template_csv,
    template_xlsx,
)
from service.people.roster_import import ImportReport, import_roster
from service.persistence.db import Database
from service.persistence.models import (
    Branch,
    BranchKind,
    Member,
    Membership,
    MemberStatus,
    Organisation,
    OrganisationKind,
)
from tests.conftest import SmallTown

MEMBERS = 1_192
BRANCHES = 268
ORGANISATIONS = 836
PRESENT = 300  # members already in the database before the import
HEADER = [column.chinese for column in COLUMNS]
STATUSES = ["正式党员"] * 7 + ["预备党员", "流动党员", "免评"]


def id_number(seq: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=seq * 11)
    first17 = f"320583{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + id_number_check_char(first17)


def build_town(database: Database) -> None:
    """The demo town's shape: 268 branches, 836 organisations, and 300 of the 1,192
    members already on record (50 of them with an old phone number)."""
    with database.transaction() as session:
        session.execute(
            insert(Branch),
            [
                {
                    "id": b,
                    "code": f"B{b:03d}",
                    "name": f"第{b}党支部",
                    "kind": BranchKind.JOINT if b % 10 == 0 else BranchKind.SINGLE,
                }
                for b in range(1, BRANCHES + 1)
            ],
        )
        session.execute(
            insert(Organisation),
            [
                {
                    "id": o,
                    "branch_id": (o - 1) % BRANCHES + 1,
                    "name": f"第{o}号企业",
                    "kind": OrganisationKind.ENTERPRISE,
                    "business_status": "operating",
                    "employee_count": 50,
                    "owner_name": "业主",
                }
                for o in range(1, ORGANISATIONS + 1)
            ],
        )
        rows = roster_rows()[:PRESENT]
        session.execute(
            insert(Member),
            [
                {
                    "code": row[0],
                    "name": row[1],
                    "id_number": row[2],
                    "phone": "13900000000" if index < 50 else row[3],
                    "branch_id": int(row[4][1:]),
                    "organisation_id": _org_id(row[5]),
                    "status": MemberStatus.FULL if row[6] == "正式党员" else _status(row[6]),
                    "joined_party_on": date.fromisoformat(row[7]),
                    "active": True,
                }
                for index, row in enumerate(rows)
            ],
        )


def _org_id(name: str) -> int | None:
    return int(name[1:-3]) if name else None


def _status(text: str) -> MemberStatus:
    return {
        "预备党员": MemberStatus.PROBATIONARY,
        "流动党员": MemberStatus.MOBILE,
        "免评": MemberStatus.EXEMPT,
    }.get(text, MemberStatus.FULL)


def roster_rows() -> list[list[str]]:
    rng = random.Random(2013)
    rows = []
    for seq in range(1, MEMBERS + 1):
        org = rng.randint(1, ORGANISATIONS)
        branch = (org - 1) % BRANCHES + 1
        rows.append(
            [
                f"M{seq:04d}",
                f"党员{seq}",
                id_number(seq),
                f"13{rng.randint(0, 999_999_999):09d}",
                f"B{branch:03d}",
                f"第{org}号企业" if seq % 7 else "",
                rng.choice(STATUSES),
                (date(1990, 1, 1) + timedelta(days=rng.randint(0, 12_000))).isoformat(),
            ]
        )
    return rows


def to_csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode()


def to_xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# Spreadsheet rows: header is row 1, so roster_rows()[i] is on row i + 2.
def with_five_errors(rows: list[list[str]]) -> list[list[str]]:
    rows = [list(row) for row in rows]
    rows[99][4] = "B999"  # row 101: unknown branch
    rows[303][2] = rows[10][2]  # row 305: the ID number of row 12
    rows[510][7] = "2013-02-30"  # row 512: no such day
    rows[775][3] = "1380013800"  # row 777: ten digits
    last = rows[998][2]  # row 1000: a mistyped check character
    rows[998][2] = last[:17] + ("0" if last[17] != "0" else "1")
    return rows


FIVE_PROBLEMS = [
    "row 101, column 党支部编号: No branch has the number B999.",
    "row 305, column 身份证号: The same ID number as row 12.",
    "row 512, column 入党日期: 2013-02-30 is not a date: write it like 2010-07-01.",
    "row 777, column 手机号: 1380013800 is not a mobile number: 11 digits starting with 1.",
    "row 1000, column 身份证号: The last character of the ID number does not match the "
    "others: check for a typo.",
]


def run(database: Database, content: bytes, *, apply: bool) -> ImportReport:
    with database.transaction(write=apply) as session:
        return import_roster(session, read_table(content), apply=apply)


def member_count(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Member)) or 0


def test_a_1192_member_roster_with_five_errors_reports_exactly_those(
    database: Database,
) -> None:
    build_town(database)
    bad = to_csv(with_five_errors(roster_rows()))

    report = run(database, bad, apply=True)  # apply asked, but a bad row stops it all

    assert [str(problem) for problem in report.problems] == FIVE_PROBLEMS
    assert [(p.row, p.column) for p in report.problems] == [
        (101, "党支部编号"),
        (305, "身份证号"),
        (512, "入党日期"),
        (777, "手机号"),
        (1000, "身份证号"),
    ]
    assert not report.applied
    assert member_count(database) == PRESENT

    good = to_csv(roster_rows())
    dry = run(database, good, apply=False)
    assert dry.ok and not dry.applied
    assert (dry.created, dry.updated, dry.unchanged) == (MEMBERS - PRESENT, 50, PRESENT - 50)
    assert member_count(database) == PRESENT  # a dry run writes nothing

    applied = run(database, good, apply=True)
    assert applied.applied
    assert (applied.created, applied.updated, applied.unchanged) == (
        MEMBERS - PRESENT,
        50,
        PRESENT - 50,
    )
    assert {change.fields for change in applied.changes if not change.created} == {("phone",)}
    assert str(applied.summary()) == "892 created, 50 updated, 250 unchanged."

    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == MEMBERS
        # Every created member has its stay in the branch, since records began.
        stays = session.scalar(select(func.count()).select_from(Membership))
        assert stays == MEMBERS - PRESENT
        member = session.scalar(select(Member).where(Member.code == "M1192"))
        assert member is not None
        row = roster_rows()[-1]
        assert (member.name, member.id_number, member.phone) == (row[1], row[2], row[3])
        assert member.joined_party_on == date.fromisoformat(row[7])

    again = run(database, good, apply=True)
    assert (again.created, again.updated, again.unchanged) == (0, 0, MEMBERS)
    assert str(again.summary()) == "0 created, 0 updated, 1192 unchanged."


def test_the_same_roster_as_xlsx_with_english_headers(database: Database) -> None:
    build_town(database)
    rows: list[list[Any]] = [list(row) for row in roster_rows()]
    for row in rows:
        row[7] = date.fromisoformat(row[7])  # a real date cell
    rows[20][3] = int(rows[20][3])  # a phone typed as a number is fine
    rows[21][2] = int(rows[21][2][:17] + "0")  # an ID number typed as a number is not
    english = [column.key for column in COLUMNS]
    report = run(database, to_xlsx(rows, english), apply=True)
    assert [str(p) for p in report.problems] == [
        "row 23, column id_number: The spreadsheet stores this ID number as a number, which "
        "loses its last digits: format the column as text and type it again."
    ]
    rows[21][2] = roster_rows()[21][2]
    report = run(database, to_xlsx(rows, english), apply=True)
    assert report.ok and report.kind == "xlsx"
    assert report.created == MEMBERS - PRESENT


def test_problems_of_every_kind(database: Database, town: SmallTown) -> None:
    with database.transaction() as session:
        member = session.get(Member, town.member_ids["member"])
        assert member is not None
        member.id_number = id_number(1)
        member2 = session.get(Member, town.member_ids["member2"])
        assert member2 is not None
        member2.id_number = id_number(3)
    rows = [
        ["M001", "张伟", id_number(1), "", "B002", "", "正式党员", ""],  # branch change
        ["N001", "新人", id_number(3), "", "B001", "", "正式党员", ""],  # someone's ID
        ["N002", "", id_number(2), "", "B001", "宝元鞋厂", "党员", "明年"],
        ["N002", "重复", "12345", "+86 138-0013-8000", "B001", "无此单位", "full", "1900-01-01"],
        ["N003", "出生日期", "320583" + "19991332" + "123X", "", "", "", "", ""],
    ]
    report = run(database, to_csv(rows), apply=False)
    assert [str(p) for p in report.problems] == [
        "row 2, column 党支部编号: Member M001 is in branch B001: a change of branch is a "
        "transfer with its effective date (jifen transfer, or the member's transfer page), "
        "not an import.",
        "row 3, column 身份证号: This ID number belongs to member M002 already.",
        "row 4, column 姓名: This field is required.",
        "row 4, column 所在单位: 宝元鞋厂 is not covered by branch B001.",
        "row 4, column 党员类别: Unknown category 党员: write 正式党员, 预备党员, 流动党员 or 免评 "
        "(or full, probationary, mobile, exempt).",
        "row 4, column 入党日期: 明年 is not a date: write it like 2010-07-01.",
        "row 5, column 党员编号: Member number N002 is already on row 4.",
        "row 5, column 身份证号: An ID number has 18 characters: 17 digits, then a digit or X.",
        "row 5, column 所在单位: No organisation is named 无此单位.",
        "row 5, column 入党日期: 1900-01-01 is not a possible date to join the Party.",
        "row 6, column 身份证号: Characters 7 to 14 of the ID number are not a date of birth.",
        "row 6, column 党支部编号: This field is required.",
        "row 6, column 党员类别: This field is required.",
    ]


def test_header_problems_stop_before_the_rows(database: Database, town: SmallTown) -> None:
    header = ["党员编号", "姓名", "手机", "手机号", "备注"]
    report = run(database, to_csv([["M9", "某", "", "", ""]], header), apply=False)
    # A column of another name is an office's own (备注): noted, not a problem.
    assert [str(note) for note in report.notes] == [
        "Columns the roster does not use were ignored: 备注."
    ]
    assert [str(p) for p in report.problems] == [
        "row 1, column 手机号: The same column as 手机.",
        "row 1, column 身份证号/id_number: This required column is missing.",
        "row 1, column 党支部编号/branch_code: This required column is missing.",
        "row 1, column 党员类别/status: This required column is missing.",
    ]


def test_a_partial_file_updates_only_its_columns_and_the_template_imports(
    database: Database, town: SmallTown
) -> None:
    with database.transaction() as session:
        member = session.get(Member, town.member_ids["member"])
        assert member is not None
        member.id_number, member.phone = id_number(1), "13700000000"
    header = ["code", "name", "id_number", "branch_code", "status"]
    report = run(
        database, to_csv([["M001", "张伟伟", id_number(1), "B001", "预备"]], header), apply=True
    )
    assert report.ok and report.updated == 1
    assert report.changes[0].fields == ("name", "status")
    with database.transaction(write=False) as session:
        member = session.get(Member, town.member_ids["member"])
        assert member is not None
        assert (member.name, member.status, member.phone) == (
            "张伟伟",
            MemberStatus.PROBATIONARY,
            "13700000000",
        )
    for content in (template_csv(), template_xlsx()):
        table = read_table(content)
        assert table.header == [column.chinese for column in COLUMNS]
        with database.transaction(write=False) as session:
            checked = import_roster(session, table, apply=False)
        # The example row is member M0001 in branch B001 (which the small town has).
        assert checked.ok and checked.created == 1, [str(p) for p in checked.problems]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (
            b"\xd0\xcf\x11\xe0rest",
            "This is an old Excel (.xls) file: save it as .xlsx or CSV first.",
        ),
        (b"PK\x03\x04broken", "This file is neither a CSV nor an XLSX file."),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "This file is neither a CSV nor an XLSX file."),
    ],
)
def test_files_that_are_no_roster(content: bytes, message: str) -> None:
    with pytest.raises(RosterFileError) as refused:
        read_table(content)
    assert str(refused.value.message) == message


def test_gb18030_csv_as_excel_saves_it_in_china(database: Database, town: SmallTown) -> None:
    text = (
        "党员编号,姓名,身份证号,党支部编号,党员类别\r\nN1,新党员,"
        + id_number(5)
        + ",B001,正式党员\r\n"
    )
    report = run(database, text.encode("gb18030"), apply=True)
    assert report.ok and report.created == 1


def test_cli_dry_run_apply_and_template(
    database: Database, town: SmallTown, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.cli import main
    from service.cli.common import CliContext

    context = CliContext(opened=database)
    runner = CliRunner()
    template = tmp_path / "template.xlsx"
    result = runner.invoke(main, ["import", "template", "--xlsx", str(template)], obj=context)
    assert result.exit_code == 0, result.output
    assert read_table(template.read_bytes()).kind == "xlsx"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(to_csv([["N1", "新党员", id_number(5), "", "B404", "", "正式党员", ""]]))
    result = runner.invoke(main, ["import", "members", str(bad), "--apply"], obj=context)
    assert result.exit_code == 1
    assert "row 2, column 党支部编号: No branch has the number B404." in result.output
    assert "nothing was written" in result.output
    good = tmp_path / "good.csv"
    good.write_bytes(to_csv([["N1", "新党员", id_number(5), "", "B001", "", "正式党员", ""]]))
    result = runner.invoke(main, ["import", "members", str(good)], obj=context)
    assert result.exit_code == 0, result.output
    assert "Dry run: 1 to create, 0 to update, 0 unchanged." in result.output
    assert member_count(database) == 6
    result = runner.invoke(main, ["import", "members", str(good), "--apply"], obj=context)
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 0 unchanged." in result.output
    assert member_count(database) == 7


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_apostrophes_in_cells_are_kept_whatever_the_delimiter(delimiter: str) -> None:
    # csv.Sniffer may take "'" for the quote character and drop it from a name.
    names = ["' onmouseover='x' y='", "O'Neil 欧'尼尔", "'single'"]
    lines = [delimiter.join(["党员编号", "姓名", "党支部编号"])]
    lines += [delimiter.join([f"M{index}", name, "B001"]) for index, name in enumerate(names)]
    table = read_table(("\r\n".join(lines) + "\r\n").encode())
    assert [cells[1] for _number, cells in table.rows] == names


FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def test_full_width_digits_are_the_same_id_number_and_phone(
    database: Database, town: SmallTown
) -> None:
    """A 身份证号 typed with a Chinese input method (full-width digits) is the same number
    as in ASCII: it is stored folded, and a member already holding it, or an earlier
    row, is found; so are mixed phone digits and a full-width member number."""
    with database.transaction() as session:
        member = session.get(Member, town.member_ids["member"])
        assert member is not None
        member.id_number = id_number(1)
    rows = [
        ["N001", "新人", id_number(1).translate(FULL_WIDTH), "", "B001", "", "正式党员", ""],
        [
            "N002",
            "全角",
            id_number(2).translate(FULL_WIDTH),
            "13８0013８000",
            "B001",
            "",
            "正式党员",
            "２０１５-07-01",
        ],
        ["Ｎ００２", "重复", id_number(2), "", "B001", "", "正式党员", ""],
    ]
    report = run(database, to_csv(rows), apply=False)
    assert [str(p) for p in report.problems] == [
        "row 2, column 身份证号: This ID number belongs to member M001 already.",
        "row 4, column 党员编号: Member number N002 is already on row 3.",
        "row 4, column 身份证号: The same ID number as row 3.",
    ]
    report = run(database, to_csv(rows[1:2]), apply=True)
    assert report.applied, [str(p) for p in report.problems]
    with database.transaction(write=False) as session:
        added = session.scalar(select(Member).where(Member.code == "N002"))
        assert added is not None
        assert (added.id_number, added.phone, added.joined_party_on) == (
            id_number(2),
            "13800138000",
            date(2015, 7, 1),
        )
    # And once stored, the ASCII spelling finds it too.
    again = run(
        database,
        to_csv([["N003", "又一个", id_number(2), "", "B001", "", "正式党员", ""]]),
        apply=False,
    )
    assert [str(p) for p in again.problems] == [
        "row 2, column 身份证号: This ID number belongs to member N002 already."
    ]
