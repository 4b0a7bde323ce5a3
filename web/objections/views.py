"""Members' objections (异议) to a line of a published board, and their answers."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.config import Settings
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.i18n import N_
from service.kernel.numbers import parse_id
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.publication.objections import (
    OBJECTION_MAX,
    RESOLUTION_LABELS,
    LineRef,
    ObjectionTarget,
    my_objections_page,
    objection_target,
    raise_objection,
)
from web.deps import Actor, Db, sees_town_ranks
from web.forms import FormData, domain_field_errors, first_value
from web.guards import requires_member
from web.i18n import gettext, render
from web.notices import notice

NOTICES = {
    "objected": N_("Your objection was sent. The organisation office will answer it here."),
}


def _target(db: Session, period: str, member: Any, branch: Any) -> ObjectionTarget:
    line = LineRef(member_id=parse_id(member), branch_id=parse_id(branch))
    return objection_target(db, period, line, now=utcnow())


def _form_page(
    target: ObjectionTarget,
    *,
    text: str = "",
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
    show_rank: bool = True,
) -> Template:
    """``show_rank`` False: the town hides members' town ranks from this viewer
    (JIFEN_HIDE_TOWN_RANKINGS), so a member's line shows no rank."""
    return Template(
        "objections/new.html",
        context={
            "target": target,
            "show_rank": show_rank or target.line.member_id is None,
            "text": text,
            "errors": errors or {},
            "error": error,
            "max_chars": OBJECTION_MAX,
        },
        status_code=status_code,
    )


def _closed_message(target: ObjectionTarget) -> str:
    return gettext(
        "The notice window of %(period)s has closed: objections are no longer taken. "
        "Ask the organisation office in person."
    ) % {"period": target.period}


class ObjectionsController(Controller):
    path = "/objections"
    guards = [requires_member]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def mine(
        self,
        db: Db,
        principal: Actor,
        done: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        return Template(
            "objections/list.html",
            context={
                "objections": my_objections_page(db, principal, page=page_number(page)),
                "resolution_label": lambda value: gettext(RESOLUTION_LABELS[value]),
                "notice": notice(done, NOTICES),
            },
        )

    @get("/new", sync_to_thread=True)
    def new(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromQuery[str] = "",
        member: FromQuery[str | None] = None,
        branch: FromQuery[str | None] = None,
    ) -> Template:
        try:
            target = _target(db, period, member, branch)
        except InvalidInput as exc:
            raise NotFound(exc.errors["period"]) from exc
        show_rank = sees_town_ranks(request)
        if not target.open:
            return _form_page(
                target, error=_closed_message(target), status_code=409, show_rank=show_rank
            )
        return _form_page(target, show_rank=show_rank)

    @post("/new", sync_to_thread=True)
    def create(
        self, request: Request[Any, Any, Any], db: Db, principal: Actor, data: FormData
    ) -> Template | Redirect:
        form = first_value(data)
        text = str(form.get("text", ""))
        period = str(form.get("period", ""))
        try:
            target = _target(db, period, form.get("member"), form.get("branch"))
        except InvalidInput as exc:
            raise NotFound(exc.errors["period"]) from exc
        settings: Settings = request.app.state.settings
        return self._raise(
            db, principal, target, text, settings.objections_per_month, sees_town_ranks(request)
        )

    @staticmethod
    def _raise(
        db: Session,
        principal: Principal,
        target: ObjectionTarget,
        text: str,
        limit: int,
        show_rank: bool,
    ) -> Template | Redirect:
        try:
            raise_objection(
                db, principal, target.period, target.line, text, now=utcnow(), limit=limit
            )
        except InvalidInput as exc:
            db.rollback()
            errors = domain_field_errors(exc)
            return _form_page(
                target, text=text, errors=errors, status_code=422, show_rank=show_rank
            )
        except Conflict as exc:
            db.rollback()
            return _form_page(
                target, text=text, error=render(exc.message), status_code=409, show_rank=show_rank
            )
        return Redirect("/objections?done=objected", status_code=303)
