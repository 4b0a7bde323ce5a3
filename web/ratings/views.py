"""Branch ratings (星级支部) for the office, instructors and secretaries: the rounds
(/ratings; the office opens one), a round's branches (/ratings/{round}), a branch's sheet
with its computed indicators, self-assessment, audit and vetoes
(/ratings/{round}/branches/{branch}), and the office's publication of the stars. The
published list itself is public at /results/branch_stars/{period}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import File, Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.access import is_approver_of, is_secretary_of
from service.assessment.rating import get_round, open_round, publish_round
from service.assessment.rating_sheet import (
    AuditScore,
    SelfScore,
    audit,
    evidence_photo,
    list_rounds,
    rating_sheet,
    round_page,
    self_assess,
    waiting_branches,
)
from service.entries.evidence import PhotoStore, PhotoUpload
from service.kernel.config import Settings
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_
from service.persistence.assessment import RatingStatus, RoundStatus
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, RecordId, Rules, town_date
from web.forms import FormData, UploadData, domain_field_errors, first_value
from web.guards import requires_reviewer
from web.i18n import render
from web.notices import notice

AnyRequest = Request[Any, Any, Any]

RATING_NOTICES = {
    "opened": N_("The round is open: every branch has its sheet with the computed indicators."),
    "saved": N_("The self-assessment is saved; submit it when it is complete."),
    "submitted": N_("The self-assessment is submitted for the audit."),
    "audited": N_("The audit is recorded."),
    "published": N_("The branch stars are published."),
}
STATUSES = {status.value: status for status in RatingStatus}

# As for entries and minutes: the body limit is fixed when the app is built, from the
# default photo size, with room for one evidence photo per assessed indicator (at most 8).
PHOTOS_BODY_MAX = 9 * Settings.model_fields["max_photo_bytes"].default + 256 * 1024


def photo_store(request: AnyRequest) -> PhotoStore:
    settings: Settings = request.app.state.settings
    return PhotoStore.from_settings(settings)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = first_value(data).get(name)
    return value if isinstance(value, str) else ""


def rounds_page(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    rounds = list_rounds(db, principal)
    today = town_date(request)
    return Template(
        "ratings/rounds.html",
        context={
            "rounds": rounds,
            "may_open": principal.is_admin,
            "values": values or {"period": str(today.year)},
            "errors": errors or {},
            "error": error,
            "notice": notice(done, RATING_NOTICES),
        },
        status_code=status_code,
    )


def round_view(
    db: Session,
    principal: Principal,
    round_id: int,
    *,
    status: str | None,
    page: str | None,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    chosen = STATUSES.get((status or "").strip())
    view = round_page(db, principal, round_id, status=chosen, page=page_number(page))
    is_open = view.rating_round.status is RoundStatus.OPEN
    return Template(
        "ratings/round.html",
        context={
            "view": view,
            "r": view.rating_round,
            "status": chosen.value if chosen else "",
            "statuses": list(STATUSES),
            "may_publish": principal.is_admin and is_open,
            "waiting": waiting_branches(db, round_id) if principal.is_admin and is_open else [],
            "notice": notice(done, RATING_NOTICES),
            "error": error,
        },
        status_code=status_code,
    )


def sheet_page(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    rulebook: Rulebook,
    round_id: int,
    branch_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    done: str | None = None,
    photos_dropped: bool = False,
    status_code: int = 200,
) -> Template:
    sheet = rating_sheet(db, principal, rulebook, round_id, branch_id)
    store = photo_store(request)
    return Template(
        "ratings/sheet.html",
        context={
            "s": sheet,
            "r": sheet.rating_round,
            "lines": {line.indicator: line for line in sheet.result.lines},
            "is_secretary": is_secretary_of(principal, branch_id),
            "is_approver": is_approver_of(principal, branch_id),
            "values": values or {},
            "errors": errors or {},
            "error": error,
            "notice": notice(done, RATING_NOTICES),
            "max_photo_mb": f"{store.max_bytes / (1024 * 1024):g}",
            "photos_dropped": photos_dropped,
        },
        status_code=status_code,
    )


def _sheet_address(round_id: int, branch_id: int, done: str) -> Redirect:
    return Redirect(f"/ratings/{round_id}/branches/{branch_id}?done={done}", status_code=303)


class RatingsController(Controller):
    path = "/ratings"
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def rounds(
        self, request: AnyRequest, db: Db, principal: Actor, done: FromQuery[str | None] = None
    ) -> Template:
        return rounds_page(request, db, principal, done=done)

    @post("/", sync_to_thread=True)
    def open(
        self, request: AnyRequest, db: Db, principal: Actor, rulebook: Rules, data: FormData
    ) -> Template | Redirect:
        period = _text(data, "period").strip()
        try:
            opened = open_round(
                db,
                principal,
                rulebook,
                period,
                today=town_date(request),
                timezone=str(request.app.state.settings.timezone),
                now=utcnow(),
            )
        except InvalidInput as exc:
            return rounds_page(
                request,
                db,
                principal,
                values={"period": period},
                errors=domain_field_errors(exc),
                status_code=422,
            )
        except Conflict as exc:
            return rounds_page(
                request,
                db,
                principal,
                values={"period": period},
                error=render(exc.message),
                status_code=409,
            )
        return Redirect(f"/ratings/{opened.id}?done=opened", status_code=303)

    @get("/{round_id:str}", sync_to_thread=True)
    def round(
        self,
        db: Db,
        principal: Actor,
        round_id: FromPath[RecordId],
        status: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        return round_view(db, principal, round_id, status=status, page=page, done=done)

    @post("/{round_id:str}/publish", sync_to_thread=True)
    def publish(
        self, db: Db, principal: Actor, rulebook: Rules, round_id: FromPath[RecordId]
    ) -> Template | Redirect:
        try:
            publish_round(db, principal, rulebook, round_id, now=utcnow())
        except Conflict as exc:
            return round_view(
                db,
                principal,
                round_id,
                status=None,
                page=None,
                error=render(exc.message),
                status_code=409,
            )
        return Redirect(f"/ratings/{round_id}?done=published", status_code=303)

    @get("/{round_id:str}/branches/{branch_id:str}", sync_to_thread=True)
    def sheet(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        round_id: FromPath[RecordId],
        branch_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return sheet_page(request, db, principal, rulebook, round_id, branch_id, done=done)

    @post(
        "/{round_id:str}/branches/{branch_id:str}/self",
        request_max_body_size=PHOTOS_BODY_MAX,
        sync_to_thread=True,
    )
    def self_assessment(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        round_id: FromPath[RecordId],
        branch_id: FromPath[RecordId],
        data: UploadData,
    ) -> Template | Redirect:
        files = {
            key[len("photo_") :]: value
            for key, value in data.items()
            if key.startswith("photo_") and isinstance(value, UploadFile) and value.filename
        }
        try:
            values = {
                key: value for key, value in first_value(data).items() if isinstance(value, str)
            }
            submit = values.get("action") == "submit"
            indicators = {key[len("score_") :] for key in values if key.startswith("score_")} | set(
                files
            )
            entries = {
                indicator: SelfScore(
                    values.get(f"score_{indicator}", ""),
                    values.get(f"note_{indicator}", ""),
                    PhotoUpload(files[indicator].file, files[indicator].filename)
                    if indicator in files
                    else None,
                )
                for indicator in indicators
            }
            try:
                self_assess(
                    db, principal, rulebook, round_id, branch_id, entries,
                    submit=submit, store=photo_store(request), now=utcnow(),
                )  # fmt: skip
            except (InvalidInput, Conflict) as exc:
                return sheet_page(
                    request, db, principal, rulebook, round_id, branch_id, values=values,
                    errors=domain_field_errors(exc) if isinstance(exc, InvalidInput) else {},
                    error=None if isinstance(exc, InvalidInput) else render(exc.message),
                    photos_dropped=bool(files),
                    status_code=422 if isinstance(exc, InvalidInput) else 409,
                )  # fmt: skip
        finally:
            for file in files.values():
                file.file.close()
        return _sheet_address(round_id, branch_id, "submitted" if submit else "saved")

    @post("/{round_id:str}/branches/{branch_id:str}/audit", sync_to_thread=True)
    def audit(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        round_id: FromPath[RecordId],
        branch_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        values = {key: value for key, value in first_value(data).items() if isinstance(value, str)}
        scores = {
            key[len("audit_") :]: AuditScore(
                value, values.get(f"reason_{key[len('audit_') :]}", "")
            )
            for key, value in values.items()
            if key.startswith("audit_")
        }
        vetoes = {
            key[len("veto_") :]: values.get(f"veto_reason_{key[len('veto_') :]}", "")
            for key in values
            if key.startswith("veto_") and not key.startswith("veto_reason_")
        }
        try:
            audit(db, principal, rulebook, round_id, branch_id, scores, vetoes, now=utcnow())
        except (InvalidInput, Conflict) as exc:
            return sheet_page(
                request, db, principal, rulebook, round_id, branch_id, values=values,
                errors=domain_field_errors(exc) if isinstance(exc, InvalidInput) else {},
                error=None if isinstance(exc, InvalidInput) else render(exc.message),
                status_code=422 if isinstance(exc, InvalidInput) else 409,
            )  # fmt: skip
        return _sheet_address(round_id, branch_id, "audited")

    @get("/{round_id:str}/branches/{branch_id:str}/evidence/{indicator:str}", sync_to_thread=True)
    def evidence(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        round_id: FromPath[RecordId],
        branch_id: FromPath[RecordId],
        indicator: FromPath[str],
        thumb: FromQuery[bool] = False,
    ) -> File:
        if len(indicator) > 64:
            raise NotFoundException()
        get_round(db, round_id)
        stored = evidence_photo(
            db, principal, photo_store(request), round_id, branch_id, indicator, thumbnail=thumb
        )
        return File(
            path=stored.path,
            filename=stored.filename,
            media_type=stored.content_type,
            content_disposition_type="inline",
            headers={"Cache-Control": "private, no-store"},
        )
