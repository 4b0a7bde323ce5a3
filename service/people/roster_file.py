"""The roster file (党员名册): its columns under Chinese or English names, reading it from
CSV (UTF-8 or GBK) or XLSX, the template offered for download, and a roster written
back in the template's columns.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.utils.cell import range_boundaries

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
    Column("code", "党员编号", True, ("编号", "member_code", "党员编码")),
    Column("name", "姓名", True, ("党员姓名",)),
    Column(
        "id_number",
        "身份证号",
        True,
        ("身份证号码", "公民身份号码", "公民身份证号码", "身份证", "id"),
    ),
    Column(
        "phone",
        "手机号",
        False,
        (
            "手机",
            "手机号码",
            "联系电话",
            "联系方式",
            "电话",
            "电话号码",
            "移动电话",
            "联系手机",
            "联系电话手机",
            "mobile",
            "phone",
        ),
    ),
    # The branch by its number or by its full name: an office's own sheet names it.
    Column(
        "branch_code",
        "党支部编号",
        True,
        (
            "支部编号",
            "党支部代码",
            "支部代码",
            "所在党支部",
            "党支部",
            "党支部名称",
            "支部名称",
            "所在支部",
            "所属党支部",
            "所在党支部名称",
            "所在党组织",
            "党组织名称",
            "branch",
        ),
    ),
    Column(
        "organisation",
        "所在单位",
        False,
        ("单位", "organization", "organisation", "工作单位", "单位名称", "所在企业"),
    ),
    Column("status", "党员类别", True, ("类别", "党员状态", "党员类型", "党员身份")),
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
    # The row holding the column names (rows above it are an office's title lines).
    header_row: int = 1
    # What reading left out (title lines, footer lines, rows of no roster column), for
    # the dry run to show before the problems.
    notes: tuple[Message, ...] = ()


# The column names are looked for among this many first rows that hold anything: an
# office's sheet has a title and a 填报单位/填报日期 line above them.
HEADER_SCAN_ROWS = 10
# A row naming fewer known columns than this is not the column names.
HEADER_MIN_COLUMNS = 2
# A row whose first cell starts with one of these is a total or the signatures below a
# roster (合计: 35人; 填表人：… 审核人：…), not a member.
FOOTER = re.compile(
    r"(?:[合总小共]计|填表人|填报人|制表人|审核人|负责人|(?:填报|填表|制表)日期|说明|备注:|注:)"
)
# A skipped row is shown by its first characters.
NOTE_TEXT_CHARS = 30
# A note lists this many rows (or ranges of rows), then "…".
NOTE_ITEMS = 10
# Merged ranges of a sheet beyond this many are not a roster.
MAX_MERGED_RANGES = 10_000


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
    # UTF-16 text (Excel's "Unicode text") is full of zero bytes; it starts with a BOM.
    if b"\x00" in content[:4096] and not content.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        raise RosterFileError(Message(N_("This file is neither a CSV nor an XLSX file.")))
    return "csv"


def _blank(cells: Sequence[Any]) -> bool:
    # Most blank rows are all None (a sheet's padding): counted in C before the slow test.
    if cells.count(None) == len(cells):
        return True
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _cell_text(cell: Any) -> str:
    return "" if cell is None else str(cell).strip()


def _header_keys(cells: Sequence[Any]) -> set[str]:
    return {
        key
        for cell in cells
        if (key := HEADER_NAMES.get(normal_header(_cell_text(cell)))) is not None
    }


def _row_text(cells: Sequence[Any]) -> str:
    text = " ".join(part for cell in cells if (part := _cell_text(cell)))
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= NOTE_TEXT_CHARS else text[: NOTE_TEXT_CHARS - 1] + "…"


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:NOTE_ITEMS])
    return shown + ", …" if len(items) > NOTE_ITEMS else shown


def _rows_with_text(rows: Sequence[tuple[int, Sequence[Any]]]) -> str:
    return _listed([f"{number} “{_row_text(cells)}”" for number, cells in rows])


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 7 → "1–3, 7"."""
    items: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], 0]:
        if number == previous + 1:
            previous = number
            continue
        items.append(str(start) if start == previous else f"{start}–{previous}")
        start = previous = number
    return _listed(items)


def _footer(cells: Sequence[Any]) -> bool:
    first = next((text for cell in cells if (text := _cell_text(cell))), "")
    first = re.sub(r"\s+", "", unicodedata.normalize("NFKC", first))
    return FOOTER.match(first) is not None


def _choose_header(candidates: list[tuple[int, list[Any]]]) -> int:
    """The index among ``candidates`` (the first non-blank rows) of the row naming the
    most known columns (the first of equals)."""
    best, best_count = -1, HEADER_MIN_COLUMNS - 1
    for index, (_number, cells) in enumerate(candidates):
        count = len(_header_keys(cells))
        if count > best_count:
            best, best_count = index, count
    if best < 0:
        required = ", ".join(column.chinese for column in COLUMNS if column.required)
        raise RosterFileError(
            Message(
                N_(
                    "None of the first %(rows)s rows holds the column names. A roster "
                    "needs the columns %(columns)s (the template shows them; the branch "
                    "may also be given by its name in a column 所在党支部)."
                ),
                {"rows": HEADER_SCAN_ROWS, "columns": required},
            )
        )
    return best


class _Reader:
    """Builds the Table row by row once the column names are found."""

    def __init__(self, number: int, cells: list[Any]) -> None:
        header = [_cell_text(cell) for cell in cells]
        while header and not header[-1]:
            header.pop()
        if len(header) > MAX_COLUMNS:
            raise RosterFileError(
                Message(
                    N_(
                        "Row %(row)s has more than %(max)s columns; a roster has %(columns)s "
                        "(the template shows them)."
                    ),
                    {"row": number, "max": MAX_COLUMNS, "columns": len(COLUMNS)},
                )
            )
        self.header = header
        self.header_row = number
        self.known = [
            index for index, name in enumerate(header) if normal_header(name) in HEADER_NAMES
        ]
        self.unknown = [name for name in header if name and normal_header(name) not in HEADER_NAMES]
        self.rows: list[tuple[int, list[Any]]] = []
        self.footers: list[tuple[int, Sequence[Any]]] = []
        self.no_data: list[int] = []

    def take(self, number: int, cells: Sequence[Any]) -> None:
        # Cells right of the header belong to no column: not kept.
        kept = list(cells[: len(self.header)])
        if _footer(kept):
            self.footers.append((number, kept))
            return
        if _blank([kept[index] for index in self.known if index < len(kept)]):
            self.no_data.append(number)
            return
        self.rows.append((number, kept))
        if len(self.rows) > MAX_ROWS:
            raise RosterFileError(
                Message(
                    N_("The file has more than %(max)s rows; split it."), {"max": f"{MAX_ROWS:,}"}
                )
            )

    def table(self, kind: str, above: list[tuple[int, list[Any]]]) -> Table:
        notes: list[Message] = []
        if above:
            notes.append(
                Message(
                    N_("Rows above the column names (row %(header)s) were skipped: %(rows)s."),
                    {"header": self.header_row, "rows": _rows_with_text(above)},
                )
            )
        if self.unknown:
            notes.append(
                Message(
                    N_("Columns the roster does not use were ignored: %(columns)s."),
                    {"columns": _listed(self.unknown)},
                )
            )
        if self.footers:
            notes.append(
                Message(
                    N_("Total and footer lines were skipped: %(rows)s."),
                    {"rows": _rows_with_text(self.footers)},
                )
            )
        if self.no_data:
            notes.append(
                Message(
                    N_("Rows with nothing in the roster's columns were skipped: %(rows)s."),
                    {"rows": _ranges(self.no_data)},
                )
            )
        return Table(
            header=self.header,
            rows=self.rows,
            kind=kind,
            header_row=self.header_row,
            notes=tuple(notes),
        )


def read_table(content: bytes) -> Table:
    """The header and rows of a CSV (UTF-8, with or without BOM, or GB18030 as Excel
    saves it in China) or of the first sheet of an XLSX workbook.

    The column names are the row, among the first HEADER_SCAN_ROWS rows holding
    anything, that names the most known columns; the rows above it (a title, a
    填报单位/填报日期 line) are skipped, and so are total and footer lines (合计, 填表人)
    and rows with nothing in a known column. The table's notes say what was skipped and
    which columns were ignored.

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
    candidates: list[tuple[int, list[Any]]] = []
    above: list[tuple[int, list[Any]]] = []
    reader: _Reader | None = None

    def start() -> _Reader:
        chosen = _choose_header(candidates)
        above.extend(candidates[:chosen])
        found = _Reader(*candidates[chosen])
        for number, cells in candidates[chosen + 1 :]:
            found.take(number, cells)
        return found

    empty = 0
    for number, cells in raw:
        if _blank(cells):
            empty += 1
            if empty >= EMPTY_RUN:
                break
            continue
        empty = 0
        if reader is not None:
            reader.take(number, cells)
            continue
        candidates.append((number, list(cells)))
        if len(candidates) == HEADER_SCAN_ROWS:
            reader = start()
    if reader is None:
        if not candidates:
            raise RosterFileError(Message(N_("The file is empty.")))
        reader = start()
    return reader.table(kind, above)


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


def _decode(content: bytes) -> str:
    """The text of a CSV file: UTF-8 (with or without the BOM Excel writes for "CSV
    UTF-8"), UTF-16 with its BOM (Excel's "Unicode text"), else GB18030, which reads
    the GBK (cp936) of Excel's plain "CSV" on a Chinese Windows."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError:
            pass
    else:
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                return content.decode("gb18030")
            except UnicodeDecodeError:
                pass
    raise RosterFileError(
        Message(
            N_(
                "The CSV file is neither UTF-8 nor GBK/GB18030 text: open it in Excel and "
                "save it again as “CSV UTF-8” or as an .xlsx workbook."
            )
        )
    )


def _csv_rows(content: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    text = _decode(content)
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
        merged = _merged_down(content, sheet)
        # Column index → (value, last row) of a merged range met above: a cell merged
        # down over several rows (a branch's name beside each of its members) holds its
        # value in the top cell only, and counts for every row it covers.
        carry: dict[int, tuple[Any, int]] = {}
        for number, row in enumerate(cells, 1):
            starting = merged.get(number)
            if not starting and not carry:
                yield number, row
                continue
            values = list(row)
            for first, last, last_row in starting or ():
                value = values[first] if first < len(values) else None
                for index in range(first, last + 1):
                    carry[index] = (value, last_row)
            for index, (value, last_row) in list(carry.items()):
                if last_row < number:
                    del carry[index]
                elif index < len(values) and values[index] is None:
                    values[index] = value
            yield number, values
    except RosterFileError:
        raise
    except Exception as exc:
        raise unreadable from exc
    finally:
        workbook.close()


# <mergeCell ref="A1:K1"/>, the element that lists a merged range (any namespace prefix).
MERGE_CELL = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\s+ref=\"([A-Z]{1,3}[0-9]{1,7}:[A-Z]{1,3}[0-9]{1,7})\""
)
# The sheet's XML is scanned in pieces of this size; an element is far shorter than
# MERGE_OVERLAP, the bytes kept from one piece to the next.
MERGE_PIECE = 1024 * 1024
MERGE_OVERLAP = 256


def _merged_down(content: bytes, sheet: Any) -> dict[int, list[tuple[int, int, int]]]:
    """The sheet's merged ranges that span several rows, by their first row: (first
    column index, last column index, last row), columns limited to those read. The
    read-only reader streams cells and skips the <mergeCell> list after them, so it is
    scanned for here, in pieces (the sheet may be large)."""
    path = getattr(sheet, "_worksheet_path", None)
    if not isinstance(path, str):
        return {}
    refs: list[bytes] = []
    with zipfile.ZipFile(io.BytesIO(content)) as archive, archive.open(path) as source:
        buffer = b""
        while True:
            piece = source.read(MERGE_PIECE)
            buffer += piece
            # Matches ending in the last MERGE_OVERLAP bytes wait for the next piece
            # (they may be cut), unless this was the last piece.
            limit = len(buffer) if not piece else len(buffer) - MERGE_OVERLAP
            done = 0
            for match in MERGE_CELL.finditer(buffer):
                if match.end() > limit:
                    break
                refs.append(match[1])
                done = match.end()
                if len(refs) > MAX_MERGED_RANGES:
                    raise RosterFileError(
                        Message(
                            N_(
                                "The sheet has more than %(max)s merged cell ranges; a "
                                "roster has far fewer. Unmerge the cells or save it as CSV."
                            ),
                            {"max": f"{MAX_MERGED_RANGES:,}"},
                        )
                    )
            if not piece:
                break
            # An unfinished match started within MERGE_OVERLAP bytes of the limit.
            buffer = buffer[max(done, limit - MERGE_OVERLAP, 0) :]
    ranges: dict[int, list[tuple[int, int, int]]] = {}
    for ref in refs:
        min_col, min_row, max_col, max_row = range_boundaries(ref.decode("ascii"))
        if max_row > min_row and min_col <= MAX_COLUMNS + 1:
            last = min(max_col, MAX_COLUMNS + 1) - 1
            ranges.setdefault(min_row, []).append((min_col - 1, last, max_row))
    return ranges


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
