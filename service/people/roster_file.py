"""The roster file (党员名册): its columns under Chinese or English names, reading it from
CSV (UTF-8 or GBK) or XLSX, the template offered for download, and a roster written
back in the template's columns.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment

from service.kernel.i18n import N_, Message
from service.persistence.models import Member, MemberStatus

# Bounds on what a roster file may hold, checked while it is read (service/people
# /roster_import.py): member rows, named columns, bytes of a file.
MAX_ROWS = 50_000
MAX_COLUMNS = 64
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_LINE_CHARS = 65_536
MAX_XLSX_UNPACKED_BYTES = 100 * 1024 * 1024
# A part read whole into memory: openpyxl holds every shared string twice, some 7 bytes
# of memory per byte of tiny strings. A roster of 50,000 members has 5 to 10 MB.
MAX_XLSX_PART_BYTES = 16 * 1024 * 1024
# Excel's last row: a hand-made sheet may number a row beyond it.
XLSX_LAST_ROW = 1_048_576
# This many empty rows in a row end the roster: a sheet pads the gap before a stray cell
# at row 1,048,576 with a million empty rows, and formatted rows below a roster are empty.
EMPTY_RUN = 1_000


@dataclass(frozen=True)
class Column:
    key: str
    chinese: str
    required: bool
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.chinese}/{self.key}"


COLUMNS: tuple[Column, ...] = (
    Column("code", "党员编号", True, ("编号", "member_code")),
    Column("name", "姓名", True, ()),
    Column("id_number", "身份证号", True, ("身份证号码", "公民身份号码", "id")),
    Column("phone", "手机号", False, ("手机", "手机号码", "联系电话", "mobile")),
    Column("branch_code", "党支部编号", True, ("支部编号", "branch")),
    Column("organisation", "所在单位", False, ("单位", "organization", "工作单位")),
    Column("status", "党员类别", True, ("类别", "党员状态")),
    Column("joined_party_on", "入党日期", False, ("入党时间", "joined_on")),
)

COLUMN_BY_KEY = {column.key: column for column in COLUMNS}


def normal_header(text: str) -> str:
    return re.sub(r"[\s_\-()（）]+", "", text.replace("\ufeff", "")).lower()


HEADER_NAMES: dict[str, str] = {
    normal_header(name): column.key
    for column in COLUMNS
    for name in (column.key, column.chinese, *column.aliases)
}

STATUS_NAMES: dict[str, MemberStatus] = {
    "正式党员": MemberStatus.FULL,
    "正式": MemberStatus.FULL,
    "full": MemberStatus.FULL,
    "预备党员": MemberStatus.PROBATIONARY,
    "预备": MemberStatus.PROBATIONARY,
    "probationary": MemberStatus.PROBATIONARY,
    "流动党员": MemberStatus.MOBILE,
    "流动": MemberStatus.MOBILE,
    "mobile": MemberStatus.MOBILE,
    "免评": MemberStatus.EXEMPT,
    "免评党员": MemberStatus.EXEMPT,
    "exempt": MemberStatus.EXEMPT,
}

STATUS_CHINESE = {
    MemberStatus.FULL: "正式党员",
    MemberStatus.PROBATIONARY: "预备党员",
    MemberStatus.MOBILE: "流动党员",
    MemberStatus.EXEMPT: "免评",
}


class RosterFileError(Exception):
    """The file cannot be read as a roster at all (not CSV or XLSX, no header, ...)."""

    def __init__(self, message: Message) -> None:
        self.message = message
        super().__init__(str(message))


@dataclass(frozen=True)
class Table:
    header: list[str]
    # (row number as the spreadsheet shows it, cell values); blank rows left out
    rows: list[tuple[int, list[Any]]]
    kind: str  # "csv" or "xlsx"


def sniff_kind(content: bytes) -> str:
    """ "xlsx" or "csv", by content: an XLSX file is a ZIP holding xl/workbook.xml."""
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                if "xl/workbook.xml" in archive.namelist():
                    return "xlsx"
        except zipfile.BadZipFile:
            pass
        raise RosterFileError(Message(N_("This file is neither a CSV nor an XLSX file.")))
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise RosterFileError(
            Message(N_("This is an old Excel (.xls) file: save it as .xlsx or CSV first."))
        )
    if b"\x00" in content[:4096]:
        raise RosterFileError(Message(N_("This file is neither a CSV nor an XLSX file.")))
    return "csv"


def _blank(cells: Sequence[Any]) -> bool:
    # Most blank rows are all None (a sheet's padding): counted in C before the slow test.
    if cells.count(None) == len(cells):
        return True
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def read_table(content: bytes) -> Table:
    """The header and rows of a CSV (UTF-8, with or without BOM, or GB18030 as Excel
    saves it in China) or of the first sheet of an XLSX workbook.

    Rows are read one at a time and refused past the limits (MAX_COLUMNS named columns,
    MAX_ROWS member rows, MAX_LINE_CHARS per CSV line, MAX_XLSX_UNPACKED_BYTES of
    unpacked XLSX): a file of a few kilobytes can declare a sheet of a million rows by
    sixteen thousand columns, and nothing that size is ever built. EMPTY_RUN empty rows
    end the roster; cells right of column MAX_COLUMNS are not read."""
    if len(content) > MAX_FILE_BYTES:
        raise RosterFileError(
            Message(
                N_("The file is larger than %(max)s MB; split it."),
                {"max": MAX_FILE_BYTES // (1024 * 1024)},
            )
        )
    if not content.strip():
        raise RosterFileError(Message(N_("The file is empty.")))
    kind = sniff_kind(content)
    raw = _xlsx_rows(content) if kind == "xlsx" else _csv_rows(content)
    header: list[str] | None = None
    rows: list[tuple[int, list[Any]]] = []
    empty = 0
    for number, cells in raw:
        if _blank(cells):
            empty += 1
            if empty >= EMPTY_RUN:
                break
            continue
        empty = 0
        if header is None:
            if number != 1:
                raise RosterFileError(
                    Message(N_("Row 1 must hold the column names; the template shows them."))
                )
            header = ["" if cell is None else str(cell).strip() for cell in cells]
            while header and not header[-1]:
                header.pop()
            if len(header) > MAX_COLUMNS:
                raise RosterFileError(
                    Message(
                        N_(
                            "Row 1 has more than %(max)s columns; a roster has %(columns)s "
                            "(the template shows them)."
                        ),
                        {"max": MAX_COLUMNS, "columns": len(COLUMNS)},
                    )
                )
            continue
        # Cells right of the header belong to no column: not kept.
        rows.append((number, list(cells[: len(header)])))
        if len(rows) > MAX_ROWS:
            raise RosterFileError(
                Message(
                    N_("The file has more than %(max)s rows; split it."), {"max": f"{MAX_ROWS:,}"}
                )
            )
    if header is None:
        raise RosterFileError(Message(N_("The file is empty.")))
    return Table(header=header, rows=rows, kind=kind)


def _bounded_lines(text: str) -> Iterator[str]:
    """The lines of ``text``, refusing one longer than MAX_LINE_CHARS: the csv module
    builds a whole record before returning it, and one line of millions of commas is
    millions of cells."""
    for number, line in enumerate(io.StringIO(text), 1):
        if len(line) > MAX_LINE_CHARS:
            raise RosterFileError(
                Message(
                    N_(
                        "Line %(line)s of the CSV file is longer than %(max)s characters; a "
                        "roster's rows are far shorter."
                    ),
                    {"line": number, "max": f"{MAX_LINE_CHARS:,}"},
                )
            )
        yield line


def _csv_rows(content: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise RosterFileError(
                Message(N_("The CSV file is neither UTF-8 nor GB18030 text."))
            ) from exc
    try:
        sniffed = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        sniffed = csv.excel
    # Only the delimiter is guessed: the sniffer may take an apostrophe in a name for a
    # quote character and silently drop it. Spreadsheets quote with '"'.
    dialect: Any = type("RosterDialect", (csv.excel,), {"delimiter": sniffed.delimiter})
    try:
        # Each record is one spreadsheet row, even when a quoted cell holds a line break.
        # Cells past MAX_COLUMNS + 1 are dropped at once (enough to see an over-wide header).
        for number, cells in enumerate(csv.reader(_bounded_lines(text), dialect), 1):
            yield number, cells[: MAX_COLUMNS + 1]
    except csv.Error as exc:
        raise RosterFileError(
            Message(N_("The CSV file cannot be read: %(error)s"), {"error": str(exc)})
        ) from exc


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    unreadable = RosterFileError(
        Message(N_("The XLSX file cannot be read: save it again from the spreadsheet."))
    )
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            # The sizes the archive declares bound what reading it unpacks (zipfile stops
            # at the declared size): a compressed sheet can hold gigabytes of XML. The
            # sheet is streamed; the other parts (the shared strings) are read whole.
            sizes = [(info.filename, info.file_size) for info in archive.infolist()]
    except zipfile.BadZipFile as exc:
        raise unreadable from exc
    unpacked = sum(size for _name, size in sizes)
    held = max((size for name, size in sizes if not name.startswith("xl/worksheets/")), default=0)
    for size, limit in ((unpacked, MAX_XLSX_UNPACKED_BYTES), (held, MAX_XLSX_PART_BYTES)):
        if size > limit:
            raise RosterFileError(
                Message(
                    N_(
                        "The XLSX file unpacks to more than %(max)s MB; a roster is far "
                        "smaller. Copy the roster's cells into a new workbook, or save it as "
                        "CSV."
                    ),
                    {"max": limit // (1024 * 1024)},
                )
            )
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:
        raise unreadable from exc
    try:
        sheet = workbook.worksheets[0]
        # Streamed, and bounded by our own limits, not the sheet's declared dimension (a
        # stray cell at XFD1048576 declares a sheet of 17 billion cells). Columns past
        # MAX_COLUMNS + 1 are never built; rows past Excel's last are never read.
        cells = sheet.iter_rows(max_row=XLSX_LAST_ROW, max_col=MAX_COLUMNS + 1, values_only=True)
        yield from enumerate(cells, 1)
    except RosterFileError:
        raise
    except Exception as exc:
        raise unreadable from exc
    finally:
        workbook.close()


TEXT_COLUMNS = frozenset({"code", "id_number", "phone", "branch_code"})

TEMPLATE_TEXT_ROWS = 2000

TEMPLATE_EXAMPLE = (
    "M0001",
    "张伟",
    "11010519491231002X",
    "13800138000",
    "B001",
    "",
    "正式党员",
    "2010-07-01",
)


def template_header() -> list[str]:
    return [column.chinese for column in COLUMNS]


def template_csv() -> bytes:
    """A CSV template: the Chinese header and one example row, UTF-8 with a BOM so that
    Excel opens it with the right characters."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(template_header())
    writer.writerow(TEMPLATE_EXAMPLE)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    """An XLSX template: header, one example row, ID number and phone columns as text."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "党员名册"
    sheet.append(template_header())
    sheet.append(list(TEMPLATE_EXAMPLE))
    for index, column in enumerate(COLUMNS, 1):
        cell = sheet.cell(row=1, column=index)
        note = f"{column.key}{' (必填 required)' if column.required else ''}"
        cell.comment = Comment(note, "jifen")
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = 22 if column.key == "id_number" else 14
        # Text format keeps 18-digit ID numbers, phone numbers and codes intact.
        if column.key in TEXT_COLUMNS:
            for row in range(2, TEMPLATE_TEXT_ROWS + 2):
                sheet.cell(row=row, column=index).number_format = "@"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_rows(members: Iterable[tuple[Member, str, str | None]]) -> list[list[str]]:
    """Rows in the template's column order for (member, branch code, organisation name)."""
    return [
        [
            member.code,
            member.name,
            member.id_number or "",
            member.phone or "",
            branch_code,
            organisation or "",
            STATUS_CHINESE[member.status],
            member.joined_party_on.isoformat() if member.joined_party_on else "",
        ]
        for member, branch_code, organisation in members
    ]
