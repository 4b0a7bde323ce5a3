"""A branch's page for its reviewers: suggestions and their steps, members, the form
that records a deduction or adjustment, and the branch's roster (its secretary edits it,
its instructors read it)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from service.accounts.bulk import can_create_bulk_accounts
from service.accounts.permissions import can_edit_member, can_edit_roster, can_record_in_branch
from service.accounts.principal import Principal
from service.entries.adjustments import (
    MANUAL_LIMIT,
    AdjustmentInput,
    adjustable_members,
    record_adjustment,
)
from service.entries.suggestions import (
    STEPS,
    branch_name,
    branch_suggestions_page,
    mark_step,
    reviewer_branches_page,
)
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.meetings.compliance import branch_compliance
from service.notify.robots_config import can_manage_robots
from service.people.fields import BRANCH_KIND_LABELS, MEMBER_STATUS_LABELS
from service.people.members import (
    branch_members,
    create_member,
    member_for_edit,
    parse_member,
    roster_branch,
    roster_editor_check,
    search_members,
    update_member,
)
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.scoring.engine import MANUAL_RULE_ID
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, RecordId, Rules, town_date
from web.forms import (
    EMPTY_MEMBER,
    FormData,
    domain_field_errors,
    first_value,
    labels,
    member_form_context,
    member_values,
    parse_form,
)
from web.guards import requires_reviewer
from web.i18n import render
from web.notices import notice

NOTICES = {
    "adopted": N_("The suggestion is marked adopted; its points are added."),
    "implemented": N_("The suggestion is marked implemented; its points are added."),
}
ROSTER_NOTICES = {
    "member_created": N_("The member was added to the roster."),
    "member_saved": N_("The member was saved."),
}


class StepForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    day: date


class AdjustmentForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    member_id: int
    rule_id: str = Field(min_length=1)
    day: date
    quantity: Decimal = Field(
        default=Decimal(1), max_digits=6, decimal_places=1, allow_inf_nan=False
    )
    points: Decimal | None = Field(
        default=None, max_digits=6, decimal_places=1, allow_inf_nan=False
    )
    reason: str = ""


def _branch_page(
    db: Session,
    principal: Principal,
    rulebook: Rulebook,
    branch_id: int,
    today: date,
    *,
    page: int = 1,
    notice_text: str | None = None,
    error: str | None = None,
    field_errors: dict[int, str] | None = None,
    days: dict[int, str] | None = None,
    status_code: int = 200,
) -> Template:
    suggestions = branch_suggestions_page(db, principal, rulebook, branch_id, page=page)
    meetings = branch_compliance(db, rulebook, branch_id, today.year, as_of=today)
    return Template(
        "branches/branch.html",
        context={
            "branch_id": branch_id,
            "branch_name": branch_name(db, principal, branch_id),
            "suggestions": suggestions,
            "members": branch_members(db, principal, branch_id),
            "meetings": meetings,
            "meeting_labels": {k.kind: render(k.label) for k in meetings.kinds},
            "can_record": can_record_in_branch(principal, branch_id),
            "can_create_accounts": can_create_bulk_accounts(principal, branch_id),
            "can_manage_robots": can_manage_robots(principal, branch_id),
            "today": today.isoformat(),
            "notice": notice_text,
            "error": error,
            "field_errors": field_errors or {},
            "days": days or {},
        },
        status_code=status_code,
    )


def _adjustment_page(
    db: Session,
    principal: Principal,
    rulebook: Rulebook,
    branch_id: int,
    today: date,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    members = adjustable_members(db, principal, branch_id)
    ruleset = rulebook.in_force(today)
    return Template(
        "branches/adjustment_new.html",
        context={
            "branch_id": branch_id,
            "branch_name": branch_name(db, principal, branch_id),
            "members": members,
            "rules": ruleset.secretary_rules() if ruleset else (),
            "manual_rule_id": MANUAL_RULE_ID,
            "manual_limit": MANUAL_LIMIT,
            "today": today.isoformat(),
            "values": values,
            "errors": errors,
        },
        status_code=status_code,
    )


def _adjustment_form_errors(values: dict[str, Any]) -> AdjustmentForm | dict[str, str]:
    # An empty optional box means "not given", not "not a number".
    cleaned = {k: v for k, v in values.items() if not (k in {"points", "quantity"} and not v)}
    parsed = parse_form(AdjustmentForm, cleaned)
    if not isinstance(parsed, dict):
        return parsed
    errors = dict(parsed)
    if "member_id" in errors:
        errors["member_id"] = render(Message(N_("Choose a member from the list.")))
    if "rule_id" in errors:
        errors["rule_id"] = render(Message(N_("Choose an item from the list.")))
    if not str(values.get("reason", "")).strip():
        errors["reason"] = render(Message(N_("Give the branch's decision as the reason.")))
    return errors


class BranchesController(Controller):
    path = "/branches"
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def index(self, db: Db, principal: Actor, page: FromQuery[str | None] = None) -> Template:
        branches = reviewer_branches_page(db, principal, page=page_number(page))
        return Template("branches/index.html", context={"branches": branches})

    @get("/{branch_id:str}", sync_to_thread=True)
    def branch(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        branch_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        return _branch_page(
            db,
            principal,
            rulebook,
            branch_id,
            town_date(request),
            page=page_number(page),
            notice_text=notice(done, NOTICES),
        )

    @post("/{branch_id:str}/suggestions/{entry_id:str}/{step:str}", sync_to_thread=True)
    def mark(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        branch_id: FromPath[RecordId],
        entry_id: FromPath[RecordId],
        step: FromPath[str],
        data: FormData,
        page: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        if step not in STEPS:
            raise NotFound(Message(N_("No such step.")))
        today = town_date(request)
        # The page of suggestions the form was on: an error shows it again, and so does
        # the answer after the step is marked.
        number = page_number(page)
        values = first_value(data)
        typed = str(values.get("day", ""))
        parsed = parse_form(StepForm, values)
        try:
            if isinstance(parsed, dict):
                raise InvalidInput({"day": Message("%(text)s", {"text": parsed["day"]})})
            mark_step(
                db,
                principal,
                rulebook,
                entry_id,
                step,
                day=parsed.day,
                today=today,
                now=utcnow(),
                branch_id=branch_id,
            )
        except InvalidInput as exc:
            db.rollback()
            return _branch_page(
                db,
                principal,
                rulebook,
                branch_id,
                today,
                page=number,
                field_errors={entry_id: render(next(iter(exc.errors.values())))},
                days={entry_id: typed},
                status_code=422,
            )
        except Conflict as exc:
            db.rollback()
            return _branch_page(
                db,
                principal,
                rulebook,
                branch_id,
                today,
                page=number,
                error=render(exc.message),
                status_code=409,
            )
        suffix = f"&page={number}" if number > 1 else ""
        return Redirect(f"/branches/{branch_id}?done={step}{suffix}", status_code=303)

    @get("/{branch_id:str}/adjustments/new", sync_to_thread=True)
    def new_adjustment(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        branch_id: FromPath[RecordId],
        member: FromQuery[RecordId | None] = None,
    ) -> Template:
        today = town_date(request)
        values = {
            "member_id": str(member) if member is not None else "",
            "rule_id": "",
            "day": today.isoformat(),
            "quantity": "1",
            "points": "",
            "reason": "",
        }
        return _adjustment_page(db, principal, rulebook, branch_id, today, values, {})

    @post("/{branch_id:str}/adjustments/new", sync_to_thread=True)
    def create_adjustment(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        branch_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        today = town_date(request)
        values = first_value(data)
        # The page itself checks who may record here, before anything is read.
        adjustable_members(db, principal, branch_id)
        parsed = _adjustment_form_errors(values)
        if isinstance(parsed, dict):
            return _adjustment_page(
                db, principal, rulebook, branch_id, today, values, parsed, status_code=422
            )
        manual = parsed.rule_id == MANUAL_RULE_ID
        try:
            record_adjustment(
                db,
                principal,
                rulebook,
                AdjustmentInput(
                    member_id=parsed.member_id,
                    rule_id=parsed.rule_id,
                    day=parsed.day,
                    reason=parsed.reason,
                    quantity=Decimal(1) if manual else parsed.quantity,
                    points=parsed.points if manual else None,
                    branch_id=branch_id,
                ),
                today=today,
                now=utcnow(),
            )
        except InvalidInput as exc:
            db.rollback()
            return _adjustment_page(
                db,
                principal,
                rulebook,
                branch_id,
                today,
                values,
                domain_field_errors(exc),
                status_code=422,
            )
        return Redirect(
            f"/members/{parsed.member_id}/points?year={parsed.day.year}&done=adjusted",
            status_code=303,
        )


def _roster_form(
    db: Session,
    principal: Principal,
    branch_id: int,
    member_id: int | None,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    notice_text: str | None = None,
    status_code: int = 200,
) -> Template:
    branch = roster_branch(db, principal, branch_id)
    context = member_form_context(db, branch_id=branch_id, values=values, errors=errors)
    context.update(
        branch_id=branch_id,
        branch_name=branch.name,
        branches=[],
        member_id=member_id,
        can_edit=can_edit_roster(principal, branch_id)
        if member_id is None
        else can_edit_member(principal, member_id, branch_id),
        own_record=member_id is not None and member_id == principal.member_id,
        notice=notice_text,
        action=f"/branches/{branch_id}/roster/{member_id}"
        if member_id
        else f"/branches/{branch_id}/roster/new",
    )
    return Template("branches/roster_member.html", context=context, status_code=status_code)


class RosterController(Controller):
    """/branches/{id}/roster: the branch's members for its secretary (edits), its
    instructors (read) and the office. The service checks the branch for each call."""

    path = "/branches/{branch_id:str}/roster"
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def roster(
        self,
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        q: FromQuery[str] = "",
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        branch = roster_branch(db, principal, branch_id)
        result = search_members(db, principal, q, branch_id=branch_id, page=page_number(page))
        return Template(
            "branches/roster.html",
            context={
                "branch": branch,
                "result": result,
                "q": q,
                "statuses": labels(MEMBER_STATUS_LABELS),
                "kinds": labels(BRANCH_KIND_LABELS),
                "can_edit": can_edit_roster(principal, branch_id),
                "notice": notice(done, ROSTER_NOTICES),
            },
        )

    @get("/new", sync_to_thread=True)
    def new_member(self, db: Db, principal: Actor, branch_id: FromPath[RecordId]) -> Template:
        roster_editor_check(db, principal, branch_id)
        values = {**EMPTY_MEMBER, "branch_id": str(branch_id)}
        return _roster_form(db, principal, branch_id, None, values, {})

    @post("/new", sync_to_thread=True)
    def create_member(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        roster_editor_check(db, principal, branch_id)
        values = {**first_value(data), "branch_id": str(branch_id)}
        try:
            create_member(
                db,
                principal,
                parse_member(values, today=town_date(request)),
                branch_id=branch_id,
                now=utcnow(),
            )
        except InvalidInput as exc:
            db.rollback()
            return _roster_form(
                db, principal, branch_id, None, values, domain_field_errors(exc), status_code=422
            )
        return Redirect(f"/branches/{branch_id}/roster?done=member_created", status_code=303)

    @get("/{member_id:str}", sync_to_thread=True)
    def member(
        self,
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        member_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        member = member_for_edit(db, principal, member_id, branch_id=branch_id)
        return _roster_form(
            db,
            principal,
            branch_id,
            member_id,
            member_values(member),
            {},
            notice_text=notice(done, ROSTER_NOTICES),
        )

    @post("/{member_id:str}", sync_to_thread=True)
    def save_member(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        member_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        roster_editor_check(db, principal, branch_id, member_id)
        values = {**first_value(data), "branch_id": str(branch_id)}
        try:
            update_member(
                db,
                principal,
                member_id,
                parse_member(values, today=town_date(request)),
                branch_id=branch_id,
            )
        except InvalidInput as exc:
            db.rollback()
            return _roster_form(
                db,
                principal,
                branch_id,
                member_id,
                values,
                domain_field_errors(exc),
                status_code=422,
            )
        return Redirect(
            f"/branches/{branch_id}/roster/{member_id}?done=member_saved", status_code=303
        )
