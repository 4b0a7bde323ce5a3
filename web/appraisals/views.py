"""The appraisal pages: thin handlers over ``service.assessment.appraisal`` (one service
call each, then render, or redirect 303). The sheet is one form: a row per member; a
refused save shows every typed value again with the message beside its field."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.appraisal import (
    LineInput,
    Sheet,
    appraisal_sheet,
    appraisal_years,
    approve_appraisal,
    open_appraisal,
    refresh_points,
    return_appraisal,
    save_sheet,
    submit_appraisal,
)
from service.assessment.appraisal_lists import (
    appraisals_for,
    excellent_published,
    own_appraisal_lines,
    publish_excellent,
)
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_
from service.kernel.numbers import parse_id, parse_int
from service.persistence.assessment import Grade
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, RecordId, Rules, town_date
from web.forms import FormData, domain_field_errors, first_value
from web.guards import requires_login
from web.i18n import render
from web.notices import notice

AnyRequest = Request[Any, Any, Any]

APPRAISAL_NOTICES = {
    "opened": N_("The sheet is open: enter the appraisal inputs and the grades."),
    "saved": N_("The sheet was saved."),
    "refreshed": N_("The year's points and stars were taken again."),
    "submitted": N_("The sheet was submitted for approval."),
    "approved": N_("The sheet is approved and frozen."),
    "returned": N_("The sheet was returned to the branch with your reason."),
    "published": N_("The year's excellent list is published."),
}

GRADES = [grade.value for grade in Grade]


def sheet_values(sheet: Sheet) -> dict[str, str]:
    """The form's fields as the sheet stores them: ``l{line id}.{field}``."""
    values: dict[str, str] = {}
    for line in sheet.lines:
        key = f"l{line.id}"
        for item in sheet.policy.inputs:
            values[f"{key}.{item.id}"] = line.inputs.get(item.id, "")
        values[f"{key}.veto"] = "1" if line.veto else ""
        values[f"{key}.veto_reason"] = line.veto_reason
        values[f"{key}.grade"] = line.grade.value if line.grade else ""
        values[f"{key}.departure_reason"] = line.departure_reason
    return values


def read_lines(sheet: Sheet, data: dict[str, Any]) -> tuple[dict[int, LineInput], dict[str, str]]:
    """Each line's posted values, and every field as typed (to show again)."""
    fields = {key: str(value) for key, value in first_value(data).items()}
    lines: dict[int, LineInput] = {}
    typed: dict[str, str] = {}
    for line in sheet.lines:
        key = f"l{line.id}"
        if f"{key}.grade" not in fields:
            continue  # a form without this row (the member joined after it was loaded)
        inputs = {item.id: fields.get(f"{key}.{item.id}", "") for item in sheet.policy.inputs}
        veto = fields.get(f"{key}.veto", "") != ""
        lines[line.id] = LineInput(
            inputs=inputs,
            veto=veto,
            veto_reason=fields.get(f"{key}.veto_reason", ""),
            grade=fields.get(f"{key}.grade", ""),
            departure_reason=fields.get(f"{key}.departure_reason", ""),
        )
        for name in [*inputs, "veto_reason", "grade", "departure_reason"]:
            typed[f"{key}.{name}"] = fields.get(f"{key}.{name}", "")
        typed[f"{key}.veto"] = "1" if veto else ""
    return lines, typed


def line_errors(exc: InvalidInput) -> dict[str, str]:
    """The service's ``{line id}.{field}`` keys as the form's ``l{line id}.{field}``."""
    return {
        (key if key in {"sheet", "reason", "year"} else f"l{key}"): text
        for key, text in domain_field_errors(exc).items()
    }


def sheet_page(
    db: Session,
    principal: Principal,
    rulebook: Rulebook,
    appraisal_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    sheet = appraisal_sheet(db, principal, rulebook, appraisal_id)
    shown = sheet_values(sheet)
    shown.update(values or {})
    return Template(
        "appraisals/sheet.html",
        context={
            "sheet": sheet,
            "values": shown,
            "errors": errors or {},
            "error": error,
            "notice": notice(done, APPRAISAL_NOTICES),
            "grades": GRADES,
        },
        status_code=status_code,
    )


def _back(appraisal_id: int, done: str) -> Redirect:
    return Redirect(f"/appraisals/{appraisal_id}?done={done}", status_code=303)


class AppraisalsController(Controller):
    path = "/appraisals"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def list_appraisals(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        year: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        now = utcnow()
        years = appraisal_years(rulebook, now)
        chosen = parse_int(year or "", low=1900, high=9999)
        if chosen not in years:
            chosen = years[0] if years else town_date(request).year
        return Template(
            "appraisals/list.html",
            context={
                "rows": appraisals_for(db, principal, chosen, page=page_number(page)),
                "year": chosen,
                "years": years,
                "published": excellent_published(db, chosen),
                "notice": notice(done, APPRAISAL_NOTICES),
                "is_office": principal.is_admin,
                "own": own_appraisal_lines(db, principal),
            },
        )

    @post("/new", sync_to_thread=True)
    def open_sheet(
        self, db: Db, principal: Actor, rulebook: Rules, data: FormData
    ) -> Redirect | Template:
        fields = first_value(data)
        branch_id = parse_id(str(fields.get("branch_id", ""))) or 0
        year = parse_int(str(fields.get("year", "")), low=1900, high=9999) or 0
        try:
            appraisal_id = open_appraisal(
                db, principal, rulebook, branch_id=branch_id, year=year, now=utcnow()
            )
        except (InvalidInput, Conflict) as exc:
            message = (
                " ".join(domain_field_errors(exc).values())
                if isinstance(exc, InvalidInput)
                else render(exc.message)
            )
            return Template("appraisals/refused.html", context={"error": message}, status_code=409)
        return _back(appraisal_id, "opened")

    @get("/{appraisal_id:str}", sync_to_thread=True)
    def sheet(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        appraisal_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return sheet_page(db, principal, rulebook, appraisal_id, done=done)

    @post("/{appraisal_id:str}", sync_to_thread=True)
    def save(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        appraisal_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        sheet = appraisal_sheet(db, principal, rulebook, appraisal_id)
        lines, typed = read_lines(sheet, data)
        submit = first_value(data).get("action") == "submit"
        try:
            save_sheet(db, principal, rulebook, appraisal_id, lines)
            if submit:
                submit_appraisal(db, principal, rulebook, appraisal_id, now=utcnow())
        except InvalidInput as exc:
            # A refused submission keeps what was saved; a refused save saved nothing.
            return sheet_page(
                db, principal, rulebook, appraisal_id,
                values=typed, errors=line_errors(exc), status_code=422,
            )  # fmt: skip
        except Conflict as exc:
            return sheet_page(
                db, principal, rulebook, appraisal_id,
                error=render(exc.message), status_code=409,
            )  # fmt: skip
        return _back(appraisal_id, "submitted" if submit else "saved")

    @post("/{appraisal_id:str}/refresh", sync_to_thread=True)
    def refresh(
        self, db: Db, principal: Actor, rulebook: Rules, appraisal_id: FromPath[RecordId]
    ) -> Redirect | Template:
        try:
            refresh_points(db, principal, rulebook, appraisal_id, now=utcnow())
        except Conflict as exc:
            return sheet_page(
                db, principal, rulebook, appraisal_id, error=render(exc.message), status_code=409
            )
        return _back(appraisal_id, "refreshed")

    @post("/{appraisal_id:str}/approve", sync_to_thread=True)
    def approve(
        self, db: Db, principal: Actor, rulebook: Rules, appraisal_id: FromPath[RecordId]
    ) -> Redirect | Template:
        try:
            approve_appraisal(db, principal, appraisal_id, now=utcnow())
        except Conflict as exc:
            return sheet_page(
                db, principal, rulebook, appraisal_id, error=render(exc.message), status_code=409
            )
        return _back(appraisal_id, "approved")

    @post("/{appraisal_id:str}/return", sync_to_thread=True)
    def send_back(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        appraisal_id: FromPath[RecordId],
        data: FormData,
    ) -> Redirect | Template:
        reason = str(first_value(data).get("reason", ""))
        try:
            return_appraisal(db, principal, appraisal_id, reason)
        except InvalidInput as exc:
            return sheet_page(
                db, principal, rulebook, appraisal_id,
                values={"reason": reason}, errors=line_errors(exc), status_code=422,
            )  # fmt: skip
        except Conflict as exc:
            return sheet_page(
                db, principal, rulebook, appraisal_id, error=render(exc.message), status_code=409
            )
        return _back(appraisal_id, "returned")

    @get("/{appraisal_id:str}/print", sync_to_thread=True)
    def print_sheet(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        appraisal_id: FromPath[RecordId],
    ) -> Template:
        sheet = appraisal_sheet(db, principal, rulebook, appraisal_id)
        return Template(
            "appraisals/print.html",
            context={"sheet": sheet, "printed_on": town_date(request)},
        )

    @post("/excellent/{year:str}/publish", sync_to_thread=True)
    def publish(
        self, db: Db, principal: Actor, rulebook: Rules, year: FromPath[RecordId]
    ) -> Redirect | Template:
        try:
            publish_excellent(db, principal, rulebook, year, now=utcnow())
        except (InvalidInput, Conflict) as exc:
            message = (
                " ".join(domain_field_errors(exc).values())
                if isinstance(exc, InvalidInput)
                else render(exc.message)
            )
            return Template("appraisals/refused.html", context={"error": message}, status_code=409)
        return Redirect(f"/appraisals?year={year}&done=published", status_code=303)
