"""The ledger check: recompute everything from scratch and report any difference.

Two promises are checked, both read-only:

1. The summary table (member × month × branch × rule) that rankings read equals the
   ledger lines it summarises: same points, same number of lines, no row without lines
   and no lines without a row.
2. The ledger equals a fresh scoring: for every member and year that has activities or
   ledger lines, the pure engine, run on the approved entries, the adjustments and the
   attendance of closed meetings (their outcomes) with the rulebook, gives exactly the
   per-activity sums the ledger holds. In other words ``reconcile_member`` would append
   nothing.

The second check calls the very functions ``reconcile_member`` uses
(``member_activities``, ``score_activities``, ``ledger_state``) rather than a bulk
re-implementation, so the check cannot drift from what reconciliation considers correct.

Published months are not re-scored (a new ruleset never rewrites them): as in
reconciliation their activities count what the ledger holds, and instead each member's
ledger sum for a published month is compared with the points stored on the published
board (its newest revision). A correction in progress re-opens its month to the
ordinary check.

3. In a published month too, what an entry's standing says and what the ledger holds
   agree: a revoked (or otherwise no longer approved) entry's lines add up to nothing,
   and every approved entry, suggestion step and adjustment dated in it has its lines.
   The published board agreeing with the ledger does not show this: a revocation that
   raced the publication can leave an entry "revoked" whose points still count on both.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Select, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from service.boards.rebuild import differences as totals_differences
from service.kernel.i18n import N_
from service.kernel.periods import period_of
from service.ledger.reconcile import LedgerState, score_members_year
from service.persistence.meetings import Meeting, MeetingAttendance, MeetingStatus
from service.persistence.models import (
    Adjustment,
    Entry,
    EntryStatus,
    LedgerLine,
    Member,
    PointsSummary,
    Publication,
    PublicationKind,
    PublishedMemberRow,
)
from service.publication.state import frozen_months
from service.scoring.engine import Scored
from service.scoring.points import from_tenths
from service.scoring.rules import Rulebook

ZERO = Decimal("0.0")
BATCH = 500  # members read together when scoring afresh


class DifferenceKind(StrEnum):
    SUMMARY_MISMATCH = "summary_mismatch"  # a summary row differs from its ledger lines
    SUMMARY_MISSING = "summary_missing"  # ledger lines that no summary row counts
    SUMMARY_ORPHAN = "summary_orphan"  # a summary row without any ledger line
    SCORE_MISMATCH = "score_mismatch"  # the ledger holds other points than a fresh scoring
    NOT_IN_LEDGER = "not_in_ledger"  # a counting activity the ledger has never recorded
    PUBLISHED_MISMATCH = "published_mismatch"  # ledger differs from the published board
    # In a published month: an activity no longer approved whose lines still count, or an
    # approved one the ledger never recorded.
    STATUS_MISMATCH = "status_mismatch"


DIFFERENCE_LABELS = {
    DifferenceKind.SUMMARY_MISMATCH: N_("Summary row differs from its ledger lines"),
    DifferenceKind.SUMMARY_MISSING: N_("Ledger lines without a summary row"),
    DifferenceKind.SUMMARY_ORPHAN: N_("Summary row without ledger lines"),
    DifferenceKind.SCORE_MISMATCH: N_("Ledger differs from a fresh scoring"),
    DifferenceKind.NOT_IN_LEDGER: N_("Activity missing from the ledger"),
    DifferenceKind.PUBLISHED_MISMATCH: N_("Ledger differs from the published board"),
    DifferenceKind.STATUS_MISMATCH: N_("Entry's standing and ledger disagree"),
}


class Remedy(StrEnum):
    """What brings a kind of difference back in line; the CLI and the ledger page say it."""

    REBUILD_TOTALS = "rebuild_totals"
    RESCORE = "rescore"
    CORRECTION = "correction"


REMEDY_OF = {
    DifferenceKind.SUMMARY_MISMATCH: Remedy.REBUILD_TOTALS,
    DifferenceKind.SUMMARY_MISSING: Remedy.REBUILD_TOTALS,
    DifferenceKind.SUMMARY_ORPHAN: Remedy.REBUILD_TOTALS,
    DifferenceKind.SCORE_MISMATCH: Remedy.RESCORE,
    DifferenceKind.NOT_IN_LEDGER: Remedy.RESCORE,
    DifferenceKind.PUBLISHED_MISMATCH: Remedy.CORRECTION,
    DifferenceKind.STATUS_MISMATCH: Remedy.CORRECTION,
}

REMEDY_LABELS = {
    Remedy.REBUILD_TOTALS: N_(
        "The summary or the board totals differ from the ledger: run `jifen ledger "
        "rebuild-totals` to rebuild them for the open months (the ledger and published "
        "boards are not touched), then verify again."
    ),
    Remedy.RESCORE: N_(
        "The ledger differs from a fresh scoring: preview the change on the rules page, "
        "then run `jifen ledger rescore`, which appends correcting lines for open months."
    ),
    Remedy.CORRECTION: N_(
        "A published month's ledger differs from its board: nothing rebuilds a published "
        "month. Find the cause in the audit log; if the board is wrong, open a correction "
        "(`jifen publish correct MONTH --reason …`)."
    ),
}


@dataclass(frozen=True)
class MemberRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Difference:
    """One place where stored numbers and recomputed numbers disagree.

    For summary differences ``rule_id`` and ``branch_id`` name the row; for scoring
    differences ``activity_key`` names the activity ("entry:42") and ``period`` is the
    month it scores in. ``expected`` is what recomputing gives, ``found`` what is stored
    (None: nothing stored, or nothing expected).
    """

    kind: DifferenceKind
    member: MemberRef
    period: str
    rule_id: str
    branch_id: int | None
    activity_key: str | None
    expected: Decimal | None
    found: Decimal | None
    expected_lines: int | None = None
    found_lines: int | None = None

    @property
    def year(self) -> int:
        return int(self.period[:4])

    @property
    def subject(self) -> str:
        """The activity key, or the summary row's rule and branch."""
        if self.activity_key is not None:
            return self.activity_key
        return f"{self.rule_id} @ branch {self.branch_id}"

    def describe(self) -> str:
        """One line of plain English for the terminal and logs."""
        member = f"member {self.member.code} {self.member.name} (id {self.member.id})"
        where = f"{self.kind.value}: {member}, {self.period}, {self.subject}"
        if self.kind is DifferenceKind.STATUS_MISMATCH:
            if self.found is None:
                return f"{where}: approved, but the ledger never recorded it"
            return f"{where}: no longer approved, but its lines still count {self.found} points"
        found = "nothing" if self.found is None else f"{self.found} points"
        expected = "nothing" if self.expected is None else f"{self.expected} points"
        if self.expected_lines is not None or self.found_lines is not None:
            found += f" in {self.found_lines or 0} lines"
            expected += f" in {self.expected_lines or 0} lines"
        return f"{where}: expected {expected}, found {found}"


@dataclass(frozen=True)
class VerifyReport:
    summary_rows: int  # points_summary rows read
    ledger_lines: int  # ledger lines summed
    ledger_groups: int  # (member, month, branch, rule) groups of those lines
    member_years: int  # member × year pairs scored afresh
    activities: int  # activities scored afresh
    differences: list[Difference] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def remedies(self) -> list[Remedy]:
        """What to do about the differences found, in the order to do it."""
        found = {REMEDY_OF[d.kind] for d in self.differences}
        return [remedy for remedy in Remedy if remedy in found]


def verify_ledger(session: Session, rulebook: Rulebook) -> VerifyReport:
    """Compare the summary table with the ledger, and the ledger with a fresh scoring.

    Reads only. Run it in a transaction of its own: on PostgreSQL it asks for a
    REPEATABLE READ snapshot (when the session has not started one yet) so an approval
    committed halfway through cannot show up as a difference; SQLite's WAL snapshot is
    already stable for the length of a read transaction.
    """
    started = time.perf_counter()
    _stable_snapshot(session)
    summary_diffs, summary_rows, ledger_lines, ledger_groups = _check_summary(session)
    frozen = frozen_months(session)
    score_diffs, member_years, activities = _check_scores(session, rulebook, frozen)
    published_diffs = _check_published(session, frozen)
    # The board totals are sums of the summary: while the summary itself differs from
    # the ledger, they would only repeat its differences.
    totals_diffs = [] if summary_diffs else _check_totals(session)
    differences = _with_members(
        session, [*summary_diffs, *score_diffs, *published_diffs, *totals_diffs]
    )
    differences.sort(
        key=lambda d: (d.member.code, d.period, d.kind.value, d.rule_id, d.activity_key or "")
    )
    return VerifyReport(
        summary_rows=summary_rows,
        ledger_lines=ledger_lines,
        ledger_groups=ledger_groups,
        member_years=member_years,
        activities=activities,
        differences=differences,
        seconds=time.perf_counter() - started,
    )


def _stable_snapshot(session: Session) -> None:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or session.in_transaction():
        return
    if isinstance(bind, Connection) and bind.in_transaction():
        # The session joins a transaction already begun on its connection (the tests'
        # rolled-back one): its isolation can no longer change, and its reads are one
        # snapshot for the checks that matter here only when other writers run.
        return
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


# The ledger summed per summary key, against the summary: only the rows that differ come
# back (the database does the comparing; a city has millions of rows on each side).
_LEDGER_GROUPS = (
    "SELECT member_id, period, branch_id, rule_id, SUM(points) AS points, COUNT(*) AS lines "
    "FROM ledger_line GROUP BY member_id, period, branch_id, rule_id"
)
_SUMMARY_CHECK = f"""
    SELECT l.member_id, l.period, l.branch_id, l.rule_id, l.points, l.lines,
           s.points AS stored, s.line_count AS stored_lines
    FROM ({_LEDGER_GROUPS}) l
    LEFT JOIN points_summary s ON s.member_id = l.member_id AND s.period = l.period
        AND s.branch_id = l.branch_id AND s.rule_id = l.rule_id
    WHERE s.member_id IS NULL OR s.points <> l.points OR s.line_count <> l.lines
    UNION ALL
    SELECT s.member_id, s.period, s.branch_id, s.rule_id, NULL, NULL, s.points, s.line_count
    FROM points_summary s
    WHERE NOT EXISTS (
        SELECT 1 FROM ledger_line x WHERE x.member_id = s.member_id AND x.period = s.period
            AND x.branch_id = s.branch_id AND x.rule_id = s.rule_id
    )
"""  # noqa: S608 - no input


def _check_summary(session: Session) -> tuple[list[Difference], int, int, int]:
    pending: list[Difference] = []
    missing = orphans = 0
    for row in session.execute(text(_SUMMARY_CHECK)):
        expected = None if row.points is None else (from_tenths(row.points), int(row.lines))
        found = None if row.stored is None else (from_tenths(row.stored), int(row.stored_lines))
        if found is None:
            kind = DifferenceKind.SUMMARY_MISSING
            missing += 1
        elif expected is None:
            kind = DifferenceKind.SUMMARY_ORPHAN
            orphans += 1
        else:
            kind = DifferenceKind.SUMMARY_MISMATCH
        pending.append(
            Difference(
                kind=kind,
                member=_unnamed(row.member_id),
                period=row.period,
                rule_id=row.rule_id,
                branch_id=row.branch_id,
                activity_key=None,
                expected=expected[0] if expected is not None else None,
                found=found[0] if found is not None else None,
                expected_lines=expected[1] if expected is not None else None,
                found_lines=found[1] if found is not None else None,
            )
        )
    pending.sort(key=lambda d: (d.member.id, d.period, d.branch_id or 0, d.rule_id))
    summary_rows = session.scalar(select(func.count()).select_from(PointsSummary)) or 0
    line_total = session.scalar(select(func.count()).select_from(LedgerLine)) or 0
    groups = summary_rows - orphans + missing
    return pending, summary_rows, line_total, groups


def member_years(session: Session, years: Iterable[int] | None = None) -> list[tuple[int, int]]:
    """Every (member, year) with approved activity, an adjustment, attendance at a closed
    meeting or ledger lines.

    Ledger lines count on their own: a revoked entry has no approved activity left, but
    its lines must still be checked (and reversed) for the year they sit in.
    """
    wanted = set(years) if years is not None else None
    pairs: set[tuple[int, int]] = set()

    def add(rows: Iterable[tuple[int, str]]) -> None:
        for member_id, period in rows:
            year = int(period[:4])
            if wanted is None or year in wanted:
                pairs.add((member_id, year))

    def pairs_of(query: Select[int, str]) -> Iterator[tuple[int, str]]:
        for row in session.execute(query):
            yield row[0], row[1]

    approved = Entry.status == EntryStatus.APPROVED
    add(pairs_of(select(LedgerLine.member_id, LedgerLine.period).distinct()))
    add(pairs_of(select(Entry.member_id, Entry.period).where(approved).distinct()))
    add(pairs_of(select(Adjustment.member_id, Adjustment.period).distinct()))
    add(
        pairs_of(
            select(MeetingAttendance.member_id, Meeting.period)
            .join(Meeting, Meeting.id == MeetingAttendance.meeting_id)
            .where(Meeting.status == MeetingStatus.CLOSED, MeetingAttendance.outcome.is_not(None))
            .distinct()
        )
    )
    # Suggestion steps score in the month they happened, which may be a later year.
    for column in (Entry.adopted_on, Entry.implemented_on):
        rows = session.execute(
            select(Entry.member_id, column).where(approved, column.is_not(None)).distinct()
        )
        add((row[0], period_of(row[1])) for row in rows if row[1] is not None)
    return sorted(pairs)


def _check_scores(
    session: Session, rulebook: Rulebook, frozen: frozenset[str]
) -> tuple[list[Difference], int, int]:
    pending: list[Difference] = []
    pairs = member_years(session)
    activities = 0
    by_year: dict[int, list[int]] = defaultdict(list)
    for member_id, year in pairs:
        by_year[year].append(member_id)
    for year, members in sorted(by_year.items()):
        for start in range(0, len(members), BATCH):
            batch = members[start : start + BATCH]
            scored_by_member = score_members_year(session, rulebook, batch, year, frozen=frozen)
            for member_id in batch:
                activities += _compare_member(pending, member_id, *scored_by_member[member_id])
    return pending, len(pairs), activities


def _compare_member(
    pending: list[Difference],
    member_id: int,
    scored_list: list[Scored],
    held: dict[str, LedgerState],
    given: dict[str, Decimal],
) -> int:
    """Add where the ledger differs from a fresh scoring; returns the activities scored."""
    scored = {s.activity.key: s for s in scored_list}
    expected: Decimal | None
    found: Decimal | None
    for key in sorted(scored.keys() | held.keys()):
        fresh = scored.get(key)
        state = held.get(key)
        if key in given:
            # Published: its points are checked against the stored board instead; here
            # only whether they count at all agrees with the activity's standing.
            if fresh is None and state is not None and state.points != ZERO:
                kind, expected, found = DifferenceKind.STATUS_MISMATCH, ZERO, state.points
            elif fresh is not None and state is None:
                kind, expected, found = DifferenceKind.STATUS_MISMATCH, None, None
            else:
                continue
        elif state is None:
            # reconcile_member would write an award line, even one of 0 points.
            assert fresh is not None
            kind, expected, found = DifferenceKind.NOT_IN_LEDGER, fresh.counted, None
        else:
            expected = fresh.counted if fresh is not None else ZERO
            if expected == state.points:
                continue
            kind, found = DifferenceKind.SCORE_MISMATCH, state.points
        if fresh is not None:
            day, rule_id, branch_id = (
                fresh.activity.day,
                fresh.activity.rule_id,
                fresh.activity.branch_id,
            )
        else:
            assert state is not None
            day, rule_id, branch_id = state.day, state.rule_id, state.branch_id
        pending.append(
            Difference(
                kind=kind,
                member=_unnamed(member_id),
                period=period_of(day),
                rule_id=rule_id,
                branch_id=branch_id,
                activity_key=key,
                expected=expected,
                found=found,
            )
        )
    return len(scored)


def _check_published(session: Session, frozen: frozenset[str]) -> list[Difference]:
    """Each member's ledger sum in a frozen month against the newest published board."""
    pending: list[Difference] = []
    if not frozen:
        return pending
    newest = {
        row[0]: row[1]
        for row in session.execute(
            select(Publication.period, func.max(Publication.id))
            .where(
                Publication.kind == PublicationKind.MONTH, Publication.period.in_(sorted(frozen))
            )
            .group_by(Publication.period)
        )
    }
    for period in sorted(frozen):
        publication_id = newest[period]
        published = {
            row[0]: row[1]
            for row in session.execute(
                select(PublishedMemberRow.member_id, PublishedMemberRow.points).where(
                    PublishedMemberRow.publication_id == publication_id
                )
            )
        }
        ledger = {
            row[0]: row[1]
            for row in session.execute(
                select(LedgerLine.member_id, func.sum(LedgerLine.points))
                .where(LedgerLine.period == period)
                .group_by(LedgerLine.member_id)
            )
        }
        for member_id in sorted(published.keys() | ledger.keys()):
            found = ledger.get(member_id) or ZERO
            expected = published.get(member_id) or ZERO
            if found == expected:
                continue
            pending.append(
                Difference(
                    kind=DifferenceKind.PUBLISHED_MISMATCH,
                    member=_unnamed(member_id),
                    period=period,
                    rule_id="",
                    branch_id=None,
                    activity_key=f"publication:{publication_id}",
                    expected=expected,
                    found=found,
                )
            )
    return pending


def _check_totals(session: Session) -> list[Difference]:
    """The board tables the live boards read (service.boards.totals) against a recomputation
    from the summary, the entries and the roster. Reported as summary differences: the
    subject names the table and the row."""
    pending: list[Difference] = []
    for item in totals_differences(session):
        if item.expected is None:
            kind = DifferenceKind.SUMMARY_ORPHAN
        elif item.found is None:
            kind = DifferenceKind.SUMMARY_MISSING
        else:
            kind = DifferenceKind.SUMMARY_MISMATCH
        pending.append(
            Difference(
                kind=kind,
                member=_unnamed(item.member_id or 0),
                period=str(item.key[0]) if isinstance(item.key[0], str) else "",
                rule_id=f"board totals: {item.table} {item.key}",
                branch_id=item.branch_id,
                activity_key=None,
                expected=_first_number(item.expected),
                found=_first_number(item.found),
            )
        )
    return pending


def _first_number(values: tuple[object, ...] | None) -> Decimal | None:
    if values is None:
        return None
    number = next((v for v in values if isinstance(v, int) and not isinstance(v, bool)), 0)
    return Decimal(number)


def _unnamed(member_id: int) -> MemberRef:
    # Code and name are filled in afterwards by _with_members, one query for all.
    return MemberRef(member_id, "", "")


def _with_members(session: Session, pending: list[Difference]) -> list[Difference]:
    if not pending:
        return []
    ids = sorted({item.member.id for item in pending})
    members = {
        row.id: MemberRef(row.id, row.code, row.name)
        for row in session.execute(
            select(Member.id, Member.code, Member.name).where(Member.id.in_(ids))
        )
    }
    # A ledger line's member always exists (foreign key); "?" only guards the report.
    return [
        replace(item, member=members.get(item.member.id, MemberRef(item.member.id, "?", "?")))
        for item in pending
    ]
