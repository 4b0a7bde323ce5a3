"""Hostile roster files: a few kilobytes that declare a sheet of billions of cells, a CSV
header of millions of columns, a workbook that unpacks to gigabytes, a file of nothing
but bad rows. Each is refused (or read) at once, in bounded memory, with a message that
names the limit; nothing reaches the database.

Memory is measured with tracemalloc around the whole request, through the real app.
"""

from __future__ import annotations

import html
import io
import re
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from service.people.fields import id_number_check_char
from service.people.roster_file import MAX_COLUMNS, RosterFileError, read_table
from service.people.roster_import import MAX_PROBLEMS
from service.persistence.db import Database
from service.persistence.models import Member
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
# The old reader built 656 MB for the first sheet below and ran out of memory on the
# second; a roster of a few rows needs a megabyte or two.
MEMORY_LIMIT = 50 * 1024 * 1024
HEADER = ["党员编号", "姓名", "身份证号", "党支部编号", "党员类别"]


def id_number(seq: int) -> str:
    first17 = f"32058319900101{seq:03d}"
    return first17 + id_number_check_char(first17)


def xlsx(
    cells: list[tuple[str, str]], dimension: str, padding: int = 0, part: str = "sheet1"
) -> bytes:
    """A workbook written by hand: inline-string ``cells`` ("B2", text) on one sheet
    that declares ``dimension``; ``padding`` bytes of XML comment inflate the sheet
    (``part`` "sheet1") or a shared strings part ("sharedStrings") when unpacked (they
    compress to almost nothing)."""
    rows: dict[int, list[tuple[str, str]]] = {}
    for ref, text in cells:
        rows.setdefault(int(re.sub(r"[A-Z]+", "", ref)), []).append((ref, text))
    sheet = io.StringIO()
    sheet.write(
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>'
    )
    for number in sorted(rows):
        sheet.write(f'<row r="{number}">')
        for ref, text in rows[number]:
            sheet.write(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>')
        sheet.write("</row>")
    sheet.write("</sheetData></worksheet>")
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    package = "http://schemas.openxmlformats.org/package/2006"
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{package}/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{package}/relationships">'
        f'<Relationship Id="rId1" Type="{office}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{office}"><sheets>'
        '<sheet name="名册" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{package}/relationships">'
        f'<Relationship Id="rId1" Type="{office}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", sheet.getvalue())
        name = "xl/worksheets/sheet1.xml" if part == "sheet1" else f"xl/{part}.xml"
        with archive.open(f"{name}.padding" if part == "sheet1" else name, "w") as padded:
            chunk = b"<!--" + b" " * (1024 * 1024 - 7) + b"-->"
            for _ in range(padding // len(chunk)):
                padded.write(chunk)
    return buffer.getvalue()


def roster_cells(members: int) -> list[tuple[str, str]]:
    cells = [(f"{column}1", name) for column, name in zip("ABCDE", HEADER, strict=True)]
    for index in range(members):
        row = index + 2
        values = [f"N{index:03d}", "新党员", id_number(index), "B001", "正式党员"]
        cells += [(f"{column}{row}", value) for column, value in zip("ABCDE", values, strict=True)]
    return cells


@contextmanager
def peak_memory() -> Iterator[Callable[[], int]]:
    """The peak of Python allocations inside the block, in bytes."""
    tracemalloc.start()
    peak = 0
    try:
        yield lambda: peak
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.fixture
def admin(town: SmallTown, make_browser: Any) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login("admin")
    return browser


def upload(browser: Browser, content: bytes, name: str) -> tuple[Any, int]:
    """The answer to uploading ``content`` and the peak memory it took."""
    token = browser.csrf_token("/admin/import")
    with peak_memory() as peak:
        response = browser.client.post(
            "/admin/import",
            files={"roster": (name, content, "application/octet-stream")},
            data={"_csrf_token": token},
        )
    return response, peak()


def members(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Member)) or 0


@pytest.mark.parametrize("stray", ["XFD5000", "A1048576", "XFD1048576"])
def test_a_stray_far_cell_does_not_blow_up_the_import(
    admin: Browser, database: Database, stray: str
) -> None:
    # Two members and one stray cell far away: the sheet declares 82 million cells
    # (XFD5000) or 17 billion (XFD1048576).
    content = xlsx([*roster_cells(2), (stray, "x")], f"A1:{stray}")
    assert len(content) < 5 * 1024
    response, peak = upload(admin, content, "roster.xlsx")
    assert response.status_code == 200, html.unescape(response.text)[-3000:]
    assert "Dry run: 2 to create, 0 to update, 0 unchanged." in html.unescape(response.text)
    assert peak < MEMORY_LIMIT, f"{peak / 1e6:.0f} MB"
    assert members(database) == 6


def test_a_csv_header_of_two_and_a_half_million_columns_is_refused(
    admin: Browser, database: Database
) -> None:
    content = ",".join(HEADER).encode() + b",x" * 2_500_000 + "\r\nN1,新党员\r\n".encode()
    response, peak = upload(admin, content, "roster.csv")
    assert response.status_code == 422
    assert (
        "Line 1 of the CSV file is longer than 65,536 characters; a roster's rows are far "
        "shorter." in html.unescape(response.text)
    )
    assert peak < MEMORY_LIMIT, f"{peak / 1e6:.0f} MB"
    assert members(database) == 6


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_header_wider_than_the_limit_is_refused_with_the_limit(admin: Browser, kind: str) -> None:
    header = [*HEADER, *(f"备注{index}" for index in range(MAX_COLUMNS))]
    if kind == "csv":
        content = (",".join(header) + "\r\n").encode()
    else:
        letters = [_column_letter(index) for index in range(1, len(header) + 1)]
        cells = [(f"{letter}1", name) for letter, name in zip(letters, header, strict=True)]
        content = xlsx(cells, f"A1:{letters[-1]}1")
    response, _peak = upload(admin, content, f"roster.{kind}")
    assert response.status_code == 422
    assert (
        "Row 1 has more than 64 columns; a roster has 8 (the template shows them)."
        in html.unescape(response.text)
    )


def _column_letter(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@pytest.mark.parametrize(
    ("part", "padding", "limit"),
    [("sheet1", 101, 100), ("sharedStrings", 17, 16)],
)
def test_a_workbook_that_unpacks_past_the_limit_is_refused_unread(
    admin: Browser, part: str, padding: int, limit: int
) -> None:
    # The sheet is streamed, so it may be larger than the shared strings, read whole.
    content = xlsx(roster_cells(1), "A1:E2", padding=padding * 1024 * 1024, part=part)
    assert len(content) < 5 * 1024 * 1024
    response, peak = upload(admin, content, "roster.xlsx")
    assert response.status_code == 422
    assert f"The XLSX file unpacks to more than {limit} MB" in html.unescape(response.text)
    assert peak < MEMORY_LIMIT, f"{peak / 1e6:.0f} MB"


def test_a_file_of_bad_rows_keeps_the_first_problems_and_counts_them_all(
    admin: Browser, database: Database
) -> None:
    # 1,500 rows, two problems each: 3,000 problems; the page lists 200.
    lines = [",".join(HEADER)] + [f"N{index},新党员,123,B404,正式党员" for index in range(1500)]
    response, _peak = upload(admin, ("\r\n".join(lines) + "\r\n").encode(), "roster.csv")
    text = html.unescape(response.text)
    assert response.status_code == 422
    assert "3000 problems; nothing was saved." in text
    assert text.count("<li>row ") == 200
    assert "… and 2800 more. Correct these first and check the file again." in text
    assert members(database) == 6


def test_the_report_keeps_at_most_max_problems(database: Database, town: SmallTown) -> None:
    from service.people.roster_import import import_roster

    lines = [",".join(HEADER)] + [f"N{index},新党员,123,B404,正式党员" for index in range(1500)]
    table = read_table(("\r\n".join(lines) + "\r\n").encode())
    with database.transaction(write=False) as session:
        report = import_roster(session, table, apply=False)
    assert report.problem_count == 3000
    assert len(report.problems) == MAX_PROBLEMS
    assert report.more_problems == 3000 - MAX_PROBLEMS
    assert not report.ok


def test_rows_after_a_thousand_empty_ones_end_the_roster() -> None:
    lines = [",".join(HEADER), "N1,新党员,x,B001,正式党员", *([""] * 1000), "N2,x,x,B001,x"]
    table = read_table(("\r\n".join(lines) + "\r\n").encode())
    assert [number for number, _cells in table.rows] == [2]


def test_the_cli_refuses_a_hostile_file_with_its_name_and_the_limit(
    database: Database, town: SmallTown, tmp_path: Path
) -> None:
    from service.cli import main
    from service.cli.common import CliContext

    wide = tmp_path / "wide.csv"
    wide.write_bytes(b"," * 2_500_000 + b"\r\n")
    with peak_memory() as peak:
        result = CliRunner().invoke(
            main, ["import", "members", str(wide)], obj=CliContext(opened=database)
        )
    assert result.exit_code == 1
    assert f"{wide}: Line 1 of the CSV file is longer than 65,536 characters" in result.output
    assert peak() < MEMORY_LIMIT
    with pytest.raises(RosterFileError):
        read_table(wide.read_bytes())
