"""Which board a page shows: a published month's stored revision (what the page says
about it, its lines read a page at a time, the whole of it for prints and exports) or the
live figures; and what is worked out once from a stored revision, remembered per app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from litestar import Request
from litestar.exceptions import NotFoundException
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.boards.board import BoardPeriod, BranchBoard, MemberBoard, SpanKind
from service.boards.branch_pages import BranchPage, branch_page
from service.boards.live import branch_board, member_board
from service.boards.pages import ExemptPage, MemberPage, exempt_page, exempt_page_of, member_page
from service.kernel.numbers import parse_id
from service.persistence.models import Publication as PublicationRow
from service.persistence.types import utcnow
from service.publication.chain import publication_intact
from service.publication.diff import RevisionDiff, diff_revisions
from service.publication.stored import (
    PublishedCounts,
    PublishedHeader,
    PublishedMonth,
    RevisionInfo,
    published_branch_members,
    published_branch_page,
    published_counts,
    published_header,
    published_member_page,
    published_revision,
)
from web.deps import sees_town_ranks


@dataclass(frozen=True)
class Publication:
    """What the page says about publication: the month's stored board (the revision
    shown), or for a quarter or a year which of its months are published so far."""

    month: PublishedHeader | None
    published: tuple[str, ...]  # months of the span published so far
    open: tuple[str, ...]  # months of the span up to now not yet published

    def _info(self, revision: int) -> RevisionInfo | None:
        if self.month is None:
            return None
        return next((r for r in self.month.revisions if r.revision == revision), None)

    @property
    def newest(self) -> int | None:
        """The month's newest revision (the one in force)."""
        if self.month is None:
            return None
        return max([r.revision for r in self.month.revisions] + [self.month.revision])

    @property
    def replaced(self) -> bool:
        """The revision shown has been replaced by a later correction."""
        return self.month is not None and self.month.revision < (self.newest or 0)

    @property
    def replaces(self) -> RevisionInfo | None:
        """The revision the shown one replaces (None for a first publication)."""
        return None if self.month is None else self._info(self.month.revision - 1)

    @property
    def replaced_by(self) -> RevisionInfo | None:
        """The revision that replaced the shown one (None for the newest)."""
        return None if self.month is None else self._info(self.month.revision + 1)

    @property
    def query(self) -> str:
        """The query that keeps a replaced revision on the page's own links."""
        return f"revision={self.month.revision}" if self.month and self.replaced else ""


# --- what a stored revision's lines say, worked out once per revision ----------------

# A stored board never changes (the ORM refuses it), so what is worked out from its lines
# (its digest still holds, its counts) is kept per app for a while rather than re-read
# from every line on every page view: a city's board has 100,000 lines. A line changed
# behind the app's back shows as "does not hold" at the latest this long after.
STORED_CHECK_SECONDS = 300.0
V = TypeVar("V")


class StoredBoards:
    """Per app: results worked out from stored revisions, by publication and digest."""

    def __init__(self, seconds: float = STORED_CHECK_SECONDS) -> None:
        self.seconds = seconds
        self._entries: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._working: dict[tuple[Any, ...], threading.Lock] = {}

    def get(self, key: tuple[Any, ...], compute: Callable[[], V]) -> V:
        """The remembered value, or ``compute()``'s: worked out by one request at a time
        (the others wait for it rather than each re-reading every line)."""
        value: V
        with self._lock:
            found = self._entries.get(key)
            if found is not None and time.monotonic() - found[0] < self.seconds:
                value = found[1]
                return value
            working = self._working.setdefault(key, threading.Lock())
        with working:
            with self._lock:
                found = self._entries.get(key)
            if found is not None and time.monotonic() - found[0] < self.seconds:
                value = found[1]
                return value
            value = compute()
            with self._lock:
                if len(self._entries) > 256:
                    self._entries.clear()
                self._entries[key] = (time.monotonic(), value)
                self._working.pop(key, None)
        return value

    def intact(self, session: Session, publication: PublicationRow) -> bool:
        return self.get(
            ("intact", publication.id, publication.digest),
            lambda: publication_intact(session, publication),
        )

    def counts(self, session: Session, month: PublishedHeader) -> PublishedCounts:
        return self.get(
            ("counts", month.publication_id, month.digest),
            lambda: published_counts(session, month.publication_id),
        )


_stored_lock = threading.Lock()
STORED_BOARDS = "jifen_stored_boards"


def published_month(session: Session, period: str, *, now: datetime) -> PublishedHeader | None:
    """The newest revision of a month as the board pages show it: what the page says
    about it, the lines being read a page at a time. Whether its stored lines still
    hold is remembered per app (``StoredBoards``, handed over in ``session.info``)."""
    boards: StoredBoards | None = session.info.get(STORED_BOARDS)
    return published_header(
        session, period, None, now=now, check=boards.intact if boards is not None else None
    )


def stored_boards(request: Request[Any, Any, Any]) -> StoredBoards:
    state = request.app.state
    with _stored_lock:
        found = state.get("stored_boards")
        if found is None:
            found = StoredBoards()
            state["stored_boards"] = found
    boards: StoredBoards = found
    return boards


# --- what the page says about publication -------------------------------------------------


def publication_of(
    request: Request[Any, Any, Any],
    db: Session,
    span: BoardPeriod,
    current: str,
    revision: str | None = None,
) -> Publication:
    """``revision`` (months only): show that revision of the month's stored board
    instead of the newest; 404 when the month has no such revision (or it is no number:
    the kernel's parser reads it, like an id)."""
    now = utcnow()
    boards = stored_boards(request)
    db.info[STORED_BOARDS] = boards
    published: list[str] = []
    still_open: list[str] = []
    month: PublishedHeader | None = None
    if span.kind is SpanKind.MONTH and revision is not None:
        number = parse_id(revision)
        if number is not None:
            month = published_header(db, span.key, number, now=now, check=boards.intact)
        if month is None or span.key > current:
            raise NotFoundException()
        return Publication(month, (span.key,), ())
    if span.kind is SpanKind.MONTH:
        if span.key <= current:
            month = published_month(db, span.key, now=now)
            (published if month is not None else still_open).append(span.key)
        return Publication(month, tuple(published), tuple(still_open))
    # A quarter or a year adds live figures; the page says which months are published.
    for period in span.months:
        if period > current:
            break
        found = published_month(db, period, now=now)
        (published if found is not None else still_open).append(period)
    return Publication(None, tuple(published), tuple(still_open))


def revision_diff(db: Session, publication: Publication) -> RevisionDiff | None:
    """What changed from the revision before to the one shown (corrections only)."""
    month, before = publication.month, publication.replaces
    if month is None or before is None:
        return None
    return diff_revisions(db, month.period, before.revision, month.revision)


def cached_revision_diff(
    request: Request[Any, Any, Any], db: Session, publication: Publication
) -> RevisionDiff | None:
    """``revision_diff``, worked out once per pair of stored revisions."""
    month, before = publication.month, publication.replaces
    if month is None or before is None:
        return None
    return stored_boards(request).get(
        ("diff", before.digest, month.digest), lambda: revision_diff(db, publication)
    )


def may_object(request: Request[Any, Any, Any], publication: Publication) -> bool:
    """Lines link to the objection form for a signed-in member while the month's notice
    window is open, on its newest revision (objections are to the board in force).
    The form checks again; this only keeps links away from people they would fail for."""
    principal: Principal | None = request.scope.get("user")
    month = publication.month
    return (
        principal is not None
        and principal.member_id is not None
        and month is not None
        and not month.final
        and not publication.replaced
    )


def publication_context(
    request: Request[Any, Any, Any], db: Session, publication: Publication
) -> dict[str, Any]:
    """What the board pages' banner and links need about the revision shown."""
    query = publication.query
    return {
        "publication": publication,
        "diff": cached_revision_diff(request, db, publication),
        "can_object": may_object(request, publication),
        "show_town_ranks": sees_town_ranks(request),
        "rev_first": f"?{query}" if query else "",  # to start a query string
        "rev_more": f"&{query}" if query else "",  # to add to one
    }


# --- the lines a page lists: a published month's stored ones, or live --------------------


def stored_revision(db: Session, publication: Publication) -> PublishedMonth:
    """The whole stored revision shown (prints and exports list every line)."""
    month = publication.month
    assert month is not None
    stored = published_revision(db, month.period, month.revision, now=utcnow())
    assert stored is not None
    return stored


def town_members(db: Session, span: BoardPeriod, publication: Publication) -> MemberBoard:
    """The whole members board (prints and exports)."""
    if publication.month is not None:
        return stored_revision(db, publication).members
    return member_board(db, span.key)


def town_member_page(
    request: Request[Any, Any, Any],
    db: Session,
    span: BoardPeriod,
    publication: Publication,
    page: int,
) -> MemberPage:
    """One page of the members board: stored lines of a published month, or live."""
    month = publication.month
    if month is not None:
        counts = stored_boards(request).counts(db, month)
        return published_member_page(db, month.publication_id, span.key, page, counts)
    return member_page(db, span.key, page)


def town_exempt_page(
    request: Request[Any, Any, Any],
    db: Session,
    span: BoardPeriod,
    publication: Publication,
    page: int,
) -> ExemptPage:
    """One page of the members board's exempt members with points: a published month's
    stored lines (read once per revision, as the board page's counts), or live."""
    month = publication.month
    if month is not None:
        return exempt_page_of(span.key, stored_boards(request).counts(db, month).exempt, page)
    return exempt_page(db, span.key, page)


def branch_members(
    db: Session, span: BoardPeriod, publication: Publication, branch_id: int
) -> MemberBoard:
    month = publication.month
    if month is not None:
        return published_branch_members(db, month.publication_id, span.key, branch_id)
    return member_board(db, span.key, branch_id=branch_id)


def town_branches(db: Session, span: BoardPeriod, publication: Publication) -> BranchBoard:
    """The whole branches board (prints and exports)."""
    if publication.month is not None:
        return stored_revision(db, publication).branches
    return branch_board(db, span.key)


def town_branch_page(
    db: Session,
    span: BoardPeriod,
    publication: Publication,
    metric: str,
    page: int,
    *,
    other_ranks: bool = True,
) -> BranchPage:
    """``other_ranks``: also the shown branches' ranks by the other metrics (a live
    board works them out from every branch's keys; a stored board has them)."""
    month = publication.month
    if month is not None:
        return published_branch_page(db, month.publication_id, span.key, metric, page)
    return branch_page(db, span.key, metric, page, other_ranks=other_ranks)
