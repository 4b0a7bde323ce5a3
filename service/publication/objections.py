"""Objections (异议) to a line of a published board, raised by a member during the
notice window and answered by the office; both are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.kernel.config import Settings
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.kernel.periods import parse_period
from service.outbox.emit import emit
from service.persistence.models import (
    Branch,
    Member,
    Objection,
    ObjectionStatus,
    Publication,
    PublicationKind,
    PublishedBranchRow,
    PublishedMemberRow,
    Resolution,
)
from service.persistence.pagination import PAGE_SIZE, Page, page_bounds
from service.publication.state import latest_publication

OBJECTION_MAX = 1000
OBJECTIONS_PER_MONTH: int = Settings.model_fields["objections_per_month"].default

ANSWER_MAX = 2000

RESOLUTION_LABELS = {
    Resolution.NO_CHANGE: N_("no change"),
    Resolution.CORRECTED: N_("corrected"),
}


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
    publication = latest_publication(session, period)
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
    limit: int = OBJECTIONS_PER_MONTH,
) -> int:
    """A member objects to a line of a month's newest published board, during its
    notice window. Any member may object to any line (the board is public); the text
    says what is wrong. At most ``limit`` objections per member to one month's board
    (the settings' ``objections_per_month``)."""
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
    # The member's row is the lock: one member's objections are counted and added one
    # at a time, so parallel posts cannot pass the limit (or the duplicate check)
    # together. SQLite's write transactions are serialised already (BEGIN IMMEDIATE).
    session.execute(select(Member.id).where(Member.id == actor.member_id).with_for_update())
    raised = session.scalar(
        select(func.count())
        .select_from(Objection)
        .join(Publication, Publication.id == Objection.publication_id)
        .where(Objection.member_id == actor.member_id, Publication.period == target.period)
    )
    if (raised or 0) >= limit:
        raise InvalidInput(
            {
                "text": Message(
                    N_(
                        "You have raised %(count)d objections to the board of %(period)s, "
                        "the most one member may. The office answers them on your "
                        "objections page; for anything more, ask the office in person."
                    ),
                    {"count": raised or 0, "period": target.period},
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
    require_admin(actor, N_("Only the organisation office answers objections."))
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
                Publication.kind == PublicationKind.MONTH,
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
    _tell_objector(session, objection, body, now)


def _tell_objector(session: Session, objection: Objection, answer: str, now: datetime) -> None:
    """The objector hears the answer: private to them (an objection names a line of the
    board and the office's answer may discuss a person's points)."""
    objected = session.get(Publication, objection.publication_id)
    emit(
        session,
        "objection_answered",
        params={"period": objected.period if objected else "", "answer": answer},
        link="/objections",
        accounts=[objection.account_id],
        now=now,
    )


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
    require_admin(actor, N_("Only the organisation office answers objections."))
    return _objection_views(
        session,
        select(Objection)
        .join(Publication, Publication.id == Objection.publication_id)
        .where(Publication.period == period)
        .order_by(Objection.created_at, Objection.id),
    )


OBJECTIONS_PAGE_SIZE = PAGE_SIZE


def my_objections_page(
    session: Session, actor: Principal, *, page: int = 1, size: int = OBJECTIONS_PAGE_SIZE
) -> Page[ObjectionView]:
    """Page ``page`` of the actor's own objections with their answers, newest first (the
    order of ``my_objections``). Nobody else's objection is ever counted."""
    if actor.member_id is None:
        return Page(items=[], total=0, page=1, pages=1, size=size)
    mine = Objection.member_id == actor.member_id
    total = session.scalar(select(func.count()).select_from(Objection).where(mine)) or 0
    pages, page = page_bounds(total, page, size)
    items = _objection_views(
        session,
        select(Objection)
        .where(mine)
        .order_by(Objection.created_at.desc(), Objection.id.desc())
        .limit(size)
        .offset((page - 1) * size),
    )
    return Page(items=items, total=total, page=page, pages=pages, size=size)
