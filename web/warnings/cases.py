"""Warning cases (预警): the list (secretaries, instructors, the office; a member sees
their own), a case's page, and what is done on it: record a talk, close the case, the
member's response. A refusal shows the case again with the message beside its form."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.warnings import (
    CaseFilter,
    case_view,
    close_case,
    list_cases,
    parse_filter,
    record_talk,
    respond,
)
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from web.deps import Actor, Db, RecordId, town_date
from web.forms import FormData, domain_field_errors, first_value
from web.guards import requires_login
from web.i18n import render
from web.notices import notice

AnyRequest = Request[Any, Any, Any]

CASE_NOTICES = {
    "talk": N_("The talk is recorded; the member sees the agreed actions."),
    "closed": N_("The case is closed."),
    "responded": N_("Your response is saved; your secretary will read it."),
}
TALK_FIELDS = ("talked_on", "talked_by", "notes", "actions", "deadline")


def case_page(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    case_id: int,
    *,
    done: str | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    today = town_date(request)
    view = case_view(db, principal, case_id, today=today)
    defaults = {"talked_on": today.isoformat(), "talked_by": principal.display_name}
    return Template(
        "warnings/case.html",
        context={
            "c": view,
            "notice": notice(done, CASE_NOTICES),
            "error": error,
            "errors": errors or {},
            "values": {**defaults, "response": view.response, **(values or {})},
        },
        status_code=status_code,
    )


def _refused(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    case_id: int,
    exc: InvalidInput | Conflict,
    form: str,
    values: dict[str, str],
) -> Template:
    if isinstance(exc, InvalidInput):
        errors = {f"{form}.{key}": text for key, text in domain_field_errors(exc).items()}
        return case_page(
            request, db, principal, case_id, errors=errors, values=values, status_code=422
        )
    return case_page(
        request, db, principal, case_id, error=render(exc.message), values=values,
        status_code=409,
    )  # fmt: skip


def _texts(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    posted = first_value(data)
    return {name: str(posted.get(name) or "") for name in names}


class WarningsController(Controller):
    path = "/warnings"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def list_page(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        show: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        which = parse_filter(show)
        result = list_cases(
            db, principal, today=town_date(request), which=which, page=page_number(page)
        )
        return Template(
            "warnings/list.html",
            context={"cases": result, "show": which.value, "filters": list(CaseFilter)},
        )

    @get("/{case_id:str}", sync_to_thread=True)
    def show_case(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        case_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return case_page(request, db, principal, case_id, done=done)

    @post("/{case_id:str}/talk", sync_to_thread=True)
    def talk(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        case_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        values = _texts(data, TALK_FIELDS)
        try:
            record_talk(db, principal, case_id, **values, today=town_date(request), now=utcnow())
        except (InvalidInput, Conflict) as exc:
            return _refused(request, db, principal, case_id, exc, "talk", values)
        return Redirect(f"/warnings/{case_id}?done=talk", status_code=303)

    @post("/{case_id:str}/close", sync_to_thread=True)
    def close(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        case_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        values = _texts(data, ("outcome", "outcome_note"))
        try:
            close_case(
                db, principal, case_id, outcome=values["outcome"], note=values["outcome_note"],
                now=utcnow(),
            )  # fmt: skip
        except (InvalidInput, Conflict) as exc:
            return _refused(request, db, principal, case_id, exc, "close", values)
        return Redirect(f"/warnings/{case_id}?done=closed", status_code=303)

    @post("/{case_id:str}/respond", sync_to_thread=True)
    def respond_to(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        case_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        values = _texts(data, ("response",))
        try:
            respond(db, principal, case_id, text=values["response"], now=utcnow())
        except (InvalidInput, Conflict) as exc:
            return _refused(request, db, principal, case_id, exc, "respond", values)
        return Redirect(f"/warnings/{case_id}?done=responded", status_code=303)
