"""Boards as spreadsheets: CSV (UTF-8 with a BOM, so Excel reads the Chinese names) and
XLSX. The rows are the public board's: name, branch, points and rank, never a
deduction or its reason. Column headings come from the caller, already translated.

A CSV is the table alone, its first line the headings, for other programs to read; an
XLSX is for people and may open with title lines (the town, its committee, the period)
above the headings."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Font

from service.boards.board import BranchBoard, BranchMetric, MemberBoard
from service.kernel.spreadsheet import Cell, text_cell


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]  # column keys; the caller maps them to headings
    rows: tuple[tuple[Cell, ...], ...]


MEMBER_COLUMNS = ("rank", "tied", "name", "branch", "points")
MEMBER_STAR_COLUMNS = (*MEMBER_COLUMNS, "stars")
BRANCH_COLUMNS = (
    "rank",
    "tied",
    "branch",
    "kind",
    "total",
    "members",
    "per_member",
    "participants",
    "participation",
    "rank_total",
    "rank_per_member",
    "rank_participation",
)


def member_table(board: MemberBoard, stars: Mapping[int, int] | None = None) -> Table:
    """The ranked members, in board order. With ``stars`` (the year board) a stars
    column, blank below the first star."""
    rows = []
    for ranked in board.ranked:
        line = ranked.item
        row: tuple[Cell, ...] = (
            ranked.rank,
            "=" if ranked.tied else "",
            line.name,
            line.branch_name,
            line.points,
        )
        if stars is not None:
            row = (*row, stars.get(line.member_id))
        rows.append(row)
    return Table(MEMBER_STAR_COLUMNS if stars is not None else MEMBER_COLUMNS, tuple(rows))


def branch_table(board: BranchBoard, metric: str) -> Table:
    """Every branch, in the order of ``metric``, with its rank by each metric."""
    ranks = {
        name: {r.item.branch_id: r.rank for r in board.ranked_by(name)} for name in BranchMetric
    }
    rows = []
    for ranked in board.ranked_by(metric):
        line = ranked.item
        rows.append(
            (
                ranked.rank,
                "=" if ranked.tied else "",
                line.name,
                line.kind.value,
                line.total,
                line.members,
                line.per_member,
                line.participants,
                line.participation,
                ranks[BranchMetric.TOTAL][line.branch_id],
                ranks[BranchMetric.PER_MEMBER][line.branch_id],
                ranks[BranchMetric.PARTICIPATION][line.branch_id],
            )
        )
    return Table(BRANCH_COLUMNS, tuple(rows))


def to_csv(headings: Sequence[str], table: Table) -> bytes:
    """UTF-8 with a byte order mark: without it Excel guesses a local code page and the
    names come out garbled."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([text_cell(heading) for heading in headings])
    for row in table.rows:
        writer.writerow([text_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(
    headings: Sequence[str],
    table: Table,
    sheet_title: str,
    title_lines: Sequence[str] = (),
    author: str | None = None,
) -> bytes:
    """One sheet: ``title_lines`` first (the first one large; each a row of its own, kept
    as text), then a bold header row, numbers stored as numbers (points with one
    decimal, shares with two), text as text. ``author`` is the file's creator (the
    committee), which spreadsheet programs show in the document's properties."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    # Sheet names are at most 31 characters and refuse a few symbols.
    sheet.title = "".join(ch for ch in sheet_title if ch not in "[]:*?/\\")[:31] or "Board"
    if title_lines:
        workbook.properties.title = title_lines[0]
    if author:
        workbook.properties.creator = author
    for index, line in enumerate(title_lines):
        sheet.append([line])
        cell = sheet.cell(row=sheet.max_row, column=1)
        cell.data_type = "s"  # a town typed as "=..." stays a name, never a formula
        cell.font = Font(bold=True, size=14) if index == 0 else Font(bold=True)
    header_row = sheet.max_row + 1 if title_lines else 1
    sheet.append(list(headings))
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append(list(row))
        # openpyxl stores text starting with "=" as a formula: a member named
        # "=HYPERLINK(...)" would become a live link in the office's spreadsheet.
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    for column_index, key in enumerate(table.columns, start=1):
        number_format = {
            "points": "0.0",
            "total": "0.0",
            "per_member": "0.00",
            "participation": "0.0",
        }.get(key)
        if number_format is None:
            continue
        for (cell,) in sheet.iter_rows(
            min_row=header_row + 1,
            min_col=column_index,
            max_col=column_index,
            max_row=sheet.max_row,
        ):
            cell.number_format = number_format
    sheet.freeze_panes = f"A{header_row + 1}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
