"""The office's banding pages: the periods that can be banded, running a banding, past
runs with their counts, a run's red and yellow lines and publishing its red list."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.bands import (
    band_runs,
    band_span,
    bandable_periods,
    publish_red_list,
    run_banding,
    run_view,
)
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, Rules
from web.forms import FormData, domain_field_errors, first_value
from web.guards import requires_admin, requires_reviewer
from web.i18n import render
from web.notices import notice

AnyRequest = Request[Any, Any, Any]

BAND_NOTICES = {
    "banded": N_("The period is banded; its warning cases are open for the secretaries."),
    "published": N_("The red list is published for public notice."),
}


def bands_page(
    db: Session,
    principal: Principal,
    rulebook: Rulebook,
    *,
    period: str = "",
    errors: dict[str, str] | None = None,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    now = utcnow()
    return Template(
        "warnings/bands.html",
        context={
            "runs": band_runs(db, principal),
            "periods": bandable_periods(db, rulebook, now),
            "period": period,
            "errors": errors or {},
            "error": error,
            "notice": notice(done, BAND_NOTICES),
        },
        status_code=status_code,
    )


def _period(rulebook: Rulebook, period: str) -> str:
    """The period of an address, or 404 for text that names no bandable period."""
    try:
        return band_span(rulebook, period).key
    except InvalidInput as exc:
        raise NotFoundException() from exc


class BandsController(Controller):
    path = "/bands"
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True, guards=[requires_admin])
    def list_runs(
        self, db: Db, principal: Actor, rulebook: Rules, done: FromQuery[str | None] = None
    ) -> Template:
        return bands_page(db, principal, rulebook, done=done)

    @post("/", sync_to_thread=True, guards=[requires_admin])
    def run(self, db: Db, principal: Actor, rulebook: Rules, data: FormData) -> Template | Redirect:
        period = str(first_value(data).get("period") or "").strip()
        try:
            run = run_banding(db, principal, rulebook, period, utcnow())
        except InvalidInput as exc:
            return bands_page(
                db, principal, rulebook, period=period, errors=domain_field_errors(exc),
                status_code=422,
            )  # fmt: skip
        except Conflict as exc:
            return bands_page(
                db, principal, rulebook, period=period, error=render(exc.message),
                status_code=409,
            )  # fmt: skip
        return Redirect(f"/bands/{run.period}?done=banded", status_code=303)

    @get("/{band_period:str}", sync_to_thread=True)
    def show_run(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        band_period: FromPath[str],
        done: FromQuery[str | None] = None,
    ) -> Template:
        view = run_view(db, principal, rulebook, _period(rulebook, band_period))
        return Template(
            "warnings/run.html",
            context={"v": view, "notice": notice(done, BAND_NOTICES)},
        )

    @post("/{band_period:str}/publish", sync_to_thread=True, guards=[requires_admin])
    def publish(
        self, db: Db, principal: Actor, rulebook: Rules, band_period: FromPath[str]
    ) -> Template | Redirect:
        key = _period(rulebook, band_period)
        try:
            publish_red_list(db, principal, rulebook, key, utcnow())
        except Conflict as exc:
            view = run_view(db, principal, rulebook, key)
            return Template(
                "warnings/run.html",
                context={"v": view, "error": render(exc.message)},
                status_code=409,
            )
        return Redirect(f"/bands/{key}?done=published", status_code=303)
