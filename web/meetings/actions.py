"""What is done to a meeting from its page: cancel, ask for leave and withdraw it,
decide leave, close with minutes, amend an outcome after closing, schedule a make-up
session. A refusal shows the page again with the message beside the form that sent it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.entries.evidence import PhotoUpload
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_, Message
from service.kernel.numbers import parse_id
from service.meetings.access import require_organiser, visible_meeting
from service.meetings.closing import amend_attendance, close_meeting
from service.meetings.leave import decide_leave, request_leave, withdraw_leave
from service.meetings.schedule import cancel_meeting, schedule_makeup
from service.meetings.views import meeting_detail
from service.persistence.meetings import Audience, Outcome
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, RecordId, Rules
from web.forms import FormData, UploadData, domain_field_errors
from web.guards import requires_login
from web.i18n import render
from web.meetings.forms import form_values, local_time, member_choices, one, read_meeting
from web.meetings.photos import PHOTO_FIELD, PHOTOS_BODY_MAX, photo_store, photo_uploads
from web.meetings.views import Refused, detail_page, timezone_of

AnyRequest = Request[Any, Any, Any]
MISSED = frozenset({Outcome.LEAVE, Outcome.ABSENT})
AMEND_OUTCOMES = frozenset({Outcome.ATTENDED, Outcome.LEAVE, Outcome.ABSENT})


def _refused(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    rulebook: Rulebook,
    meeting_id: int,
    exc: InvalidInput | Conflict,
    form: str,
    values: dict[str, str],
) -> Template:
    """The meeting's page again: a field's message beside the form that sent it (its
    fields are named ``form.field``), a state refusal in the banner."""
    if isinstance(exc, InvalidInput):
        errors = {f"{form}.{key}": text for key, text in domain_field_errors(exc).items()}
        return detail_page(
            request,
            db,
            principal,
            meeting_id,
            rulebook=rulebook,
            errors=errors,
            values=values,
            status_code=422,
        )
    return detail_page(
        request,
        db,
        principal,
        meeting_id,
        rulebook=rulebook,
        error=render(exc.message),
        values=values,
        status_code=409,
    )


def _back(meeting_id: int, done: str) -> Redirect:
    return Redirect(f"/meetings/{meeting_id}?done={done}", status_code=303)


def _organised(db: Session, principal: Principal, meeting_id: int) -> None:
    """A stranger gets 404 (the meeting's existence is private), a member expected who
    does not organise it 403."""
    meeting = visible_meeting(db, principal, meeting_id)
    require_organiser(db, principal, meeting.branch_id)


def close_page(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    meeting_id: int,
    *,
    minutes: str,
    errors: dict[str, str],
    error: str | None = None,
    status_code: int = 200,
    photos_dropped: bool = False,
) -> Template:
    _organised(db, principal, meeting_id)
    detail = meeting_detail(db, principal, meeting_id, now=utcnow(), timezone=timezone_of(request))
    store = photo_store(request)
    return Template(
        "meetings/close.html",
        context={
            "d": detail,
            "m": detail.summary,
            "say": render,
            "minutes": minutes,
            "errors": errors,
            "error": error,
            "max_photos": store.max_count,
            "max_photo_mb": f"{store.max_bytes / (1024 * 1024):g}",
            # The browser cannot be given files back: the secretary chooses them again.
            "photos_dropped": photos_dropped,
        },
        status_code=status_code,
    )


def makeup_page(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    meeting_id: int,
    values: dict[str, Any] | None,
    errors: dict[str, str],
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    """The make-up form: the members on leave or absent, ticked at first."""
    meeting = visible_meeting(db, principal, meeting_id)
    require_organiser(db, principal, meeting.branch_id)
    zone = timezone_of(request)
    detail = meeting_detail(db, principal, meeting_id, now=utcnow(), timezone=zone)
    missed = {row.member_id for row in detail.rows if row.outcome in MISSED}
    if values is None:
        values = {
            "title": meeting.title,
            "day": "",
            "start": local_time(meeting.starts_at, zone).strftime("%H:%M"),
            "end": local_time(meeting.ends_at, zone).strftime("%H:%M"),
            "place": meeting.place,
            "online": meeting.online,
            "agenda": meeting.agenda,
            "member_ids": [str(member_id) for member_id in sorted(missed)],
        }
    members = [
        choice for choice in member_choices(db, meeting.branch_id) if int(choice.value) in missed
    ]
    return Template(
        "meetings/makeup.html",
        context={
            "d": detail,
            "m": detail.summary,
            "say": render,
            "values": values,
            "errors": errors,
            "error": error,
            "members": members,
        },
        status_code=status_code,
    )


class MeetingActionsController(Controller):
    path = "/meetings"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @post("/{meeting_id:str}/cancel", sync_to_thread=True)
    def cancel(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        reason = one(data, "reason")
        try:
            cancel_meeting(db, principal, meeting_id, reason, now=utcnow(), rulebook=rulebook)
        except (InvalidInput, Conflict) as exc:
            values = {"reason": reason}
            return _refused(request, db, principal, rulebook, meeting_id, exc, "cancel", values)
        return _back(meeting_id, "cancelled")

    @post("/{meeting_id:str}/leave", sync_to_thread=True)
    def ask_leave(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        reason = one(data, "reason")
        try:
            request_leave(db, principal, meeting_id, reason, now=utcnow())
        except (InvalidInput, Conflict) as exc:
            values = {"reason": reason}
            return _refused(request, db, principal, rulebook, meeting_id, exc, "leave", values)
        return _back(meeting_id, "leave_requested")

    @post("/{meeting_id:str}/leave/{leave_id:str}/withdraw", sync_to_thread=True)
    def withdraw(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        leave_id: FromPath[RecordId],
    ) -> Template | Redirect:
        visible_meeting(db, principal, meeting_id)
        try:
            withdraw_leave(db, principal, leave_id, now=utcnow())
        except (InvalidInput, Conflict) as exc:
            return _refused(request, db, principal, rulebook, meeting_id, exc, "leave", {})
        return _back(meeting_id, "leave_withdrawn")

    @post("/{meeting_id:str}/leave/{leave_id:str}/decide", sync_to_thread=True)
    def decide(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        leave_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        visible_meeting(db, principal, meeting_id)
        grant = one(data, "decision") == "grant"
        reason = one(data, "reason")
        try:
            decide_leave(db, principal, leave_id, grant=grant, reason=reason, now=utcnow())
        except (InvalidInput, Conflict) as exc:
            form = f"decide{leave_id}"
            values = {"reason": reason}
            return _refused(request, db, principal, rulebook, meeting_id, exc, form, values)
        return _back(meeting_id, "leave_granted" if grant else "leave_declined")

    @get("/{meeting_id:str}/close", sync_to_thread=True)
    def close_form(
        self, request: AnyRequest, db: Db, principal: Actor, meeting_id: FromPath[RecordId]
    ) -> Template:
        return close_page(request, db, principal, meeting_id, minutes="", errors={})

    @post("/{meeting_id:str}/close", request_max_body_size=PHOTOS_BODY_MAX, sync_to_thread=True)
    def close(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        data: UploadData,
    ) -> Template | Redirect:
        files = photo_uploads(data.get(PHOTO_FIELD))
        try:
            return self._close(request, db, principal, rulebook, meeting_id, data, files)
        finally:
            for file in files:
                file.file.close()

    def _close(
        self,
        request: AnyRequest,
        db: Session,
        principal: Principal,
        rulebook: Rulebook,
        meeting_id: int,
        data: dict[str, Any],
        files: list[UploadFile],
    ) -> Template | Redirect:
        minutes = one(data, "minutes")
        dropped = bool(files)
        try:
            result = close_meeting(
                db,
                principal,
                rulebook,
                meeting_id,
                minutes,
                now=utcnow(),
                photos=[PhotoUpload(file.file, file.filename) for file in files],
                photo_store=photo_store(request),
            )
        except InvalidInput as exc:
            errors = domain_field_errors(exc)
            return close_page(
                request,
                db,
                principal,
                meeting_id,
                minutes=minutes,
                errors=errors,
                status_code=422,
                photos_dropped=dropped,
            )
        except Conflict as exc:
            return close_page(
                request,
                db,
                principal,
                meeting_id,
                minutes=minutes,
                errors={},
                error=render(exc.message),
                status_code=409,
                photos_dropped=dropped,
            )
        return _back(meeting_id, "already_closed" if result.already_closed else "closed")

    @post("/{meeting_id:str}/amend", sync_to_thread=True)
    def amend(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        values = {key: one(data, key) for key in ("member_id", "outcome", "reason")}
        member_id = parse_id(values["member_id"])
        outcome = next((o for o in AMEND_OUTCOMES if o.value == values["outcome"]), None)
        try:
            if member_id is None or outcome is None:
                key = "member_id" if member_id is None else "outcome"
                raise InvalidInput({key: Message(N_("This value is not valid."))})
            amend_attendance(
                db,
                principal,
                rulebook,
                meeting_id,
                member_id,
                outcome,
                values["reason"],
                now=utcnow(),
            )
        except (InvalidInput, Conflict) as exc:
            return _refused(request, db, principal, rulebook, meeting_id, exc, "amend", values)
        return _back(meeting_id, "amended")

    @get("/{meeting_id:str}/makeup", sync_to_thread=True)
    def makeup_form(
        self, request: AnyRequest, db: Db, principal: Actor, meeting_id: FromPath[RecordId]
    ) -> Template:
        return makeup_page(request, db, principal, meeting_id, None, {})

    @post("/{meeting_id:str}/makeup", sync_to_thread=True)
    def makeup(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        meeting = visible_meeting(db, principal, meeting_id)
        require_organiser(db, principal, meeting.branch_id)
        values = form_values(data)
        # The type is the original's; who attends is the list ticked (all who missed it
        # when none is ticked).
        fields = {**data, "kind": meeting.kind, "audience": Audience.LIST.value}
        parsed = read_meeting(fields, meeting.branch_id)
        try:
            if isinstance(parsed, dict):
                raise Refused(parsed)
            made = schedule_makeup(db, principal, rulebook, meeting_id, parsed, now=utcnow())
        except (Refused, InvalidInput) as exc:
            errors = exc.errors if isinstance(exc, Refused) else domain_field_errors(exc)
            return makeup_page(request, db, principal, meeting_id, values, errors, status_code=422)
        except Conflict as exc:
            return makeup_page(
                request,
                db,
                principal,
                meeting_id,
                values,
                {},
                error=render(exc.message),
                status_code=409,
            )
        return Redirect(f"/meetings/{made.id}?done=makeup", status_code=303)
