"""A member's entries: declare, list, withdraw."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, ConfigDict, Field

from service.config import Settings
from service.entries import EntryInput, member_entries, submit_entry, withdraw_entry
from service.errors import InvalidInput
from service.periods import town_today
from service.types import utcnow
from web.auth import requires_member
from web.deps import Actor, Db, Rules
from web.forms import domain_field_errors, first_value, parse_form
from web.notices import notice

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


class EntryForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    rule_id: str = Field(min_length=1)
    activity_date: date
    quantity: Decimal = Field(
        default=Decimal(1), max_digits=6, decimal_places=1, allow_inf_nan=False
    )
    description: str = Field(min_length=1, max_length=4000)


def _today(request: Request[Any, Any, Any]) -> date:
    settings: Settings = request.app.state.settings
    return town_today(utcnow(), settings.timezone)


def _form_page(
    request: Request[Any, Any, Any],
    rulebook: Rules,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    today = _today(request)
    ruleset = rulebook.in_force(today)
    rules = ruleset.declarable_rules() if ruleset else ()
    return Template(
        "entries/new.html",
        context={"rules": rules, "values": values, "errors": errors, "today": today.isoformat()},
        status_code=status_code,
    )


class EntriesController(Controller):
    path = "/entries"
    guards = [requires_member]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def list_entries(
        self, db: Db, principal: Actor, done: FromQuery[str | None] = None
    ) -> Template:
        return Template(
            "entries/list.html",
            context={"entries": member_entries(db, principal), "notice": notice(done)},
        )

    @get("/new", sync_to_thread=False)
    def new_entry_form(self, request: Request[Any, Any, Any], rulebook: Rules) -> Template:
        values = {
            "rule_id": "",
            "activity_date": _today(request).isoformat(),
            "quantity": "1",
            "description": "",
        }
        return _form_page(request, rulebook, values, {})

    @post("/new", sync_to_thread=True)
    def create_entry(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        data: FormData,
    ) -> Template | Redirect:
        values = first_value(data)
        parsed = parse_form(EntryForm, values)
        if isinstance(parsed, dict):
            return _form_page(request, rulebook, values, parsed, status_code=422)
        try:
            submit_entry(
                db,
                principal,
                rulebook,
                EntryInput(
                    rule_id=parsed.rule_id,
                    activity_date=parsed.activity_date,
                    quantity=parsed.quantity,
                    description=parsed.description,
                ),
                today=_today(request),
                now=utcnow(),
            )
        except InvalidInput as exc:
            return _form_page(request, rulebook, values, domain_field_errors(exc), 422)
        return Redirect("/entries?done=submitted", status_code=303)

    @post("/{entry_id:int}/withdraw", sync_to_thread=True)
    def withdraw(self, db: Db, principal: Actor, entry_id: FromPath[int]) -> Redirect:
        withdraw_entry(db, principal, entry_id, now=utcnow())
        return Redirect("/entries?done=withdrawn", status_code=303)
