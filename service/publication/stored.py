"""Published boards read back from their stored rows, never recomputed: a month's
revisions, the board of a revision, and its pages for the web.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.boards.board import BranchBoard, BranchLine, BranchMetric, MemberBoard, MemberLine
from service.boards.branch_pages import BranchPage
from service.boards.live import within_branch
from service.boards.pages import MemberPage, code_order
from service.persistence.models import (
    Account,
    Publication,
    PublicationKind,
    PublishedBranchRow,
    PublishedMemberRow,
)
from service.persistence.pagination import PAGE_SIZE, page_bounds
from service.publication.chain import (
    BRANCH_COLUMNS,
    MEMBER_COLUMNS,
    publication_intact,
    stored_rows,
)
from service.publication.state import correction_in_progress, latest_publication
from service.scoring.ranking import Ranked


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
        .where(Publication.kind == PublicationKind.MONTH, Publication.period == period)
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
    query = select(Publication).where(
        Publication.kind == PublicationKind.MONTH, Publication.period == period
    )
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
    header = published_header(session, period, revision, now=now)
    if header is None:
        return None
    members, branches = stored_rows(session, header.publication_id)
    return PublishedMonth(
        **vars(header),
        members=_member_board(period, members),
        branches=_branch_board(period, branches),
    )


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
    latest = latest_publication(session, period)
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
        correcting=correction_in_progress(session, period) is not None,
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
                select(*MEMBER_COLUMNS).where(
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
    pages, page = page_bounds(counts.ranked, page, size)
    first = (page - 1) * size
    before = 1 if first > 0 else 0
    found = list(
        session.execute(
            select(*MEMBER_COLUMNS)
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
        select(*MEMBER_COLUMNS).where(
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
    pages, page = page_bounds(count, page, size)
    first = (page - 1) * size
    before = 1 if first > 0 else 0
    rank_column = _RANK_COLUMNS[metric]
    found = list(
        session.execute(
            select(*BRANCH_COLUMNS)
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
