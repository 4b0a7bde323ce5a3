"""A member's points explained line by line: /me/points and /members/{id}/points."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.permissions import can_record_adjustment
from service.accounts.principal import Principal
from service.entries.review import revoke_member_entry
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_
from service.kernel.numbers import parse_int
from service.ledger.explain import Explanation, can_revoke, explain_for
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, RecordId, Rules, town_date
from web.forms import FormData, first_value
from web.guards import requires_login, requires_member
from web.i18n import render
from web.notices import notice

# The years a points page can show: the town's rules start in the 2020s.
FIRST_YEAR = 2000

NOTICES = {
    "revoked": N_("The approval was revoked; the points below no longer count it."),
    "adjusted": N_("The deduction or adjustment was recorded; it is in the lines below."),
}


def checked_year(year: int | None, today: date) -> int:
    """The year asked for, this year by default; years without any possible points are
    not pages."""
    if year is None:
        return today.year
    if not FIRST_YEAR <= year <= today.year:
        raise NotFoundException()
    return year


def points_page(
    db: Session,
    principal: Principal,
    rulebook: Rulebook,
    member_id: int,
    year: int,
    today: date,
    *,
    own_page: bool,
    notice_text: str | None = None,
    error: str | None = None,
    field_errors: dict[int, str] | None = None,
    reasons: dict[int, str] | None = None,
    status_code: int = 200,
) -> Template:
    explanation: Explanation = explain_for(db, principal, rulebook, member_id, year, as_of=today)
    revocable = frozenset(
        line.source_id
        for line in explanation.lines
        if not own_page and can_revoke(principal, member_id, line)
    )
    base_path = "/me/points" if own_page else f"/members/{member_id}/points"
    return Template(
        "points/explain.html",
        context={
            "explanation": explanation,
            "own_page": own_page,
            "base_path": base_path,
            "previous_year": year - 1 if year > FIRST_YEAR else None,
            "next_year": year + 1 if year < today.year else None,
            "revocable": revocable,
            "can_adjust": not own_page
            and can_record_adjustment(principal, member_id, explanation.branch_id),
            "notice": notice_text,
            "error": error,
            "field_errors": field_errors or {},
            "reasons": reasons or {},
        },
        status_code=status_code,
    )


class PointsController(Controller):
    path = ""

    @get("/me/points", guards=[requires_member], sync_to_thread=True)
    def my_points(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        year: FromQuery[int | None] = None,
    ) -> Template:
        today = town_date(request)
        assert principal.member_id is not None  # requires_member
        return points_page(
            db,
            principal,
            rulebook,
            principal.member_id,
            checked_year(year, today),
            today,
            own_page=True,
        )

    @get("/members/{member_id:str}/points", guards=[requires_login], sync_to_thread=True)
    def member_points(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        member_id: FromPath[RecordId],
        year: FromQuery[int | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        today = town_date(request)
        return points_page(
            db,
            principal,
            rulebook,
            member_id,
            checked_year(year, today),
            today,
            own_page=False,
            notice_text=notice(done, NOTICES),
        )

    @post(
        "/members/{member_id:str}/points/entries/{entry_id:str}/revoke",
        guards=[requires_login],
        sync_to_thread=True,
    )
    def revoke(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        member_id: FromPath[RecordId],
        entry_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        today = town_date(request)
        values = first_value(data)
        reason = str(values.get("reason", ""))
        try:
            year = revoke_member_entry(
                db, principal, rulebook, member_id, entry_id, reason, now=utcnow()
            )
        except (InvalidInput, Conflict) as exc:
            db.rollback()
            field_errors: dict[int, str] = {}
            error = None
            if isinstance(exc, InvalidInput) and "reason" in exc.errors:
                field_errors[entry_id] = render(exc.errors["reason"])
            else:
                error = render(exc.message)
            return points_page(
                db,
                principal,
                rulebook,
                member_id,
                _form_year(values.get("year"), today),
                today,
                own_page=False,
                error=error,
                field_errors=field_errors,
                reasons={entry_id: reason},
                status_code=409 if isinstance(exc, Conflict) else 422,
            )
        return Redirect(f"/members/{member_id}/points?year={year}&done=revoked", status_code=303)


def _form_year(value: Any, today: date) -> int:
    """The year of the page the form was on; this year when it is not one."""
    year = parse_int(value, low=FIRST_YEAR, high=today.year)
    return today.year if year is None else year
