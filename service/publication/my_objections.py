"""A member's own objections (异议), a page at a time: /objections. Raising and answering
objections is service/publication.py's."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.persistence.models import Objection
from service.persistence.pagination import PAGE_SIZE, Page, page_bounds
from service.publication.publish import ObjectionView, _objection_views

OBJECTIONS_PAGE_SIZE = PAGE_SIZE


def my_objections_page(
    session: Session, actor: Principal, *, page: int = 1, size: int = OBJECTIONS_PAGE_SIZE
) -> Page[ObjectionView]:
    """Page ``page`` of the actor's own objections with their answers, newest first (the
    order of ``publication.my_objections``). Nobody else's objection is ever counted."""
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
