"""Roster import (党员名册导入) from CSV or XLSX: a dry run that reports the problems by
row and column (the first MAX_PROBLEMS, and their count), then an apply that writes
nothing unless every row is good. ``import_roster`` checks and writes in one
transaction; the web and the command apply a file through
service/people/roster_apply.py, which checks it whole and then writes it in batches.

Columns (the header row; Chinese or English names, in any order):

=================  ============  ========  ==============================================
English            中文           required  value
=================  ============  ========  ==============================================
code               党员编号        yes       the member's number, the key of the import
name               姓名           yes       up to 60 characters
id_number          身份证号        yes       18 characters, checksum checked (X allowed)
phone              手机号          no        11-digit mainland mobile number (+86 allowed)
branch_code        党支部编号      yes       a branch's number (e.g. B001) or its exact
                                           full name (所在党支部, 党支部名称)
organisation       所在单位        no        the name of an organisation the branch covers
status             党员类别        yes       正式党员 / 预备党员 / 流动党员 / 免评
                                           (or full / probationary / mobile / exempt)
joined_party_on    入党日期        no        a date: 2010-07-01, 2010/7/1, 2010年7月1日
=================  ============  ========  ==============================================

Rows are matched to members by ``code``. A new code creates a member (and its
Membership row); a known code updates the fields that differ. A column left out of the
file is not touched; an empty cell of an optional column clears the value. A different
branch for a known member is a problem, never applied: a change of branch is a transfer
(service/people/transfers.py) with its effective date. Members missing from the file are left
as they are. Re-importing the same file changes nothing.

Row numbers are the spreadsheet's, so that the office finds a row in Excel: the
column names are on the row read_table finds (row 1 of the template; row 3 of an
office's sheet with a title and a 填报单位 line above). Blank rows are skipped but keep
their numbers. Columns of other names (序号, 性别, 备注, ...) are ignored; the report's
notes say which, and which title, footer and empty lines were skipped.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.kernel.fields import folded
from service.kernel.i18n import N_, Message
from service.people.fields import (
    FILE_WORDING,
    PHONE_PATTERN,
    id_number_problem,
    normal_id_number,
    normal_phone,
)
from service.people.roster_file import COLUMNS, HEADER_NAMES, STATUS_NAMES, Table, normal_header
from service.persistence.models import Branch, Member, Membership, Organisation

# Queries with IN (...) lists are split so that neither database meets its limit of
# bound parameters on a large roster.
CHUNK = 500

EARLIEST_JOIN = date(1921, 7, 1)

PROGRESS_EVERY = 100

# A report keeps the first problems and counts the rest: a 5 MB file of bad rows has
# 400,000 of them, and nobody corrects a file from problem 1,001 on before the first.
MAX_PROBLEMS = 1_000

Progress = Callable[[int, int], None]

# Matched against the folded cell (full-width digits are ASCII by then); [0-9], not \d.
DATE_PATTERNS = (
    re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"),
    re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})"),
    re.compile(r"([0-9]{4})\.([0-9]{1,2})\.([0-9]{1,2})"),
    re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日?"),
    re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"),
)


@dataclass(frozen=True)
class Problem:
    row: int
    column: str | None  # as the header names it; None: the whole row
    message: Message

    def render(self, gettext: Callable[[str], str] = N_) -> str:
        if self.column is None:
            return Message(
                N_("row %(row)s: %(problem)s"), {"row": self.row, "problem": self.message}
            ).render(gettext)
        return Message(
            N_("row %(row)s, column %(column)s: %(problem)s"),
            {"row": self.row, "column": self.column, "problem": self.message},
        ).render(gettext)

    def __str__(self) -> str:
        return self.render()


@dataclass
class RowData:
    row: int
    values: dict[str, Any]  # column key → parsed value (only the file's columns)


@dataclass(frozen=True)
class Change:
    row: int
    code: str
    name: str
    created: bool
    fields: tuple[str, ...]  # the fields an update changes


@dataclass
class ImportReport:
    kind: str
    rows: int
    # The first MAX_PROBLEMS problems, in row order; problem_count counts them all.
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    # What reading the file left out (service/people/roster_file.py Table.notes).
    notes: tuple[Message, ...] = ()
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    applied: bool = False
    # A batched apply (service/people/roster_apply.py) stopped by a problem: the last
    # row of the batches it saved before.
    saved_through: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.problem_count

    @property
    def more_problems(self) -> int:
        """How many problems the report counts but does not keep."""
        return max(0, self.problem_count - len(self.problems))

    @property
    def created(self) -> int:
        return sum(change.created for change in self.changes)

    @property
    def updated(self) -> int:
        return sum(not change.created for change in self.changes)

    def summary(self) -> Message:
        if self.saved_through is not None and not self.applied:
            text = N_(
                "Saved up to row %(row)s: %(created)s created, %(updated)s updated, "
                "%(unchanged)s unchanged. Nothing after it was saved: correct the problems "
                "and import the same file again; the rows already saved stay as they are."
            )
            return Message(
                text,
                {
                    "row": self.saved_through,
                    "created": self.created,
                    "updated": self.updated,
                    "unchanged": self.unchanged,
                },
            )
        if self.applied:
            text = N_("%(created)s created, %(updated)s updated, %(unchanged)s unchanged.")
        else:
            text = N_(
                "Dry run: %(created)s to create, %(updated)s to update, %(unchanged)s "
                "unchanged. Nothing was written."
            )
        return Message(
            text,
            {"created": self.created, "updated": self.updated, "unchanged": self.unchanged},
        )


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _parse_date(cell: Any) -> date | None:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = folded(_text(cell))
    for pattern in DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                return None
    return None


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def branch_key(text: str) -> str:
    """A branch's number or name as compared with a cell: folded (see ``folded``), without
    any white space (an office's sheet pads or breaks a long name)."""
    return re.sub(r"\s+", "", folded(text))


@dataclass
class _Context:
    branches: dict[str, int]  # code → id
    branch_codes: dict[int, str]
    # branch_key(name) → the ids of the branches of that name (two only if the names
    # differ in width or spacing alone)
    branch_names: dict[str, list[int]]
    organisations: dict[str, tuple[int, int]]  # name → (id, branch id)
    members: dict[str, Member]  # code → member, for the codes in the file
    id_owner: dict[str, str]  # id number → member code, for the ID numbers in the file
    # A cell's branch_key → its branch id or the problem, worked out once per value
    # (a file names the same few branches on thousands of rows).
    branch_cells: dict[str, int | Message] = field(default_factory=dict)


def _context(session: Session, codes: list[str], id_numbers: list[str]) -> _Context:
    branch_rows = session.execute(select(Branch.id, Branch.code, Branch.name)).all()
    branches = {code: id_ for id_, code, _name in branch_rows}
    branch_names: dict[str, list[int]] = {}
    for id_, _code, name in branch_rows:
        branch_names.setdefault(branch_key(name), []).append(id_)
    organisations = {
        name: (id_, branch_id)
        for id_, name, branch_id in session.execute(
            select(Organisation.id, Organisation.name, Organisation.branch_id)
        )
    }
    members: dict[str, Member] = {}
    for chunk in _chunks(sorted(set(codes))):
        for member in session.scalars(select(Member).where(Member.code.in_(chunk))):
            members[member.code] = member
    id_owner: dict[str, str] = {}
    for chunk in _chunks(sorted(set(id_numbers))):
        for code, number in session.execute(
            select(Member.code, Member.id_number).where(Member.id_number.in_(chunk))
        ):
            if number is not None:
                id_owner[number] = code
    return _Context(
        branches=branches,
        branch_codes={id_: code for code, id_ in branches.items()},
        branch_names=branch_names,
        organisations=organisations,
        members=members,
        id_owner=id_owner,
    )


def _header_problems(header: list[str], header_row: int) -> tuple[list[Problem], dict[int, str]]:
    """The problems of the column names and the position of each known column. Columns
    of no known name are ignored (read_table notes them): an office's sheet has 序号,
    性别, 学历, 备注 and more besides the roster's."""
    problems: list[Problem] = []
    positions: dict[int, str] = {}
    seen: dict[str, str] = {}
    for index, name in enumerate(header):
        if not name:
            continue
        key = HEADER_NAMES.get(normal_header(name))
        if key is None:
            continue
        if key in seen:
            problems.append(
                Problem(
                    header_row,
                    name,
                    Message(N_("The same column as %(other)s."), {"other": seen[key]}),
                )
            )
        else:
            seen[key] = name
            positions[index] = key
    for column in COLUMNS:
        if column.required and column.key not in seen:
            problems.append(
                Problem(header_row, column.label, Message(N_("This required column is missing.")))
            )
    return problems, positions


@dataclass
class Checked:
    """What check_rows found: the first MAX_PROBLEMS problems and how many there are in
    all, the good rows parsed, and the header name of each column."""

    problems: list[Problem]
    problem_count: int
    rows: list[RowData]
    header_of: dict[str, str]

    def add(self, problems: list[Problem]) -> None:
        room = MAX_PROBLEMS - len(self.problems)
        if room > 0:
            self.problems.extend(problems[:room])
        self.problem_count += len(problems)


def check_rows(session: Session, table: Table, *, progress: Progress | None = None) -> Checked:
    """The problems of the file (the first MAX_PROBLEMS, and their count), the parsed
    rows and the header name of each column."""
    header_problems, positions = _header_problems(table.header, table.header_row)
    header_of = {key: table.header[index] for index, key in positions.items()}
    checked = Checked([], 0, [], header_of)
    if header_problems:
        checked.add(header_problems)
        return checked
    if not table.rows:
        row = table.header_row + 1
        checked.add([Problem(row, None, Message(N_("The file has no member rows.")))])
        return checked

    raw: list[tuple[int, dict[str, Any]]] = []
    for number, cells in table.rows:
        values = {
            key: cells[index] if index < len(cells) else None for index, key in positions.items()
        }
        raw.append((number, values))
    ctx = _context(
        session,
        [folded(_text(values.get("code"))) for _, values in raw],
        [normal_id_number(_text(values.get("id_number"))) for _, values in raw],
    )
    code_rows: dict[str, int] = {}
    id_rows: dict[str, int] = {}
    parsed = checked.rows
    total = len(raw)
    for done, (number, values) in enumerate(raw, 1):
        row_problems: list[Problem] = []

        def problem(
            key: str,
            message: Message,
            number: int = number,
            sink: list[Problem] = row_problems,
        ) -> None:
            sink.append(Problem(number, header_of[key], message))

        data = RowData(number, {})
        for column in COLUMNS:
            if column.key not in values:
                continue
            cell = values[column.key]
            text = _text(cell)
            if not text and column.required:
                problem(column.key, Message(N_("This field is required.")))
                continue
            data.values[column.key] = _check_cell(column.key, cell, text, ctx, problem)
        code = data.values.get("code")
        if code:
            if code in code_rows:
                problem(
                    "code",
                    Message(
                        N_("Member number %(code)s is already on row %(row)s."),
                        {"code": code, "row": code_rows[code]},
                    ),
                )
            else:
                code_rows[code] = number
        id_number = data.values.get("id_number")
        if id_number:
            owner = ctx.id_owner.get(id_number)
            if id_number in id_rows:
                problem(
                    "id_number",
                    Message(N_("The same ID number as row %(row)s."), {"row": id_rows[id_number]}),
                )
            elif owner is not None and owner != code:
                problem(
                    "id_number",
                    Message(
                        N_("This ID number belongs to member %(code)s already."), {"code": owner}
                    ),
                )
            id_rows.setdefault(id_number, number)
        branch_id = data.values.get("branch_code")
        organisation = data.values.get("organisation")
        if (
            branch_id is not None
            and organisation is not None
            and ctx.organisations[organisation][1] != branch_id
        ):
            problem(
                "organisation",
                Message(
                    N_("%(organisation)s is not covered by branch %(branch)s."),
                    {"organisation": organisation, "branch": ctx.branch_codes[branch_id]},
                ),
            )
        member = ctx.members.get(code) if code else None
        if member is not None and branch_id is not None and member.branch_id != branch_id:
            problem(
                "branch_code",
                Message(
                    N_(
                        "Member %(code)s is in branch %(current)s: a change of branch is a "
                        "transfer with its effective date (jifen transfer, or the member's "
                        "transfer page), not an import."
                    ),
                    {"code": code, "current": ctx.branch_codes.get(member.branch_id, "?")},
                ),
            )
        if row_problems:
            checked.add(row_problems)
        else:
            parsed.append(data)
        if progress and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total)
    return checked


def _check_cell(
    key: str, cell: Any, text: str, ctx: _Context, problem: Callable[[str, Message], None]
) -> Any:
    """The parsed value of one cell (None when empty or bad; a bad one adds a problem)."""
    if key == "code":
        text = folded(text)
        if len(text) > 32:
            problem(key, Message(N_("At most %(max)s characters."), {"max": 32}))
            return None
        return text
    if key == "name":
        if len(text) > 60:
            problem(key, Message(N_("At most %(max)s characters."), {"max": 60}))
            return None
        return text
    if key == "id_number":
        if isinstance(cell, (int, float)):
            problem(
                key,
                Message(
                    N_(
                        "The spreadsheet stores this ID number as a number, which loses its "
                        "last digits: format the column as text and type it again."
                    )
                ),
            )
            return None
        value = normal_id_number(text)
        if message := id_number_problem(value, FILE_WORDING):
            problem(key, message)
            return None
        return value
    if key == "phone":
        if not text:
            return None
        value = normal_phone(text)
        if not PHONE_PATTERN.fullmatch(value):
            problem(
                key,
                Message(
                    N_("%(value)s is not a mobile number: 11 digits starting with 1."),
                    {"value": text},
                ),
            )
            return None
        return value
    if key == "branch_code":
        found = _branch(text, ctx)
        if isinstance(found, Message):
            problem(key, found)
            return None
        return found
    if key == "organisation":
        if not text:
            return None
        if text not in ctx.organisations:
            problem(key, Message(N_("No organisation is named %(name)s."), {"name": text}))
            return None
        return text
    if key == "status":
        status = STATUS_NAMES.get(text.lower())
        if status is None:
            problem(
                key,
                Message(
                    N_(
                        "Unknown category %(value)s: write 正式党员, 预备党员, 流动党员 or 免评 "
                        "(or full, probationary, mobile, exempt)."
                    ),
                    {"value": text},
                ),
            )
        return status
    if key == "joined_party_on":
        if not text:
            return None
        day = _parse_date(cell)
        if day is None:
            problem(
                key,
                Message(N_("%(value)s is not a date: write it like 2010-07-01."), {"value": text}),
            )
        elif not EARLIEST_JOIN <= day <= date.today():
            problem(
                key,
                Message(
                    N_("%(value)s is not a possible date to join the Party."),
                    {"value": day.isoformat()},
                ),
            )
            return None
        return day
    raise AssertionError(key)


def _branch(text: str, ctx: _Context) -> int | Message:
    """The id of the branch a cell names by its number or its exact full name, or the
    problem (with the names closest to a name no branch has)."""
    cell = branch_key(text)
    known = ctx.branch_cells.get(cell)
    if known is not None:
        return known
    by_code = ctx.branches.get(cell)
    by_name = ctx.branch_names.get(cell, [])
    ids = sorted({*by_name, *([by_code] if by_code is not None else [])})
    found: int | Message
    if len(ids) == 1:
        found = ids[0]
    elif ids:
        found = Message(
            N_("%(value)s names more than one branch (%(codes)s): write the branch's number."),
            {"value": cell, "codes": ", ".join(ctx.branch_codes[id_] for id_ in ids)},
        )
    elif cell.isascii():
        found = Message(N_("No branch has the number %(code)s."), {"code": cell})
    else:
        close = difflib.get_close_matches(cell, list(ctx.branch_names), n=3, cutoff=0.6)
        if close:
            found = Message(
                N_("No branch is named %(name)s; did you mean %(close)s?"),
                {"name": cell, "close": ", ".join(close)},
            )
        else:
            found = Message(N_("No branch is named %(name)s."), {"name": cell})
    ctx.branch_cells[cell] = found
    return found


def _wanted(data: RowData, ctx_orgs: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The member fields a row sets (only for the columns the file has)."""
    wanted: dict[str, Any] = {}
    for key, value in data.values.items():
        if key == "code":
            continue
        if key == "branch_code":
            wanted["branch_id"] = value
        elif key == "organisation":
            wanted["organisation_id"] = ctx_orgs[value][0] if value else None
        else:
            wanted[key] = value
    return wanted


def import_roster(
    session: Session,
    table: Table,
    *,
    apply: bool,
    actor_id: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Check ``table`` against the database; with ``apply`` and no problem at all, create
    and update the members. A dry run (and any run with a problem) writes nothing.
    ``progress(done, total)`` is called as rows are checked and written."""
    import time

    started = time.perf_counter()
    report = ImportReport(kind=table.kind, rows=len(table.rows), notes=table.notes)
    checked = check_rows(session, table, progress=progress)
    rows = checked.rows
    report.problems = sorted(checked.problems, key=lambda p: (p.row, _column_order(p.column)))
    report.problem_count = checked.problem_count
    if checked.problem_count:
        report.seconds = time.perf_counter() - started
        return report
    organisations = {
        name: (id_, branch_id)
        for id_, name, branch_id in session.execute(
            select(Organisation.id, Organisation.name, Organisation.branch_id)
        )
    }
    existing: dict[str, Member] = {}
    for chunk in _chunks(sorted(str(row.values["code"]) for row in rows)):
        for member in session.scalars(select(Member).where(Member.code.in_(chunk))):
            existing[member.code] = member
    new_members: list[Member] = []
    for data in rows:
        code = str(data.values["code"])
        wanted = _wanted(data, organisations)
        found = existing.get(code)
        if found is None:
            report.changes.append(Change(data.row, code, wanted["name"], True, ()))
            if apply:
                new_members.append(Member(code=code, active=True, **wanted))
            continue
        changed = tuple(
            key
            for key, value in wanted.items()
            if key != "branch_id" and getattr(found, key) != value
        )
        if not changed:
            report.unchanged += 1
            continue
        report.changes.append(Change(data.row, code, found.name, False, changed))
        if apply:
            for key in changed:
                setattr(found, key, wanted[key])
    if apply:
        session.add_all(new_members)
        session.flush()
        session.add_all(
            Membership(
                member_id=member.id,
                branch_id=member.branch_id,
                from_date=None,
                to_date=None,
                note="roster import",
                created_by_id=actor_id,
            )
            for member in new_members
        )
        session.flush()
        report.applied = True
    report.seconds = time.perf_counter() - started
    return report


def _column_order(column: str | None) -> int:
    if column is None:
        return -1
    key = HEADER_NAMES.get(normal_header(column))
    keys = [c.key for c in COLUMNS]
    return keys.index(key) if key in keys else len(keys)
