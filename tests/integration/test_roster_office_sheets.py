"""An office's own roster (党员花名册) imports as it is: a title and a 填报单位 line above
the column names, columns of its own (序号, 性别, 学历, 备注), the branch by its name,
a 合计 line and a signature line below, GBK from Excel on Windows or an XLSX workbook
with merged cells. What is skipped is said; row numbers are the file's own."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from sqlalchemy import select

from service.people.fields import id_number_check_char
from service.people.roster_file import RosterFileError, read_table
from service.people.roster_import import ImportReport, import_roster
from service.persistence.db import Database
from service.persistence.models import Branch, BranchKind, Member, MemberStatus
from tests.conftest import SmallTown

OFFICE_ROSTER = Path(__file__).parents[1] / "fixtures" / "rosters" / "office-roster-gbk.csv"

OFFICE_NOTES = [
    "Rows above the column names (row 3) were skipped: 1 “青溪镇非公企业党员花名册”, "
    "2 “填报单位：青溪镇党委 填报日期：2026年11月30日”.",
    "Columns the roster does not use were ignored: 序号, 性别, 出生日期, 学历, "
    "工作单位及职务, 备注.",
    "Total and footer lines were skipped: 14 “合计 8人”, "
    "15 “填表人：王芳 审核人：李军 联系电话：0512-12345…”.",
    "Rows with nothing in the roster's columns were skipped: 12.",
]


def id_number(birth: str, seq: int) -> str:
    first17 = f"320583{birth}{seq:03d}"
    return first17 + id_number_check_char(first17)


def run(database: Database, content: bytes, *, apply: bool) -> ImportReport:
    with database.transaction(write=apply) as session:
        return import_roster(session, read_table(content), apply=apply)


def office_text() -> str:
    return OFFICE_ROSTER.read_bytes().decode("gbk")


def branches_of(database: Database, codes: list[str]) -> dict[str, tuple[str, str]]:
    with database.transaction(write=False) as session:
        rows = session.execute(
            select(Member.code, Member.name, Branch.code)
            .join(Branch, Branch.id == Member.branch_id)
            .where(Member.code.in_(codes))
        )
        return {code: (name, branch) for code, name, branch in rows}


def test_the_office_sheet_in_gbk_imports_as_it_is(database: Database, town: SmallTown) -> None:
    content = OFFICE_ROSTER.read_bytes()
    # Excel's plain "CSV" on a Chinese Windows: GBK, no BOM; not UTF-8.
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    table = read_table(content)
    assert table.header_row == 3
    assert [number for number, _cells in table.rows] == list(range(4, 12))
    assert [str(note) for note in table.notes] == OFFICE_NOTES
    report = run(database, content, apply=True)
    assert report.applied, [str(p) for p in report.problems]
    assert report.created == 8 and [str(note) for note in report.notes] == OFFICE_NOTES
    found = branches_of(database, [f"QX00{n}" for n in range(1, 9)])
    assert found["QX001"] == ("周建国", "B001")
    assert found["QX005"] == ("陈立新", "B001")
    assert found["QX006"] == ("褚秀英", "B002")
    assert found["QX008"] == ("蒋丽华", "B002")  # this row gives the number, B002
    with database.transaction(write=False) as session:
        member = session.scalar(select(Member).where(Member.code == "QX005"))
        assert member is not None
        # "139 1234 0005" and "2009年12月1日", as the office typed them.
        assert (member.phone, member.joined_party_on) == ("13912340005", date(2009, 12, 1))
        mobile = session.scalar(select(Member).where(Member.code == "QX007"))
        assert mobile is not None and mobile.status is MemberStatus.MOBILE
    # The same file again changes nothing.
    assert run(database, content, apply=False).unchanged == 8


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030", "utf-16"])
def test_the_same_sheet_in_other_encodings(
    database: Database, town: SmallTown, encoding: str
) -> None:
    report = run(database, office_text().encode(encoding), apply=False)
    assert report.ok, [str(p) for p in report.problems]
    assert report.created == 8
    assert [str(note) for note in report.notes] == OFFICE_NOTES


def test_problems_carry_the_files_own_row_numbers(database: Database, town: SmallTown) -> None:
    text = office_text()
    text = text.replace(
        ",金湾工业园区联合党支部,金湾园区管委会", ",金湾工业园联合党支部,金湾园区管委会"
    )
    text = text.replace("13912340006", "1391234000")
    text = text.replace(",B002,", ",B009,")
    report = run(database, text.encode("gbk"), apply=True)
    assert not report.applied
    assert [str(p) for p in report.problems] == [
        "row 5, column 所在党支部: No branch is named 金湾工业园联合党支部; did you mean "
        "金湾工业园区联合党支部?",
        "row 9, column 联系电话: 1391234000 is not a mobile number: 11 digits starting with 1.",
        "row 11, column 所在党支部: No branch has the number B009.",
    ]
    assert branches_of(database, ["QX001"]) == {}


def test_a_missing_column_is_named_on_the_header_row(database: Database, town: SmallTown) -> None:
    text = office_text().replace(",党员类别,", ",人员身份,")
    report = run(database, text.encode("gbk"), apply=False)
    assert [str(p) for p in report.problems] == [
        "row 3, column 党员类别/status: This required column is missing."
    ]
    assert "人员身份" in str(report.notes[1])


def test_a_branch_name_two_branches_share_once_folded_is_a_problem(
    database: Database, town: SmallTown
) -> None:
    with database.transaction() as session:
        # Full-width letters and a space: two names for the database, one once folded.
        session.add_all(
            [
                Branch(code="B101", name="ＡＢ科技党支部", kind=BranchKind.SINGLE),
                Branch(code="B102", name="AB 科技党支部", kind=BranchKind.SINGLE),
                Branch(code="B103", name="宝元鞋厂第二党支部", kind=BranchKind.SINGLE),
            ]
        )
    header = "党员编号,姓名,身份证号,党支部名称,党员类别\r\n"
    rows = [
        f"N1,甲,{id_number('19900101', 1)},AB科技党支部,正式党员",
        f"N2,乙,{id_number('19900101', 2)},　宝元鞋厂第二党支部 ,正式党员",
        f"N3,丙,{id_number('19900101', 3)},红星党支部,正式党员",
    ]
    report = run(database, (header + "\r\n".join(rows) + "\r\n").encode("gbk"), apply=False)
    assert [str(p) for p in report.problems] == [
        "row 2, column 党支部名称: AB科技党支部 names more than one branch (B101, B102): "
        "write the branch's number.",
        "row 4, column 党支部名称: No branch is named 红星党支部.",
    ]


def office_workbook(*, branch_merged: bool = True) -> bytes:
    """The office sheet as Excel keeps it: the title merged across all columns, the
    填报 line merged too, and each branch's name merged down beside its members."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    header = [
        "序号",
        "姓名",
        "性别",
        "公民身份号码",
        "手机号码",
        "所在党支部",
        "党员类别",
        "入党时间",
        "党员编号",
    ]
    sheet.append(["青溪镇非公企业党员花名册"])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.append(["填报单位：青溪镇党委", None, None, None, None, "填报日期：2026年11月30日"])
    sheet.merge_cells("A2:E2")
    sheet.append(header)
    people = [
        ("周建国", "男", "金湾工业园区联合党支部"),
        ("吴海燕", "女", None),
        ("郑志强", "男", None),
        ("褚秀英", "女", "宝元鞋厂党支部"),
        ("卫东升", "男", None),
    ]
    for index, (name, sex, branch) in enumerate(people, 1):
        sheet.append(
            [
                index,
                name,
                sex,
                id_number("19800101", index),
                f"1391234000{index}",
                branch,
                "正式党员",
                "2010-07-01",
                f"XL{index:03d}",
            ]
        )
    if branch_merged:
        sheet.merge_cells("F4:F6")
        sheet.merge_cells("F7:F8")
    sheet.append(["合计", "5人"])
    sheet.merge_cells("B9:I9")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_with_merged_title_and_branch_cells(database: Database, town: SmallTown) -> None:
    table = read_table(office_workbook())
    assert table.kind == "xlsx" and table.header_row == 3
    assert [str(note) for note in table.notes] == [
        "Rows above the column names (row 3) were skipped: 1 “青溪镇非公企业党员花名册”, "
        "2 “填报单位：青溪镇党委 填报日期：2026年11月30日”.",
        "Columns the roster does not use were ignored: 序号, 性别.",
        "Total and footer lines were skipped: 9 “合计 5人”.",
    ]
    report = run(database, office_workbook(), apply=True)
    assert report.applied, [str(p) for p in report.problems]
    found = branches_of(database, [f"XL{n:03d}" for n in range(1, 6)])
    assert {code: branch for code, (_name, branch) in found.items()} == {
        "XL001": "B001",
        "XL002": "B001",
        "XL003": "B001",
        "XL004": "B002",
        "XL005": "B002",
    }


def test_unmerged_empty_branch_cells_are_problems_on_their_rows(
    database: Database, town: SmallTown
) -> None:
    report = run(database, office_workbook(branch_merged=False), apply=False)
    assert [str(p) for p in report.problems] == [
        f"row {row}, column 所在党支部: This field is required." for row in (5, 6, 8)
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "姓名,性别\r\n张三,男\r\n".encode("gbk") + b"\x81\x20\r\n",
            "The CSV file is neither UTF-8 nor GBK/GB18030 text: open it in Excel and save it "
            "again as “CSV UTF-8” or as an .xlsx workbook.",
        ),
        (
            "青溪镇党员花名册\r\n序号,性别,学历\r\n1,男,本科\r\n".encode("gbk"),
            "None of the first 10 rows holds the column names. A roster needs the columns "
            "党员编号, 姓名, 身份证号, 党支部编号, 党员类别 (the template shows them; the branch "
            "may also be given by its name in a column 所在党支部).",
        ),
    ],
)
def test_files_that_cannot_be_read_say_why(content: bytes, message: str) -> None:
    with pytest.raises(RosterFileError) as refused:
        read_table(content)
    assert str(refused.value.message) == message


def test_the_header_is_looked_for_in_the_first_ten_rows_only() -> None:
    lines = [f"说明第{n}行" for n in range(1, 11)] + ["党员编号,姓名,身份证号", "N1,某,x"]
    with pytest.raises(RosterFileError):
        read_table(("\r\n".join(lines) + "\r\n").encode())
    table = read_table(("\r\n".join(lines[1:]) + "\r\n").encode())
    assert table.header_row == 10 and [number for number, _ in table.rows] == [11]


def test_the_cli_shows_the_notes_then_applies(
    database: Database, town: SmallTown, tmp_path: Any
) -> None:
    from service.cli import main
    from service.cli.common import CliContext

    context = CliContext(opened=database)
    runner = CliRunner()
    result = runner.invoke(main, ["import", "members", str(OFFICE_ROSTER)], obj=context)
    assert result.exit_code == 0, result.output
    for note in OFFICE_NOTES:
        assert f"office-roster-gbk.csv: {note}" in result.output
    assert "row 4: QX001 周建国: create" in result.output
    assert "Dry run: 8 to create, 0 to update, 0 unchanged." in result.output
    assert branches_of(database, ["QX001"]) == {}

    bad = tmp_path / "bad.csv"
    bad.write_bytes(office_text().replace(",宝元鞋厂党支部,", ",宝元鞋业党支部,").encode("gbk"))
    result = runner.invoke(main, ["import", "members", str(bad), "--apply"], obj=context)
    assert result.exit_code == 1
    assert (
        "row 9, column 所在党支部: No branch is named 宝元鞋业党支部; did you mean 宝元鞋厂党支部?"
        in result.output
    )
    assert "row 10, column 所在党支部" in result.output
    assert "nothing was written" in result.output

    result = runner.invoke(main, ["import", "members", str(OFFICE_ROSTER), "--apply"], obj=context)
    assert result.exit_code == 0, result.output
    assert "8 created, 0 updated, 0 unchanged." in result.output
    assert len(branches_of(database, [f"QX00{n}" for n in range(1, 9)])) == 8


@pytest.mark.parametrize("piece", [7, 300, 4096])
def test_merged_ranges_are_found_whatever_pieces_the_sheet_is_read_in(
    monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    # The sheet's XML is scanned for <mergeCell> in pieces: one cut anywhere in an
    # element must not lose it.
    from service.people import roster_file

    monkeypatch.setattr(roster_file, "MERGE_PIECE", piece)
    table = read_table(office_workbook())
    assert [cells[5] for _number, cells in table.rows] == [
        "金湾工业园区联合党支部",
        "金湾工业园区联合党支部",
        "金湾工业园区联合党支部",
        "宝元鞋厂党支部",
        "宝元鞋厂党支部",
    ]
