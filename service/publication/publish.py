"""Publishing a month (公示): its live boards stored as rows, ranked as the pages show
them, chained to the publication before (service/publication/chain.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.boards.board import BranchLine, MemberLine
from service.boards.live import branch_board, member_board
from service.kernel.errors import Conflict
from service.kernel.i18n import N_, Message
from service.kernel.periods import parse_period, period_of, town_today
from service.outbox.emit import emit
from service.outbox.facts import local_minute
from service.persistence.models import (
    Publication,
    PublishedBranchRow,
    PublishedMemberRow,
)
from service.publication.chain import branch_dict, member_dict, streamed_digest
from service.publication.state import (
    DEFAULT_NOTICE_DAYS,
    DEFAULT_TIMEZONE,
    PendingBranch,
    UnclosedMeeting,
    before_rules_conflict,
    empty_month_conflict,
    first_day,
    latest_publication,
    lock_months,
    month_activity,
    pending_by_branch,
    pending_conflict,
    unclosed_conflict,
    unclosed_meetings,
)
from service.scoring.points import to_tenths
from service.scoring.ranking import competition_rank
from service.scoring.rules import Rulebook

REASON_MAX = 500


def _board_rows(session: Session, period: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The live boards of ``period`` as rows to store (ranks as the live pages show
    them; the branch rank is the rank within the member's branch on this board)."""
    town = member_board(session, period)
    # One pass groups the town board by branch; narrowing it once per branch would scan
    # every member for every branch (quadratic at city or province scale). Ranked the
    # same way as within_branch, so stored ranks equal what the branch pages show.
    by_branch: dict[int, list[MemberLine]] = defaultdict(list)
    for r in town.ranked:
        by_branch[r.item.branch_id].append(r.item)
    branch_ranks: dict[int, int] = {}
    for lines in by_branch.values():
        for ranked in competition_rank(
            lines, score=lambda line: line.points, tie_order=lambda line: line.member_code
        ):
            branch_ranks[ranked.item.member_id] = ranked.rank
    listed: list[tuple[MemberLine, int | None]] = [(r.item, r.rank) for r in town.ranked]
    listed += [(line, None) for line in town.exempt + town.unscored]
    members = [
        {
            "member_id": line.member_id,
            "member_code": line.member_code,
            "name": line.name,
            "branch_id": line.branch_id,
            "branch_name": line.branch_name,
            "points": line.points,
            "exempt": line.exempt,
            "town_rank": rank,
            "branch_rank": branch_ranks.get(line.member_id),
        }
        for line, rank in listed
    ]
    board = branch_board(session, period)
    per_member = {r.item.branch_id: r.rank for r in board.by_per_member}
    participation = {r.item.branch_id: r.rank for r in board.by_participation}
    branches = [
        {
            "branch_id": r.item.branch_id,
            "code": r.item.code,
            "name": r.item.name,
            "kind": r.item.kind,
            "total": r.item.total,
            "members": r.item.members,
            "participants": r.item.participants,
            "per_member": f"{r.item.per_member:.2f}",
            "participation": f"{r.item.participation:.1f}",
            "rank_total": r.rank,
            "rank_per_member": per_member[r.item.branch_id],
            "rank_participation": participation[r.item.branch_id],
        }
        for r in board.by_total
    ]
    return members, branches


def store_publication(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    period: str,
    *,
    now: datetime,
    revision: int,
    replaces: Publication | None,
    reason: str,
) -> Publication:
    lock_months(session)
    ruleset = rulebook.in_force(first_day(period))
    notice_days = ruleset.notice_days if ruleset else DEFAULT_NOTICE_DAYS
    published_at = now.astimezone(UTC).replace(microsecond=0)
    previous = session.scalar(select(Publication.digest).order_by(Publication.id.desc()).limit(1))
    members, branches = _board_rows(session, period)
    publication = Publication(
        period=period,
        revision=revision,
        published_at=published_at,
        published_by_id=actor.account_id,
        notice_days=notice_days,
        window_ends_at=published_at + timedelta(days=notice_days),
        ruleset_version=ruleset.version if ruleset else "",
        previous_digest=previous or "",
        replaces_id=replaces.id if replaces else None,
        reason=reason,
    )
    members.sort(key=lambda row: row["member_id"])
    branches.sort(key=lambda row: row["branch_id"])
    publication.digest = streamed_digest(
        publication,
        (member_dict(row) for row in members),
        (branch_dict(row) for row in branches),
        replaces.digest if replaces else "",
    )
    try:
        with session.begin_nested():
            session.add(publication)
    except IntegrityError as exc:
        # Only a writer that skipped the month lock can get here: the lock makes the
        # callers' "already published" checks final.
        raise already_published(period) from exc
    _tell_town(session, publication, ruleset.timezone if ruleset else DEFAULT_TIMEZONE, now)
    if session.get_bind().dialect.name == "postgresql":
        _copy_rows(session, publication.id, members, branches)
        return publication
    # One multi-row INSERT per table (executemany), not a unit-of-work object per line.
    for start in range(0, len(members), 10_000):
        session.execute(
            insert(PublishedMemberRow),
            [{**row, "publication_id": publication.id} for row in members[start : start + 10_000]],
        )
    for start in range(0, len(branches), 10_000):
        session.execute(
            insert(PublishedBranchRow),
            [{**row, "publication_id": publication.id} for row in branches[start : start + 10_000]],
        )
    return publication


def _tell_town(session: Session, publication: Publication, zone: str, now: datetime) -> None:
    """Everyone hears of a published board (and of a correction's new revision, which
    opens a window of its own), and every group robot posts it: a board is public."""
    emit(
        session,
        "board_published",
        params={
            "period": publication.period,
            "until": local_minute(publication.window_ends_at, zone),
        },
        link=f"/boards/{publication.period}",
        broadcast="town",
        robots="all",
        now=now,
    )


_MEMBER_ROW_COLUMNS = (
    "member_id", "member_code", "name", "branch_id", "branch_name", "points", "exempt",
    "town_rank", "branch_rank",
)  # fmt: skip

_BRANCH_ROW_COLUMNS = (
    "branch_id", "code", "name", "kind", "total", "members", "participants", "per_member",
    "participation", "rank_total", "rank_per_member", "rank_participation",
)  # fmt: skip


def _copy_rows(
    session: Session,
    publication_id: int,
    members: list[dict[str, Any]],
    branches: list[dict[str, Any]],
) -> None:
    """The stored lines through PostgreSQL's COPY, in the session's transaction: a
    province's two million lines in seconds rather than minutes of INSERTs."""
    raw: Any = session.connection().connection.driver_connection
    tables = (
        ("published_member_row", _MEMBER_ROW_COLUMNS, members, ("points",)),
        ("published_branch_row", _BRANCH_ROW_COLUMNS, branches, ("total",)),
    )
    for table, columns, rows, tenths in tables:
        names = ", ".join(("publication_id", *columns))
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        publication_id,
                        *(
                            to_tenths(row[c]) if c in tenths
                            else row[c].value if c == "kind"
                            else row[c]
                            for c in columns
                        ),
                    )
                )  # fmt: skip


def already_published(period: str) -> Conflict:
    return Conflict(
        Message(
            N_("%(period)s is already published; a change to it is a correction."),
            {"period": period},
        )
    )


def not_ended_conflict(period: str) -> Conflict:
    return Conflict(
        Message(
            N_(
                "%(period)s has not ended yet in the town's time zone: entries can still "
                "be dated in it. Publish it from the first day of the next month."
            ),
            {"period": period},
        )
    )


def ended(rulebook: Rulebook, period: str, now: datetime) -> bool:
    """Whether ``period`` has ended in the town's time zone (of the ruleset in force)."""
    ruleset = rulebook.in_force(first_day(period))
    timezone = ruleset.timezone if ruleset else DEFAULT_TIMEZONE
    return period < period_of(town_today(now, timezone))


def publish_month(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    period: str,
    *,
    now: datetime,
    confirm_empty: bool = False,
) -> Publication:
    """Publish ``period``'s boards for public notice and open the objection window.

    Refused (Conflict) for a month before the first ruleset (nothing in it can have
    scored), for a month that has not ended yet in the town's timezone (entries can
    still be dated in it, so its board is not complete), for a month already published
    (a change is a correction), while entries dated in it are pending (PendingEntries
    lists the branches holding them), while meetings held in it are neither closed nor
    cancelled (UnclosedMeetings lists them: their attendance would be frozen without
    points), and (EmptyMonth) for a month in which nothing
    counts unless ``confirm_empty``: its board would be zeros, frozen for good.

    The month's state is read under the month lock (``lock_months``): a second
    publication of the month waits for the first and is then refused, and every write
    of points in flight finishes before the board is read.
    """
    require_admin(actor, N_("Only the organisation office publishes boards."))
    period = parse_period(period)
    before_rules = before_rules_conflict(rulebook, period)
    if before_rules is not None:
        raise before_rules
    if not ended(rulebook, period, now):
        raise not_ended_conflict(period)
    lock_months(session)
    if latest_publication(session, period) is not None:
        raise already_published(period)
    pending = pending_by_branch(session, period)
    if pending:
        raise pending_conflict(pending, period)
    unclosed = unclosed_meetings(session, period)
    if unclosed:
        raise unclosed_conflict(unclosed, period)
    if not confirm_empty and month_activity(session, period) == 0:
        raise empty_month_conflict(period)
    return store_publication(
        session, actor, rulebook, period, now=now, revision=1, replaces=None, reason=""
    )


@dataclass(frozen=True)
class PublishPreview:
    """What publishing ``period`` now would freeze, for the office to confirm."""

    period: str
    ranked: int  # member lines with a town rank
    exempt: int  # exempt members, listed apart
    unscored: int  # active members without points, listed apart
    branches: list[BranchLine]  # by total, as the board ranks them
    total: Decimal  # the town's points in the month
    activity: int  # approved entries, steps and adjustments dated in the month
    pending: list[PendingBranch]
    unclosed: list[UnclosedMeeting]  # meetings held in the month, not closed or cancelled
    refusal: Message | None  # why the month cannot be published at all, if so

    @property
    def members(self) -> int:
        return self.ranked + self.exempt + self.unscored

    @property
    def empty(self) -> bool:
        return self.activity == 0

    @property
    def publishable(self) -> bool:
        return self.refusal is None and not self.pending and not self.unclosed


def publish_preview(
    session: Session, actor: Principal, rulebook: Rulebook, period: str, *, now: datetime
) -> PublishPreview:
    """The board ``publish_month`` would store now: its members, branches and totals,
    and whatever stands in the way. Reads only."""
    require_admin(actor, N_("Only the organisation office publishes boards."))
    period = parse_period(period)
    refusal = before_rules_conflict(rulebook, period)
    if refusal is None and not ended(rulebook, period, now):
        refusal = not_ended_conflict(period)
    if refusal is None and latest_publication(session, period) is not None:
        refusal = already_published(period)
    town = member_board(session, period)
    board = branch_board(session, period)
    lines = [r.item for r in town.ranked] + town.exempt + town.unscored
    return PublishPreview(
        period=period,
        ranked=len(town.ranked),
        exempt=len(town.exempt),
        unscored=len(town.unscored),
        branches=[r.item for r in board.by_total],
        total=sum((line.points for line in lines), Decimal("0.0")),
        activity=month_activity(session, period),
        pending=pending_by_branch(session, period),
        unclosed=unclosed_meetings(session, period),
        refusal=refusal.message if refusal is not None else None,
    )
