"""The office's publication pages (公示): months and their state, publishing, the
digest chain, revisions and what changed, corrections and objections. Admins only."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_
from service.kernel.periods import PERIOD_PATTERN
from service.persistence.types import utcnow
from service.publication.chain import BREAK_LABELS, verify_chain
from service.publication.corrections import open_correction, publish_correction
from service.publication.diff import diff_revisions
from service.publication.objections import RESOLUTION_LABELS, month_objections, resolve_objection
from service.publication.overview import months_overview
from service.publication.publish import publish_month, publish_preview
from service.publication.state import (
    MONTH_STATE_LABELS,
    MonthState,
    month_state,
    pending_by_branch,
    unclosed_meetings,
)
from service.publication.stored import published_month
from web.deps import Actor, Db, RecordId, Rules
from web.forms import FormData, domain_field_errors, first_value
from web.guards import requires_admin
from web.i18n import gettext, render
from web.notices import notice

NOTICES = {
    "published": N_("The month is published; objections are taken until the date shown."),
    "correcting": N_("Correction opened: the month may change until you publish the correction."),
    "corrected": N_("The correction is published as a new revision."),
    "resolved": N_("The objection is answered and resolved."),
}


def _checked(period: str) -> str:
    if not PERIOD_PATTERN.fullmatch(period):
        raise NotFoundException()
    return period


def _state_label(state: MonthState) -> str:
    return gettext(MONTH_STATE_LABELS[state])


def _index_page(
    db: Session,
    rulebook: Rules,
    *,
    notice_text: str | None = None,
) -> Template:
    now = utcnow()
    report = verify_chain(db)
    return Template(
        "admin/publication.html",
        context={
            "months": months_overview(db, rulebook, now=now),
            "state_label": _state_label,
            "chain": report,
            "break_label": lambda kind: gettext(BREAK_LABELS[kind]),
            "notice": notice_text,
        },
    )


def _month_page(
    db: Session,
    principal: Principal,
    period: str,
    *,
    notice_text: str | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    answer_errors: dict[int, dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    now = utcnow()
    published = published_month(db, period, now=now)
    diffs = []
    if published is not None:
        for info in published.revisions[1:]:
            diffs.append(diff_revisions(db, period, info.revision - 1, info.revision))
    state = month_state(db, period, now)
    return Template(
        "admin/publication_month.html",
        context={
            "period": period,
            "published": published,
            "state": state.value,
            "state_text": _state_label(state),
            "pending": pending_by_branch(db, period),
            "unclosed": unclosed_meetings(db, period),
            "diffs": diffs,
            "objections": month_objections(db, principal, period),
            "resolution_label": lambda value: gettext(RESOLUTION_LABELS[value]),
            "notice": notice_text,
            "error": error,
            "errors": errors or {},
            "answer_errors": answer_errors or {},
            "values": values or {},
        },
        status_code=status_code,
    )


def _confirm_page(
    db: Session,
    principal: Principal,
    rulebook: Rules,
    period: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    """What publishing the month would freeze, with the form that publishes it."""
    preview = publish_preview(db, principal, rulebook, period, now=utcnow())
    refusal = render(preview.refusal) if preview.refusal is not None else None
    return Template(
        "admin/publication_confirm.html",
        context={
            "period": period,
            "preview": preview,
            "refusal": refusal if refusal != error else None,
            "error": error,
        },
        status_code=status_code,
    )


class PublicationController(Controller):
    path = "/admin/publication"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def index(self, db: Db, rulebook: Rules, done: FromQuery[str | None] = None) -> Template:
        return _index_page(db, rulebook, notice_text=notice(done, NOTICES))

    @get("/{period:str}/publish", sync_to_thread=True)
    def confirm(self, db: Db, principal: Actor, rulebook: Rules, period: FromPath[str]) -> Template:
        """The Publish button's page: what will be frozen, and the form that does it."""
        return _confirm_page(db, principal, rulebook, _checked(period))

    @post("/{period:str}/publish", sync_to_thread=True)
    def publish(
        self, db: Db, principal: Actor, rulebook: Rules, period: FromPath[str], data: FormData
    ) -> Template | Redirect:
        period = _checked(period)
        confirm_empty = first_value(data).get("confirm_empty") == "yes"
        try:
            publish_month(
                db, principal, rulebook, period, now=utcnow(), confirm_empty=confirm_empty
            )
        except Conflict as exc:
            db.rollback()
            return _confirm_page(
                db, principal, rulebook, period, error=render(exc.message), status_code=409
            )
        return Redirect(f"/admin/publication/{period}?done=published", status_code=303)

    @get("/{period:str}", sync_to_thread=True)
    def month(
        self, db: Db, principal: Actor, period: FromPath[str], done: FromQuery[str | None] = None
    ) -> Template:
        return _month_page(db, principal, _checked(period), notice_text=notice(done, NOTICES))

    @post("/{period:str}/correct", sync_to_thread=True)
    def correct(
        self, db: Db, principal: Actor, period: FromPath[str], data: FormData
    ) -> Template | Redirect:
        period = _checked(period)
        reason = str(first_value(data).get("reason", ""))
        try:
            open_correction(db, principal, period, reason, now=utcnow())
        except InvalidInput as exc:
            db.rollback()
            return _month_page(
                db,
                principal,
                period,
                errors=domain_field_errors(exc),
                values={"reason": reason},
                status_code=422,
            )
        except Conflict as exc:
            db.rollback()
            return _month_page(db, principal, period, error=render(exc.message), status_code=409)
        return Redirect(f"/admin/publication/{period}?done=correcting", status_code=303)

    @post("/{period:str}/correction", sync_to_thread=True)
    def publish_correction(
        self, db: Db, principal: Actor, rulebook: Rules, period: FromPath[str]
    ) -> Template | Redirect:
        period = _checked(period)
        try:
            publish_correction(db, principal, rulebook, period, now=utcnow())
        except Conflict as exc:
            db.rollback()
            return _month_page(db, principal, period, error=render(exc.message), status_code=409)
        return Redirect(f"/admin/publication/{period}?done=corrected", status_code=303)

    @post("/{period:str}/objections/{objection_id:str}/resolve", sync_to_thread=True)
    def resolve(
        self,
        db: Db,
        principal: Actor,
        period: FromPath[str],
        objection_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        period = _checked(period)
        form = first_value(data)
        answer = str(form.get("answer", ""))
        resolution = str(form.get("resolution", ""))
        try:
            resolve_objection(db, principal, objection_id, answer, resolution, now=utcnow())
        except InvalidInput as exc:
            db.rollback()
            return _month_page(
                db,
                principal,
                period,
                answer_errors={objection_id: domain_field_errors(exc)},
                values={f"answer-{objection_id}": answer},
                status_code=422,
            )
        except Conflict as exc:
            db.rollback()
            return _month_page(db, principal, period, error=render(exc.message), status_code=409)
        return Redirect(f"/admin/publication/{period}?done=resolved", status_code=303)
