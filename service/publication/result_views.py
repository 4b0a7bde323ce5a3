"""What the results pages read: the published results lists (red lists, 优秀 members,
branch stars) by kind, newest first; one list with its lines a page at a time, its
digest and whether the chain still holds there; a branch's stars of every published
round (the achievements page); and the newest stars list and red list (the board
page's blocks).

Read-only and public: a results list holds only what its notice shows (name, branch,
value, label, rank), so every signed-in user may read what is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.persistence.assessment import PublishedResultRow
from service.persistence.models import Publication, PublicationKind
from service.persistence.pagination import PAGE_SIZE, Page, fetch_page
from service.publication.chain import publication_intact
from service.publication.results import ResultLine, published_results, result_lines

# The kinds in the order the index lists them.
RESULT_KINDS = (
    PublicationKind.RED_LIST,
    PublicationKind.EXCELLENT,
    PublicationKind.BRANCH_STARS,
)
# How many branches the board page's stars block names.
TOP_STARS = 5


def result_kind(text: str) -> PublicationKind | None:
    """The kind an address names (``red_list``, ``excellent``, ``branch_stars``), or
    None: a month's board is no results list."""
    try:
        kind = PublicationKind(text)
    except ValueError:
        return None
    return kind if kind in RESULT_KINDS else None


@dataclass(frozen=True)
class ListHeader:
    """What a results page says about its list: when it was published, its notice
    window, its digest and whether that still holds."""

    publication_id: int
    kind: PublicationKind
    period: str
    published_at: datetime
    window_ends_at: datetime
    notice_days: int
    ruleset_version: str
    digest: str
    previous_digest: str
    lines: int
    final: bool  # the notice window has closed
    intact: bool | None  # None: not checked (the index)


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back naive; they are stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _header(
    publication: Publication, lines: int, *, now: datetime, intact: bool | None
) -> ListHeader:
    window_ends_at = _aware(publication.window_ends_at)
    return ListHeader(
        publication_id=publication.id,
        kind=publication.kind,
        period=publication.period,
        published_at=_aware(publication.published_at),
        window_ends_at=window_ends_at,
        notice_days=publication.notice_days,
        ruleset_version=publication.ruleset_version,
        digest=publication.digest,
        previous_digest=publication.previous_digest,
        lines=lines,
        final=now >= window_ends_at,
        intact=intact,
    )


def _line_counts(session: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(PublishedResultRow.publication_id, func.count())
        .where(PublishedResultRow.publication_id.in_(ids))
        .group_by(PublishedResultRow.publication_id)
    )
    return {publication_id: count for publication_id, count in rows}


def results_index(session: Session, *, now: datetime) -> dict[PublicationKind, list[ListHeader]]:
    """Every published results list, by kind (every kind present, perhaps empty), each
    kind's newest first. The chain is not checked here (each list's page does)."""
    publications = list(
        session.scalars(
            select(Publication)
            .where(Publication.kind.in_(RESULT_KINDS))
            .order_by(Publication.published_at.desc(), Publication.id.desc())
        )
    )
    counts = _line_counts(session, [p.id for p in publications])
    index: dict[PublicationKind, list[ListHeader]] = {kind: [] for kind in RESULT_KINDS}
    for publication in publications:
        index[publication.kind].append(
            _header(publication, counts.get(publication.id, 0), now=now, intact=None)
        )
    return index


Check = Callable[[Session, Publication], bool]


def _published(session: Session, kind: PublicationKind, period: str) -> Publication | None:
    if kind not in RESULT_KINDS or len(period) > 16:
        return None
    return published_results(session, kind, period)


def list_header(
    session: Session,
    kind: PublicationKind,
    period: str,
    *,
    now: datetime,
    check: Check | None = None,
) -> ListHeader | None:
    """A published list's header with its chain check (``check``: a remembered
    ``publication_intact``), or None when that kind and period is not published."""
    publication = _published(session, kind, period)
    if publication is None:
        return None
    intact = (check or publication_intact)(session, publication)
    counts = _line_counts(session, [publication.id])
    return _header(publication, counts.get(publication.id, 0), now=now, intact=intact)


def _line(row: PublishedResultRow) -> ResultLine:
    return ResultLine(
        subject_id=row.subject_id,
        code=row.code,
        name=row.name,
        branch_id=row.branch_id,
        branch_name=row.branch_name,
        value=row.value,
        label=row.label,
        rank=row.rank,
    )


def list_page(
    session: Session, header: ListHeader, page: int, *, size: int = PAGE_SIZE
) -> Page[ResultLine]:
    """One page of a list's lines in rank order (unranked last), then by code, then id."""
    statement = (
        select(PublishedResultRow)
        .where(PublishedResultRow.publication_id == header.publication_id)
        .order_by(
            PublishedResultRow.rank.is_(None),
            PublishedResultRow.rank,
            PublishedResultRow.code,
            PublishedResultRow.id,
        )
    )
    rows, total, page, pages = fetch_page(session, statement, page=page, size=size)
    return Page(
        items=[_line(row) for (row,) in rows], total=total, page=page, pages=pages, size=size
    )


def whole_list(session: Session, header: ListHeader) -> list[ResultLine]:
    """Every line (prints and exports)."""
    return result_lines(session, header.publication_id)


# --- blocks on other pages --------------------------------------------------------------


def stars_of(line: ResultLine) -> int:
    """The stars a branch stars line gives (its label, "4"); 0 when it is not a number."""
    label = line.label.strip()
    return int(label) if label.isascii() and label.isdigit() and len(label) <= 2 else 0


@dataclass(frozen=True)
class BranchStars:
    """A branch's place on one published stars list."""

    period: str
    stars: int
    value: str
    rank: int | None
    published_at: datetime


def branch_stars(session: Session, branch_id: int) -> list[BranchStars]:
    """The branch's stars on every published stars list, newest round first."""
    rows = session.execute(
        select(PublishedResultRow, Publication.period, Publication.published_at)
        .join(Publication, Publication.id == PublishedResultRow.publication_id)
        .where(
            Publication.kind == PublicationKind.BRANCH_STARS,
            PublishedResultRow.subject_id == branch_id,
        )
        .order_by(Publication.period.desc(), Publication.id.desc())
    )
    return [
        BranchStars(
            period=period,
            stars=stars_of(_line(row)),
            value=row.value,
            rank=row.rank,
            published_at=_aware(published_at),
        )
        for row, period, published_at in rows
    ]


@dataclass(frozen=True)
class LatestList:
    """The newest list of a kind, with its first few lines (the board page's block)."""

    header: ListHeader
    top: list[ResultLine]


def latest_list(
    session: Session, kind: PublicationKind, *, now: datetime, top: int = TOP_STARS
) -> LatestList | None:
    """The most recently published list of ``kind``, with
    its ``top`` first lines in rank order; None when none is published."""
    publication = session.scalar(
        select(Publication)
        .where(Publication.kind == kind)
        .order_by(Publication.published_at.desc(), Publication.id.desc())
        .limit(1)
    )
    if publication is None:
        return None
    header = _header(
        publication, _line_counts(session, [publication.id]).get(publication.id, 0),
        now=now, intact=None,
    )  # fmt: skip
    lines = list_page(session, header, 1, size=top).items if top else []
    return LatestList(header=header, top=lines)
