"""Published monthly boards (公示): frozen rows, digest chain, notice window, objections
and corrections.

A month's life: ``open`` → ``published`` (the notice window runs) → ``final`` (the window
has closed). While published and not final, the office may open a correction with a
reason: the month is then ``correcting`` and entries, adjustments and suggestion steps
dated in it may change again; publishing the correction stores a new revision linked to
the one it replaces, and the month is published again (with a new notice window).

A published month is frozen everywhere else: nothing dated in it can be submitted,
approved, revoked, adjusted or stepped (``is_frozen``), and reconciling the ledger takes
its activities as givens (see ``service.scoring.engine``).

Every publication stores its board as rows and a SHA-256 digest of its canonical content
(``canonical_content``), which includes the digest of the publication stored just before
it, whatever its month: one chain over the whole history. ``verify_chain`` re-hashes
every stored board and checks each link.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.boards.board import BranchBoard, BranchLine, BranchMetric, MemberBoard, MemberLine
from service.boards.branch_pages import BranchPage
from service.boards.live import branch_board, member_board, within_branch
from service.boards.pages import PAGE_SIZE, MemberPage, code_order, page_count
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.kernel.periods import parse_period, period_of, town_today
from service.persistence.models import (
    Account,
    Branch,
    Correction,
    Entry,
    EntryStatus,
    Member,
    Objection,
    ObjectionStatus,
    Publication,
    PublishedBranchRow,
    PublishedMemberRow,
    Resolution,
)
from service.scoring.points import to_tenths
from service.scoring.ranking import Ranked, competition_rank
from service.scoring.rules import Rulebook

DEFAULT_NOTICE_DAYS = 7
DEFAULT_TIMEZONE = "Asia/Shanghai"
REASON_MAX = 500
OBJECTION_MAX = 1000
ANSWER_MAX = 2000
# Serialises publishing on PostgreSQL so two publications never take the same
# predecessor into their digest (SQLite's BEGIN IMMEDIATE already serialises writers).
CHAIN_LOCK_KEY = 4_242_001


class MonthState(StrEnum):
    OPEN = "open"  # never published: entries may still come and go
    PUBLISHED = "published"  # on public notice: objections are taken until the window ends
    CORRECTING = "correcting"  # a correction was opened: the month may change again
    FINAL = "final"  # the notice window has closed: the board stands for good


MONTH_STATE_LABELS = {
    MonthState.OPEN: N_("open"),
    MonthState.PUBLISHED: N_("published, on notice"),
    MonthState.CORRECTING: N_("correction in progress"),
    MonthState.FINAL: N_("final"),
}

RESOLUTION_LABELS = {
    Resolution.NO_CHANGE: N_("no change"),
    Resolution.CORRECTED: N_("corrected"),
}


# --- reading publications ----------------------------------------------------------------


def _latest(session: Session, period: str) -> Publication | None:
    return session.scalar(
        select(Publication)
        .where(Publication.period == period)
        .order_by(Publication.revision.desc())
        .limit(1)
    )


def _open_correction(session: Session, period: str) -> Correction | None:
    return session.scalar(
        select(Correction).where(Correction.period == period, Correction.publication_id.is_(None))
    )


def published_periods(session: Session) -> frozenset[str]:
    """Every month with a publication, corrections in progress included."""
    return frozenset(session.scalars(select(Publication.period).distinct()))


def frozen_months(session: Session) -> frozenset[str]:
    """Published months that nothing may change: every published month except those
    with a correction in progress."""
    correcting = set(
        session.scalars(select(Correction.period).where(Correction.publication_id.is_(None)))
    )
    return frozenset(published_periods(session) - correcting)


def is_frozen(session: Session, period: str) -> bool:
    if session.scalar(select(Publication.id).where(Publication.period == period).limit(1)) is None:
        return False
    return _open_correction(session, period) is None


def month_state(session: Session, period: str, now: datetime) -> MonthState:
    latest = _latest(session, period)
    if latest is None:
        return MonthState.OPEN
    if _open_correction(session, period) is not None:
        return MonthState.CORRECTING
    if now < latest.window_ends_at:
        return MonthState.PUBLISHED
    return MonthState.FINAL


# --- pending entries -----------------------------------------------------------------------


@dataclass(frozen=True)
class PendingBranch:
    branch_id: int
    name: str
    count: int


def pending_by_branch(session: Session, period: str) -> list[PendingBranch]:
    """Branches holding pending entries dated in ``period``, by name."""
    rows = session.execute(
        select(Branch.id, Branch.name, func.count(Entry.id))
        .join(Entry, Entry.branch_id == Branch.id)
        .where(Entry.period == period, Entry.status == EntryStatus.PENDING)
        .group_by(Branch.id, Branch.name)
        .order_by(Branch.name)
    )
    return [PendingBranch(row[0], row[1], row[2]) for row in rows]


def _pending_conflict(pending: list[PendingBranch], period: str) -> Conflict:
    listed = ", ".join(f"{item.name} ({item.count})" for item in pending)
    return PendingEntries(
        Message(
            N_(
                "%(period)s cannot be published while entries dated in it are pending. "
                "Branches holding them: %(branches)s."
            ),
            {"period": period, "branches": listed},
        ),
        pending,
    )


class PendingEntries(Conflict):
    """Publishing refused: these branches hold pending entries of the month."""

    def __init__(self, message: Message, branches: list[PendingBranch]) -> None:
        self.branches = branches
        super().__init__(message)


# --- canonical content and digest ----------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _fields(row: Any) -> Any:
    """Rows as attribute access: ORM rows, result rows, and the dicts publishing builds."""
    return SimpleNamespace(**row) if isinstance(row, Mapping) else row


def _member_dict(row: Any) -> dict[str, Any]:
    row = _fields(row)
    return {
        "member_id": row.member_id,
        "code": row.member_code,
        "name": row.name,
        "branch_id": row.branch_id,
        "branch_name": row.branch_name,
        "points": f"{row.points:.1f}",
        "exempt": row.exempt,
        "town_rank": row.town_rank,
        "branch_rank": row.branch_rank,
    }


def _branch_dict(row: Any) -> dict[str, Any]:
    row = _fields(row)
    return {
        "branch_id": row.branch_id,
        "code": row.code,
        "name": row.name,
        "kind": row.kind.value,
        "total": f"{row.total:.1f}",
        "members": row.members,
        "participants": row.participants,
        "per_member": row.per_member,
        "participation": row.participation,
        "rank_total": row.rank_total,
        "rank_per_member": row.rank_per_member,
        "rank_participation": row.rank_participation,
    }


def _head(publication: Publication, replaces_digest: str) -> dict[str, Any]:
    """The digested fields of a revision other than its lines."""
    return {
        "period": publication.period,
        "revision": publication.revision,
        "published_at": _iso(publication.published_at),
        "window_ends_at": _iso(publication.window_ends_at),
        "notice_days": publication.notice_days,
        "ruleset_version": publication.ruleset_version,
        "reason": publication.reason,
        "replaces": replaces_digest,
        "previous_digest": publication.previous_digest,
    }


def canonical_content(
    publication: Publication,
    members: Iterable[PublishedMemberRow],
    branches: Iterable[PublishedBranchRow],
    replaces_digest: str,
) -> str:
    """The text the digest is taken of: JSON with sorted keys, no spaces, points as
    strings with one decimal place, rows by id of member and branch."""
    content = {
        **_head(publication, replaces_digest),
        "members": [_member_dict(r) for r in sorted(members, key=lambda r: r.member_id)],
        "branches": [_branch_dict(r) for r in sorted(branches, key=lambda r: r.branch_id)],
    }
    return _dumps(content)


def digest_of(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def streamed_digest(
    publication: Publication,
    members: Iterable[dict[str, Any]],
    branches: Iterable[dict[str, Any]],
    replaces_digest: str,
) -> str:
    """``digest_of(canonical_content(...))`` without building the text: the same bytes
    fed to SHA-256 a line at a time, from row dicts (``_member_dict``, ``_branch_dict``)
    already in member and branch id order. A province's board is millions of lines."""
    head = _head(publication, replaces_digest)
    sha = hashlib.sha256()
    # Sorted keys put "branches" and "members" before every key of ``head``.
    sha.update(b'{"branches":[')
    _feed(sha, branches)
    sha.update(b'],"members":[')
    _feed(sha, members)
    sha.update(b"]," + _dumps(head)[1:].encode("utf-8"))
    return sha.hexdigest()


def _feed(sha: Any, rows: Iterable[dict[str, Any]]) -> None:
    separator = b""
    for row in rows:
        sha.update(separator + _dumps(row).encode("utf-8"))
        separator = b","


_MEMBER_COLUMNS = (
    PublishedMemberRow.member_id,
    PublishedMemberRow.member_code,
    PublishedMemberRow.name,
    PublishedMemberRow.branch_id,
    PublishedMemberRow.branch_name,
    PublishedMemberRow.points,
    PublishedMemberRow.exempt,
    PublishedMemberRow.town_rank,
    PublishedMemberRow.branch_rank,
)
_BRANCH_COLUMNS = (
    PublishedBranchRow.branch_id,
    PublishedBranchRow.code,
    PublishedBranchRow.name,
    PublishedBranchRow.kind,
    PublishedBranchRow.total,
    PublishedBranchRow.members,
    PublishedBranchRow.participants,
    PublishedBranchRow.per_member,
    PublishedBranchRow.participation,
    PublishedBranchRow.rank_total,
    PublishedBranchRow.rank_per_member,
    PublishedBranchRow.rank_participation,
)


def _stored_member_dicts(session: Session, publication_id: int) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        select(*_MEMBER_COLUMNS)
        .where(PublishedMemberRow.publication_id == publication_id)
        .order_by(PublishedMemberRow.member_id)
        .execution_options(yield_per=20_000)
    )
    for row in rows:
        yield _member_dict(row)


def _stored_branch_dicts(session: Session, publication_id: int) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        select(*_BRANCH_COLUMNS)
        .where(PublishedBranchRow.publication_id == publication_id)
        .order_by(PublishedBranchRow.branch_id)
        .execution_options(yield_per=20_000)
    )
    for row in rows:
        yield _branch_dict(row)


def _rows(
    session: Session, publication_id: int
) -> tuple[list[PublishedMemberRow], list[PublishedBranchRow]]:
    members = list(
        session.scalars(
            select(PublishedMemberRow).where(PublishedMemberRow.publication_id == publication_id)
        )
    )
    branches = list(
        session.scalars(
            select(PublishedBranchRow).where(PublishedBranchRow.publication_id == publication_id)
        )
    )
    return members, branches


def _replaces_digest(session: Session, publication: Publication) -> str:
    if publication.replaces_id is None:
        return ""
    return (
        session.scalar(select(Publication.digest).where(Publication.id == publication.replaces_id))
        or ""
    )


def _recomputed_digest(session: Session, publication: Publication) -> str:
    return streamed_digest(
        publication,
        _stored_member_dicts(session, publication.id),
        _stored_branch_dicts(session, publication.id),
        _replaces_digest(session, publication),
    )


# --- publishing ---------------------------------------------------------------------------


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def _require_admin(actor: Principal, message: str) -> None:
    if not actor.is_admin:
        raise PermissionDenied(Message(message))


def _first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


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


def _store(
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
    _lock_chain(session)
    ruleset = rulebook.in_force(_first_day(period))
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
        (_member_dict(row) for row in members),
        (_branch_dict(row) for row in branches),
        replaces.digest if replaces else "",
    )
    session.add(publication)
    session.flush()
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


def publish_month(
    session: Session, actor: Principal, rulebook: Rulebook, period: str, *, now: datetime
) -> Publication:
    """Publish ``period``'s boards for public notice and open the objection window.

    Refused (Conflict) for a month already published (a change is a correction), for a
    month that has not ended yet in the town's timezone (entries can still be dated in
    it, so its board is not complete), and while entries dated in it are pending
    (PendingEntries lists the branches holding them).
    """
    _require_admin(actor, N_("Only the organisation office publishes boards."))
    period = parse_period(period)
    if _latest(session, period) is not None:
        raise Conflict(
            Message(
                N_("%(period)s is already published; a change to it is a correction."),
                {"period": period},
            )
        )
    ruleset = rulebook.in_force(_first_day(period))
    timezone = ruleset.timezone if ruleset else DEFAULT_TIMEZONE
    current = period_of(town_today(now, timezone))
    if period >= current:
        raise Conflict(
            Message(
                N_(
                    "%(period)s has not ended yet in the town's time zone: entries can still "
                    "be dated in it. Publish it from the first day of the next month."
                ),
                {"period": period},
            )
        )
    pending = pending_by_branch(session, period)
    if pending:
        raise _pending_conflict(pending, period)
    return _store(session, actor, rulebook, period, now=now, revision=1, replaces=None, reason="")


# --- corrections ----------------------------------------------------------------------------


def open_correction(
    session: Session, actor: Principal, period: str, reason: str, *, now: datetime
) -> Correction:
    """Start correcting a published month (within its notice window): from now on
    entries, adjustments and suggestion steps dated in it may change again, until the
    correction is published."""
    _require_admin(actor, N_("Only the organisation office corrects published boards."))
    period = parse_period(period)
    reason = reason.strip()
    if not reason:
        raise InvalidInput({"reason": Message(N_("Say why the month is corrected."))})
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            {
                "reason": Message(
                    N_("Keep the reason for the correction under %(max)d characters."),
                    {"max": REASON_MAX},
                )
            }
        )
    state = month_state(session, period, now)
    if state is MonthState.OPEN:
        raise Conflict(
            Message(
                N_("%(period)s is not published; it can still change without a correction."),
                {"period": period},
            )
        )
    if state is MonthState.CORRECTING:
        raise Conflict(
            Message(N_("A correction of %(period)s is already in progress."), {"period": period})
        )
    if state is MonthState.FINAL:
        raise Conflict(
            Message(
                N_("The notice window of %(period)s has closed; the month is final."),
                {"period": period},
            )
        )
    latest = _latest(session, period)
    assert latest is not None
    correction = Correction(
        period=period,
        reason=reason,
        opened_at=now,
        opened_by_id=actor.account_id,
        replaces_id=latest.id,
    )
    session.add(correction)
    session.flush()
    return correction


def publish_correction(
    session: Session, actor: Principal, rulebook: Rulebook, period: str, *, now: datetime
) -> Publication:
    """Publish the correction in progress as the month's next revision: the board as it
    stands now, linked to the revision it replaces, with the correction's reason. The
    corrected board gets a notice window of its own."""
    _require_admin(actor, N_("Only the organisation office corrects published boards."))
    period = parse_period(period)
    correction = _open_correction(session, period)
    if correction is None:
        raise Conflict(
            Message(
                N_("No correction of %(period)s is in progress; open one first."),
                {"period": period},
            )
        )
    pending = pending_by_branch(session, period)
    if pending:
        raise _pending_conflict(pending, period)
    latest = _latest(session, period)
    assert latest is not None
    publication = _store(
        session,
        actor,
        rulebook,
        period,
        now=now,
        revision=latest.revision + 1,
        replaces=latest,
        reason=correction.reason,
    )
    correction.publication_id = publication.id
    session.flush()
    return publication


# --- boards from stored rows ----------------------------------------------------------------


def _ranked_from(items: Sequence[tuple[int, Any]]) -> list[Ranked[Any]]:
    """Ranked entries from stored ranks, in rank order; ``tied`` when a neighbour shares
    the rank (as the live ranking marks it)."""
    ranks = [rank for rank, _item in items]
    out: list[Ranked[Any]] = []
    for index, (rank, item) in enumerate(items):
        tied = (index > 0 and ranks[index - 1] == rank) or (
            index + 1 < len(items) and ranks[index + 1] == rank
        )
        out.append(Ranked(rank=rank, tied=tied, item=item))
    return out


def _member_board(period: str, rows: Iterable[Any]) -> MemberBoard:
    ranked: list[tuple[int, MemberLine]] = []
    exempt: list[MemberLine] = []
    unscored: list[MemberLine] = []
    for row in rows:
        line = MemberLine(
            member_id=row.member_id,
            member_code=row.member_code,
            name=row.name,
            branch_id=row.branch_id,
            branch_name=row.branch_name,
            points=row.points,
            exempt=row.exempt,
        )
        if row.town_rank is not None:
            ranked.append((row.town_rank, line))
        elif row.exempt:
            exempt.append(line)
        else:
            unscored.append(line)
    ranked.sort(key=lambda pair: (pair[0], pair[1].member_code))
    exempt.sort(key=lambda line: line.member_code)
    unscored.sort(key=lambda line: line.member_code)
    return MemberBoard(period=period, ranked=_ranked_from(ranked), exempt=exempt, unscored=unscored)


def _branch_board(period: str, rows: Iterable[PublishedBranchRow]) -> BranchBoard:
    lines = [
        (
            row,
            BranchLine(
                branch_id=row.branch_id,
                code=row.code,
                name=row.name,
                kind=row.kind,
                total=row.total,
                members=row.members,
                participants=row.participants,
            ),
        )
        for row in rows
    ]
    by_total = sorted(((r.rank_total, line) for r, line in lines), key=lambda p: (p[0], p[1].code))
    by_per_member = sorted(
        ((r.rank_per_member, line) for r, line in lines), key=lambda p: (p[0], p[1].code)
    )
    return BranchBoard(
        period=period, by_total=_ranked_from(by_total), by_per_member=_ranked_from(by_per_member)
    )


@dataclass(frozen=True)
class RevisionInfo:
    """One stored revision of a month, for listings."""

    publication_id: int
    period: str
    revision: int
    published_at: datetime
    published_by: str
    window_ends_at: datetime
    digest: str
    previous_digest: str
    reason: str
    replaces_revision: int | None
    ruleset_version: str
    intact: bool


@dataclass(frozen=True)
class PublishedMonth:
    """The newest revision of a month's published board, read from stored rows."""

    period: str
    publication_id: int
    revision: int  # 1 for the first publication, 2+ for corrections
    published_at: datetime
    window_ends_at: datetime  # objections are taken until then
    final: bool  # the notice window has closed
    digest: str  # SHA-256 of the canonical content, hex
    members: MemberBoard  # stored rows, never recomputed
    branches: BranchBoard
    # The stored rows hash to the digest and the link to the publication before holds.
    intact: bool = True
    correcting: bool = False  # a correction of the month is in progress
    reason: str = ""  # why this revision replaced the one before (corrections)
    revisions: tuple[RevisionInfo, ...] = ()  # every revision of the month, oldest first


def _link_holds(session: Session, publication: Publication) -> bool:
    before = session.scalar(
        select(Publication.digest)
        .where(Publication.id < publication.id)
        .order_by(Publication.id.desc())
        .limit(1)
    )
    return publication.previous_digest == (before or "")


def _intact(session: Session, publication: Publication) -> bool:
    return _recomputed_digest(session, publication) == publication.digest and _link_holds(
        session, publication
    )


def publication_intact(session: Session, publication: Publication) -> bool:
    """The stored rows still give the publication's digest and its link to the
    publication before holds (re-hashes every stored line: a city's board takes a
    second or so; the web caches the answer per revision for a while)."""
    return _intact(session, publication)


def revisions(
    session: Session,
    period: str,
    *,
    known: dict[int, bool] | None = None,
    check: Callable[[Session, Publication], bool] | None = None,
) -> list[RevisionInfo]:
    """Every revision of ``period``, oldest first, each checked against its digest
    (``known``: publication id → already checked result, not checked again; ``check``:
    how to check one, ``publication_intact`` by default)."""
    known = known or {}
    check = check or publication_intact
    rows = session.execute(
        select(Publication, Account.display_name)
        .outerjoin(Account, Account.id == Publication.published_by_id)
        .where(Publication.period == period)
        .order_by(Publication.revision)
    ).all()
    numbers = {row[0].id: row[0].revision for row in rows}
    return [
        RevisionInfo(
            publication_id=publication.id,
            period=publication.period,
            revision=publication.revision,
            published_at=publication.published_at,
            published_by=name or "",
            window_ends_at=publication.window_ends_at,
            digest=publication.digest,
            previous_digest=publication.previous_digest,
            reason=publication.reason,
            replaces_revision=numbers.get(publication.replaces_id)
            if publication.replaces_id
            else None,
            ruleset_version=publication.ruleset_version,
            intact=known[publication.id]
            if publication.id in known
            else check(session, publication),
        )
        for publication, name in rows
    ]


def _revision_of(session: Session, period: str, revision: int | None) -> Publication | None:
    """One revision of a month (default: the newest), or None."""
    query = select(Publication).where(Publication.period == period)
    if revision is None:
        query = query.order_by(Publication.revision.desc()).limit(1)
    else:
        query = query.where(Publication.revision == revision)
    return session.scalar(query)


def published_month(session: Session, period: str, *, now: datetime) -> PublishedMonth | None:
    """The month's newest published revision, or None while the month is open."""
    return published_revision(session, period, None, now=now)


def published_revision(
    session: Session, period: str, revision: int | None, *, now: datetime
) -> PublishedMonth | None:
    """One revision of a month's board (default: the newest), from stored rows."""
    publication = _revision_of(session, period, revision)
    if publication is None:
        return None
    latest = _latest(session, period)
    assert latest is not None
    members, branches = _rows(session, publication.id)
    intact = _intact(session, publication)
    return PublishedMonth(
        period=period,
        publication_id=publication.id,
        revision=publication.revision,
        published_at=publication.published_at,
        window_ends_at=publication.window_ends_at,
        final=now >= latest.window_ends_at,
        digest=publication.digest,
        members=_member_board(period, members),
        branches=_branch_board(period, branches),
        intact=intact,
        correcting=_open_correction(session, period) is not None,
        reason=publication.reason,
        revisions=tuple(revisions(session, period, known={publication.id: intact})),
    )


# --- stored boards a page at a time (the web pages) ------------------------------------------


@dataclass(frozen=True)
class PublishedHeader:
    """What a page says about a published revision, without its lines: the lines are
    read a page at a time (``published_member_page``, ``published_branch_page``)."""

    period: str
    publication_id: int
    revision: int
    published_at: datetime
    window_ends_at: datetime
    final: bool
    digest: str
    intact: bool = True
    correcting: bool = False
    reason: str = ""
    revisions: tuple[RevisionInfo, ...] = ()


IntactCheck = Callable[[Session, Publication], bool]


def published_header(
    session: Session,
    period: str,
    revision: int | None,
    *,
    now: datetime,
    check: IntactCheck | None = None,
) -> PublishedHeader | None:
    """A revision of a month (default: the newest) as ``published_revision`` describes
    it, lines left out; ``check`` tells whether a revision's stored lines still hold
    (``publication_intact`` by default; the web passes one that remembers)."""
    check = check or publication_intact
    publication = _revision_of(session, period, revision)
    if publication is None:
        return None
    latest = _latest(session, period)
    assert latest is not None
    intact = check(session, publication)
    return PublishedHeader(
        period=period,
        publication_id=publication.id,
        revision=publication.revision,
        published_at=publication.published_at,
        window_ends_at=publication.window_ends_at,
        final=now >= latest.window_ends_at,
        digest=publication.digest,
        intact=intact,
        correcting=_open_correction(session, period) is not None,
        reason=publication.reason,
        revisions=tuple(revisions(session, period, known={publication.id: intact}, check=check)),
    )


@dataclass(frozen=True)
class PublishedCounts:
    """The counts of a stored members board and its lines listed apart (exempt)."""

    ranked: int
    without_points: int
    exempt: list[MemberLine]


def _stored_line(row: Any) -> MemberLine:
    return MemberLine(
        member_id=row.member_id,
        member_code=row.member_code,
        name=row.name,
        branch_id=row.branch_id,
        branch_name=row.branch_name,
        points=row.points,
        exempt=bool(row.exempt),
    )


def published_counts(session: Session, publication_id: int) -> PublishedCounts:
    """As ``_member_board`` sorts the stored lines: ranked (a town rank), exempt, and
    the rest without points."""
    of = PublishedMemberRow.publication_id == publication_id
    ranked = session.scalar(
        select(func.count()).where(of, PublishedMemberRow.town_rank.is_not(None))
    )
    unranked = session.scalar(
        select(func.count()).where(of, PublishedMemberRow.town_rank.is_(None))
    )
    exempt = sorted(
        (
            _stored_line(row)
            for row in session.execute(
                select(*_MEMBER_COLUMNS).where(
                    of, PublishedMemberRow.town_rank.is_(None), PublishedMemberRow.exempt
                )
            )
        ),
        key=lambda line: line.member_code,
    )
    return PublishedCounts(ranked or 0, (unranked or 0) - len(exempt), exempt)


def published_member_page(
    session: Session,
    publication_id: int,
    period: str,
    page: int,
    counts: PublishedCounts,
    *,
    size: int = PAGE_SIZE,
) -> MemberPage:
    """A page of a stored members board in rank order (rank, then member number), with
    the same ranks and ties ``_member_board`` gives the whole board."""
    pages = page_count(counts.ranked, size)
    page = min(max(page, 1), pages)
    first = (page - 1) * size
    before = 1 if first > 0 else 0
    found = list(
        session.execute(
            select(*_MEMBER_COLUMNS)
            .where(
                PublishedMemberRow.publication_id == publication_id,
                PublishedMemberRow.town_rank.is_not(None),
            )
            .order_by(
                PublishedMemberRow.town_rank, code_order(session, PublishedMemberRow.member_code)
            )
            .limit(size + before + 1)
            .offset(first - before)
        )
    )
    ranks = [row.town_rank for row in found]
    rows: list[Ranked[MemberLine]] = []
    for index in range(before, min(len(found), before + size)):
        rank = ranks[index]
        tied = (index > 0 and ranks[index - 1] == rank) or (
            index + 1 < len(found) and ranks[index + 1] == rank
        )
        rows.append(Ranked(rank=rank, tied=tied, item=_stored_line(found[index])))
    return MemberPage(
        period=period,
        rows=rows,
        ranked_count=counts.ranked,
        exempt=counts.exempt,
        without_points=counts.without_points,
        page=page,
        pages=pages,
    )


def published_branch_members(
    session: Session, publication_id: int, period: str, branch_id: int
) -> MemberBoard:
    """One branch's lines of a stored board, ranked among themselves (``within_branch``
    of the whole stored board, reading only that branch's lines)."""
    rows = session.execute(
        select(*_MEMBER_COLUMNS).where(
            PublishedMemberRow.publication_id == publication_id,
            PublishedMemberRow.branch_id == branch_id,
        )
    )
    return within_branch(_member_board(period, rows), branch_id)


_RANK_COLUMNS = {
    BranchMetric.TOTAL: PublishedBranchRow.rank_total,
    BranchMetric.PER_MEMBER: PublishedBranchRow.rank_per_member,
    BranchMetric.PARTICIPATION: PublishedBranchRow.rank_participation,
}


def published_branch_page(
    session: Session,
    publication_id: int,
    period: str,
    metric: str,
    page: int,
    *,
    size: int = PAGE_SIZE,
) -> BranchPage:
    """A page of a stored branches board in the order of ``metric``, with the stored
    ranks by every metric."""
    metric = BranchMetric(metric)
    of = PublishedBranchRow.publication_id == publication_id
    count = session.scalar(select(func.count()).where(of)) or 0
    pages = page_count(count, size)
    page = min(max(page, 1), pages)
    first = (page - 1) * size
    before = 1 if first > 0 else 0
    rank_column = _RANK_COLUMNS[metric]
    found = list(
        session.execute(
            select(*_BRANCH_COLUMNS)
            .where(of)
            .order_by(rank_column, code_order(session, PublishedBranchRow.code))
            .limit(size + before + 1)
            .offset(first - before)
        )
    )
    name = f"rank_{metric.value}"
    ranks_of = [getattr(row, name) for row in found]
    rows: list[Ranked[BranchLine]] = []
    for index in range(before, min(len(found), before + size)):
        rank = ranks_of[index]
        tied = (index > 0 and ranks_of[index - 1] == rank) or (
            index + 1 < len(found) and ranks_of[index + 1] == rank
        )
        row = found[index]
        rows.append(
            Ranked(
                rank=rank,
                tied=tied,
                item=BranchLine(
                    branch_id=row.branch_id,
                    code=row.code,
                    name=row.name,
                    kind=row.kind,
                    total=row.total,
                    members=row.members,
                    participants=row.participants,
                ),
            )
        )
    shown = found[before : before + size]
    ranks = {
        m.value: {row.branch_id: getattr(row, f"rank_{m.value}") for row in shown}
        for m in BranchMetric
    }
    return BranchPage(
        period=period, metric=metric.value, rows=rows, ranks=ranks, count=count, page=page,
        pages=pages,
    )  # fmt: skip


# --- differences between revisions --------------------------------------------------------


@dataclass(frozen=True)
class MemberChange:
    member_id: int
    member_code: str
    name: str
    branch_name: str
    points_before: Decimal | None  # None: not on the older board
    points_after: Decimal | None  # None: not on the newer board
    rank_before: int | None
    rank_after: int | None

    @property
    def added(self) -> bool:
        return self.points_before is None

    @property
    def removed(self) -> bool:
        return self.points_after is None


@dataclass(frozen=True)
class BranchChange:
    branch_id: int
    code: str
    name: str
    total_before: Decimal | None
    total_after: Decimal | None
    ranks_before: tuple[int, int, int] | None  # by total, per member, participation
    ranks_after: tuple[int, int, int] | None


@dataclass(frozen=True)
class RevisionDiff:
    period: str
    revision_before: int
    revision_after: int
    reason: str
    members: list[MemberChange] = field(default_factory=list)
    branches: list[BranchChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.members or self.branches)


def diff_revisions(session: Session, period: str, before: int, after: int) -> RevisionDiff:
    """What changed from revision ``before`` to ``after`` of a month: members and
    branches whose points or ranks differ, added or removed."""
    older = session.scalar(
        select(Publication).where(Publication.period == period, Publication.revision == before)
    )
    newer = session.scalar(
        select(Publication).where(Publication.period == period, Publication.revision == after)
    )
    if older is None or newer is None:
        raise NotFound(Message(N_("No such revision.")))
    old_members, old_branches = _rows(session, older.id)
    new_members, new_branches = _rows(session, newer.id)
    old_m = {r.member_id: r for r in old_members}
    new_m = {r.member_id: r for r in new_members}
    member_changes: list[MemberChange] = []
    for member_id in old_m.keys() | new_m.keys():
        a, b = old_m.get(member_id), new_m.get(member_id)
        if a is not None and b is not None and (a.points, a.town_rank) == (b.points, b.town_rank):
            continue
        ref = b or a
        assert ref is not None
        member_changes.append(
            MemberChange(
                member_id=member_id,
                member_code=ref.member_code,
                name=ref.name,
                branch_name=ref.branch_name,
                points_before=a.points if a else None,
                points_after=b.points if b else None,
                rank_before=a.town_rank if a else None,
                rank_after=b.town_rank if b else None,
            )
        )
    member_changes.sort(key=lambda c: (c.rank_after is None, c.rank_after or 0, c.member_code))

    def ranks(row: PublishedBranchRow) -> tuple[int, int, int]:
        return (row.rank_total, row.rank_per_member, row.rank_participation)

    old_b = {r.branch_id: r for r in old_branches}
    new_b = {r.branch_id: r for r in new_branches}
    branch_changes: list[BranchChange] = []
    for branch_id in old_b.keys() | new_b.keys():
        x, y = old_b.get(branch_id), new_b.get(branch_id)
        if x is not None and y is not None and (x.total, ranks(x)) == (y.total, ranks(y)):
            continue
        ref_b = y or x
        assert ref_b is not None
        branch_changes.append(
            BranchChange(
                branch_id=branch_id,
                code=ref_b.code,
                name=ref_b.name,
                total_before=x.total if x else None,
                total_after=y.total if y else None,
                ranks_before=ranks(x) if x else None,
                ranks_after=ranks(y) if y else None,
            )
        )
    branch_changes.sort(key=lambda c: c.code)
    return RevisionDiff(
        period=period,
        revision_before=before,
        revision_after=after,
        reason=newer.reason,
        members=member_changes,
        branches=branch_changes,
    )


# --- the chain ----------------------------------------------------------------------------


class BreakKind(StrEnum):
    CONTENT = "content"  # the stored rows no longer hash to the stored digest
    LINK = "link"  # previous_digest is not the digest of the publication before


BREAK_LABELS = {
    BreakKind.CONTENT: N_("The stored board does not match its digest"),
    BreakKind.LINK: N_("The link to the publication before is broken"),
}


@dataclass(frozen=True)
class ChainBreak:
    publication_id: int
    period: str
    revision: int
    kind: BreakKind
    expected: str
    found: str

    def describe(self) -> str:
        what = (
            "the stored rows hash to another digest"
            if self.kind is BreakKind.CONTENT
            else "previous_digest is not the digest of the publication before"
        )
        return (
            f"publication {self.publication_id} ({self.period} revision {self.revision}): "
            f"{what}: expected {self.expected or '(none)'}, stored {self.found or '(none)'}"
        )


@dataclass(frozen=True)
class ChainReport:
    publications: int
    breaks: list[ChainBreak]

    @property
    def ok(self) -> bool:
        return not self.breaks

    def broken_ids(self) -> frozenset[int]:
        return frozenset(item.publication_id for item in self.breaks)


def verify_chain(session: Session) -> ChainReport:
    """Re-hash every publication's stored rows and check every link of the chain."""
    publications = list(session.scalars(select(Publication).order_by(Publication.id)))
    digests = {p.id: p.digest for p in publications}
    breaks: list[ChainBreak] = []
    previous = ""
    for publication in publications:
        replaces = digests.get(publication.replaces_id or 0, "")
        recomputed = streamed_digest(
            publication,
            _stored_member_dicts(session, publication.id),
            _stored_branch_dicts(session, publication.id),
            replaces,
        )
        if recomputed != publication.digest:
            breaks.append(
                ChainBreak(
                    publication.id,
                    publication.period,
                    publication.revision,
                    BreakKind.CONTENT,
                    recomputed,
                    publication.digest,
                )
            )
        if publication.previous_digest != previous:
            breaks.append(
                ChainBreak(
                    publication.id,
                    publication.period,
                    publication.revision,
                    BreakKind.LINK,
                    previous,
                    publication.previous_digest,
                )
            )
        previous = publication.digest
    return ChainReport(publications=len(publications), breaks=breaks)


# --- objections ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRef:
    """The board line an objection is about: a member's or a branch's."""

    member_id: int | None = None
    branch_id: int | None = None


@dataclass(frozen=True)
class ObjectionTarget:
    """What the objection form shows: the month, the line as published and whether
    objections are taken now."""

    period: str
    publication_id: int
    revision: int
    window_ends_at: datetime
    line: LineRef
    label: str  # member name and code, or branch name
    points: Decimal
    rank: int | None
    open: bool  # the notice window is open


def _window_closed(period: str) -> Conflict:
    return Conflict(
        Message(
            N_(
                "The notice window of %(period)s has closed: objections are no longer taken. "
                "Ask the organisation office in person."
            ),
            {"period": period},
        )
    )


def objection_target(
    session: Session, period: str, line: LineRef, *, now: datetime
) -> ObjectionTarget:
    """The published line ``line`` of ``period``'s newest revision; NotFound when the
    month is not published or the line is not on its board."""
    period = parse_period(period)
    publication = _latest(session, period)
    if publication is None:
        raise NotFound(
            Message(
                N_("%(period)s is not published; there is nothing to object to yet."),
                {"period": period},
            )
        )
    if (line.member_id is None) == (line.branch_id is None):
        raise NotFound(Message(N_("Choose one line of the board.")))
    if line.member_id is not None:
        row = session.scalar(
            select(PublishedMemberRow).where(
                PublishedMemberRow.publication_id == publication.id,
                PublishedMemberRow.member_id == line.member_id,
            )
        )
        if row is None:
            raise NotFound(Message(N_("This line is not on the published board.")))
        label, points, rank = f"{row.name} ({row.member_code})", row.points, row.town_rank
    else:
        b_row = session.scalar(
            select(PublishedBranchRow).where(
                PublishedBranchRow.publication_id == publication.id,
                PublishedBranchRow.branch_id == line.branch_id,
            )
        )
        if b_row is None:
            raise NotFound(Message(N_("This line is not on the published board.")))
        label, points, rank = b_row.name, b_row.total, b_row.rank_total
    return ObjectionTarget(
        period=period,
        publication_id=publication.id,
        revision=publication.revision,
        window_ends_at=publication.window_ends_at,
        line=line,
        label=label,
        points=points,
        rank=rank,
        open=now < publication.window_ends_at,
    )


def raise_objection(
    session: Session,
    actor: Principal,
    period: str,
    line: LineRef,
    text_: str,
    *,
    now: datetime,
) -> int:
    """A member objects to a line of a month's newest published board, during its
    notice window. Any member may object to any line (the board is public); the text
    says what is wrong."""
    if actor.member_id is None:
        raise PermissionDenied(Message(N_("Only party members can object to a board.")))
    target = objection_target(session, period, line, now=now)
    if not target.open:
        raise _window_closed(target.period)
    body = text_.strip()
    if not body:
        raise InvalidInput({"text": Message(N_("Say what is wrong with this line."))})
    if len(body) > OBJECTION_MAX:
        raise InvalidInput(
            {
                "text": Message(
                    N_("Keep the objection under %(max)d characters."), {"max": OBJECTION_MAX}
                )
            }
        )
    duplicate = session.scalar(
        select(Objection.id).where(
            Objection.publication_id == target.publication_id,
            Objection.member_id == actor.member_id,
            Objection.line_member_id.is_(None)
            if line.member_id is None
            else Objection.line_member_id == line.member_id,
            Objection.line_branch_id.is_(None)
            if line.branch_id is None
            else Objection.line_branch_id == line.branch_id,
            Objection.status == ObjectionStatus.OPEN,
        )
    )
    if duplicate is not None:
        raise Conflict(
            Message(N_("You already have an open objection to this line; wait for its answer."))
        )
    objection = Objection(
        publication_id=target.publication_id,
        member_id=actor.member_id,
        account_id=actor.account_id,
        line_member_id=line.member_id,
        line_branch_id=line.branch_id,
        text=body,
        created_at=now,
        status=ObjectionStatus.OPEN,
    )
    session.add(objection)
    session.flush()
    return objection.id


def resolve_objection(
    session: Session,
    actor: Principal,
    objection_id: int,
    answer: str,
    resolution: str,
    *,
    now: datetime,
) -> None:
    """The office answers an objection and resolves it.

    ``no_change``: the line stands; the answer says why. ``corrected``: only once a
    correction of the month has been published after the objection was raised; the
    objection is linked to that (newest) revision, so the objector can see the board
    that answers it. A correction still in progress must be published first, so an
    objection is never marked corrected by a board nobody can read yet.
    """
    _require_admin(actor, N_("Only the organisation office answers objections."))
    objection = session.scalar(
        select(Objection).where(Objection.id == objection_id).with_for_update()
    )
    if objection is None:
        raise NotFound(Message(N_("No such objection.")))
    if objection.status is ObjectionStatus.RESOLVED:
        raise Conflict(Message(N_("This objection is already resolved; nothing was changed.")))
    errors: dict[str, Message] = {}
    body = answer.strip()
    if not body:
        errors["answer"] = Message(N_("Write the answer the member will read."))
    elif len(body) > ANSWER_MAX:
        errors["answer"] = Message(
            N_("Keep the answer under %(max)d characters."), {"max": ANSWER_MAX}
        )
    try:
        chosen = Resolution(resolution)
    except ValueError:
        errors["resolution"] = Message(N_("Choose how the objection is resolved."))
        chosen = Resolution.NO_CHANGE
    if errors:
        raise InvalidInput(errors)
    correction_id: int | None = None
    if chosen is Resolution.CORRECTED:
        objected = session.get(Publication, objection.publication_id)
        assert objected is not None
        later = session.scalar(
            select(Publication)
            .where(
                Publication.period == objected.period,
                Publication.revision > objected.revision,
                Publication.published_at >= objection.created_at.replace(microsecond=0),
            )
            .order_by(Publication.revision.desc())
            .limit(1)
        )
        if later is None:
            raise Conflict(
                Message(
                    N_(
                        "No correction of %(period)s has been published since this objection "
                        "was raised. Open and publish a correction first, or resolve it with "
                        "no change."
                    ),
                    {"period": objected.period},
                )
            )
        correction_id = later.id
    objection.status = ObjectionStatus.RESOLVED
    objection.answer = body
    objection.resolution = chosen
    objection.resolved_by_id = actor.account_id
    objection.resolved_at = now
    objection.correction_publication_id = correction_id
    session.flush()


@dataclass(frozen=True)
class ObjectionView:
    id: int
    period: str
    revision: int
    objector: str
    line_label: str
    line_member_id: int | None
    line_branch_id: int | None
    text: str
    created_at: datetime
    status: ObjectionStatus
    answer: str | None
    resolution: Resolution | None
    resolved_at: datetime | None
    correction_revision: int | None


def _objection_views(session: Session, query: Any) -> list[ObjectionView]:
    objections: list[Objection] = list(session.scalars(query))
    if not objections:
        return []
    pub_ids = {o.publication_id for o in objections} | {
        o.correction_publication_id for o in objections if o.correction_publication_id
    }
    pubs = {
        row[0]: (row[1], row[2])
        for row in session.execute(
            select(Publication.id, Publication.period, Publication.revision).where(
                Publication.id.in_(pub_ids)
            )
        )
    }
    member_ids = {o.member_id for o in objections} | {
        o.line_member_id for o in objections if o.line_member_id
    }
    members = {
        row[0]: f"{row[1]} ({row[2]})"
        for row in session.execute(
            select(Member.id, Member.name, Member.code).where(Member.id.in_(member_ids))
        )
    }
    branch_ids = {o.line_branch_id for o in objections if o.line_branch_id}
    branches = (
        {
            row[0]: row[1]
            for row in session.execute(
                select(Branch.id, Branch.name).where(Branch.id.in_(branch_ids))
            )
        }
        if branch_ids
        else {}
    )
    views = []
    for o in objections:
        period, revision = pubs[o.publication_id]
        if o.line_member_id is not None:
            label = members.get(o.line_member_id, "?")
        else:
            label = branches.get(o.line_branch_id or 0, "?")
        views.append(
            ObjectionView(
                id=o.id,
                period=period,
                revision=revision,
                objector=members.get(o.member_id, "?"),
                line_label=label,
                line_member_id=o.line_member_id,
                line_branch_id=o.line_branch_id,
                text=o.text,
                created_at=o.created_at,
                status=o.status,
                answer=o.answer,
                resolution=o.resolution,
                resolved_at=o.resolved_at,
                correction_revision=pubs[o.correction_publication_id][1]
                if o.correction_publication_id
                else None,
            )
        )
    return views


def my_objections(session: Session, actor: Principal) -> list[ObjectionView]:
    """The actor's own objections with their answers, newest first."""
    if actor.member_id is None:
        return []
    return _objection_views(
        session,
        select(Objection)
        .where(Objection.member_id == actor.member_id)
        .order_by(Objection.created_at.desc(), Objection.id.desc()),
    )


def month_objections(session: Session, actor: Principal, period: str) -> list[ObjectionView]:
    """Every objection to any revision of ``period``, oldest first (office only)."""
    _require_admin(actor, N_("Only the organisation office answers objections."))
    return _objection_views(
        session,
        select(Objection)
        .join(Publication, Publication.id == Objection.publication_id)
        .where(Publication.period == period)
        .order_by(Objection.created_at, Objection.id),
    )


# --- the office's overview ------------------------------------------------------------------


@dataclass(frozen=True)
class MonthOverview:
    period: str
    state: MonthState
    revision: int | None
    published_at: datetime | None
    window_ends_at: datetime | None
    pending: list[PendingBranch]
    open_objections: int
    can_publish: bool  # the month has ended and is not published

    @property
    def pending_total(self) -> int:
        return sum(item.count for item in self.pending)


def months_overview(
    session: Session, rulebook: Rulebook, *, now: datetime, count: int = 12
) -> list[MonthOverview]:
    """The last ``count`` months up to the current one, newest first, plus any older
    month that is published or holds pending entries."""
    ruleset = rulebook.in_force(town_today(now, DEFAULT_TIMEZONE))
    timezone = ruleset.timezone if ruleset else DEFAULT_TIMEZONE
    current = period_of(town_today(now, timezone))
    months = set()
    year, month = int(current[:4]), int(current[5:7])
    for _ in range(count):
        months.add(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    months |= set(published_periods(session))
    months |= set(
        session.scalars(select(Entry.period).where(Entry.status == EntryStatus.PENDING).distinct())
    )
    latest: dict[str, Publication] = {}
    for publication in session.scalars(select(Publication).order_by(Publication.revision)):
        latest[publication.period] = publication
    correcting = set(
        session.scalars(select(Correction.period).where(Correction.publication_id.is_(None)))
    )
    open_counts = {
        row[0]: row[1]
        for row in session.execute(
            select(Publication.period, func.count(Objection.id))
            .join(Objection, Objection.publication_id == Publication.id)
            .where(Objection.status == ObjectionStatus.OPEN)
            .group_by(Publication.period)
        )
    }
    overview = []
    for period in sorted((m for m in months if m <= current), reverse=True):
        found = latest.get(period)
        if found is None:
            state = MonthState.OPEN
        elif period in correcting:
            state = MonthState.CORRECTING
        elif now < found.window_ends_at:
            state = MonthState.PUBLISHED
        else:
            state = MonthState.FINAL
        overview.append(
            MonthOverview(
                period=period,
                state=state,
                revision=found.revision if found else None,
                published_at=found.published_at if found else None,
                window_ends_at=found.window_ends_at if found else None,
                pending=pending_by_branch(session, period),
                open_objections=open_counts.get(period, 0),
                can_publish=found is None and period < current,
            )
        )
    return overview


def publication_list(session: Session) -> list[RevisionInfo]:
    """Every publication, oldest first (for the command line)."""
    out: list[RevisionInfo] = []
    for period in sorted(published_periods(session)):
        out.extend(revisions(session, period))
    return sorted(out, key=lambda r: r.publication_id)
