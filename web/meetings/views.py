"""Meetings (组织生活): the list, scheduling and editing, and a meeting's page. The
actions on a meeting (leave, cancel, close, amend, make-up) are in ``actions``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import InvalidInput
from service.kernel.numbers import parse_id
from service.meetings.access import require_organiser, visible_meeting
from service.meetings.photos import minutes_photos
from service.meetings.schedule import edit_meeting, schedule_meeting
from service.meetings.views import meeting_detail, meetings_for
from service.persistence.models import Branch
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, RecordId, Rules, town_date
from web.forms import FormData, domain_field_errors
from web.guards import requires_login
from web.i18n import render
from web.meetings.forms import (
    empty_values,
    form_values,
    group_choices,
    kind_choices,
    meeting_values,
    member_choices,
    one,
    organised_branches,
    read_meeting,
)
from web.meetings.notices import MEETING_NOTICES
from web.notices import notice

AnyRequest = Request[Any, Any, Any]
SCOPES = ("upcoming", "past")


def timezone_of(request: AnyRequest) -> str:
    return str(request.app.state.settings.timezone)


def branch_name_of(db: Session, branch_id: int) -> str:
    branch = db.get(Branch, branch_id)
    return branch.name if branch else ""


def form_page(
    request: AnyRequest,
    db: Session,
    rulebook: Rulebook,
    *,
    branch_id: int,
    branch_name: str,
    values: dict[str, Any],
    errors: dict[str, str],
    action: str,
    meeting_id: int | None = None,
    status_code: int = 200,
) -> Template:
    today = town_date(request)
    return Template(
        "meetings/form.html",
        context={
            "branch_id": branch_id,
            "branch_name": branch_name,
            "values": values,
            "errors": errors,
            "action": action,
            "meeting_id": meeting_id,
            "kinds": kind_choices(rulebook, today),
            "groups": group_choices(db, branch_id),
            "members": member_choices(db, branch_id),
        },
        status_code=status_code,
    )


def detail_page(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    meeting_id: int,
    *,
    rulebook: Rulebook | None = None,
    done: str | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    detail = meeting_detail(
        db, principal, meeting_id, now=utcnow(), rulebook=rulebook, timezone=timezone_of(request)
    )
    return Template(
        "meetings/detail.html",
        context={
            "d": detail,
            "m": detail.summary,
            "say": render,
            "me": principal.member_id,
            "photos": minutes_photos(db, meeting_id),
            "notice": notice(done, MEETING_NOTICES),
            "error": error,
            "errors": errors or {},
            "values": values or {},
        },
        status_code=status_code,
    )


class MeetingsController(Controller):
    path = "/meetings"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def list_meetings(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        when: FromQuery[str | None] = None,
        branch: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        chosen = when if when in SCOPES else "upcoming"
        branch_id = parse_id(branch or "") if principal.is_admin else None
        result = meetings_for(
            db,
            principal,
            scope="past" if chosen == "past" else "upcoming",
            branch_id=branch_id,
            page=page_number(page),
            now=utcnow(),
            timezone=timezone_of(request),
        )
        return Template(
            "meetings/list.html",
            context={
                "meetings": result,
                "scope": chosen,
                "branch_id": branch_id,
                "branches": organised_branches(db, principal) if principal.is_admin else [],
                "can_schedule": bool(organised_branches(db, principal)),
                "say": render,
                "notice": notice(done, MEETING_NOTICES),
            },
        )

    @get("/new", sync_to_thread=True)
    def new_meeting(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        branch: FromQuery[str | None] = None,
    ) -> Template:
        branches = organised_branches(db, principal)
        if not branches:
            raise PermissionDeniedException()
        chosen_id = parse_id(branch or "")
        chosen = next((b for b in branches if b.id == chosen_id), None)
        if chosen is None and len(branches) == 1:
            chosen = branches[0]
        if chosen is None:
            return Template("meetings/choose_branch.html", context={"branches": branches})
        return form_page(
            request,
            db,
            rulebook,
            branch_id=chosen.id,
            branch_name=chosen.name,
            values=empty_values(town_date(request)),
            errors={},
            action="/meetings/new",
        )

    @post("/new", sync_to_thread=True)
    def create_meeting(
        self, request: AnyRequest, db: Db, principal: Actor, rulebook: Rules, data: FormData
    ) -> Template | Redirect:
        branches = {b.id: b for b in organised_branches(db, principal)}
        branch_id = parse_id(one(data, "branch_id"))
        if branch_id is None or branch_id not in branches:
            raise PermissionDeniedException()
        require_organiser(db, principal, branch_id)
        values = form_values(data)
        parsed = read_meeting(data, branch_id)
        try:
            if isinstance(parsed, dict):
                raise Refused(parsed)
            meeting = schedule_meeting(db, principal, rulebook, parsed, now=utcnow())
        except (Refused, InvalidInput) as exc:
            errors = exc.errors if isinstance(exc, Refused) else domain_field_errors(exc)
            return form_page(
                request,
                db,
                rulebook,
                branch_id=branch_id,
                branch_name=branches[branch_id].name,
                values=values,
                errors=errors,
                action="/meetings/new",
                status_code=422,
            )
        return Redirect(f"/meetings/{meeting.id}?done=scheduled", status_code=303)

    @get("/{meeting_id:str}", sync_to_thread=True)
    def show(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return detail_page(request, db, principal, meeting_id, rulebook=rulebook, done=done)

    @get("/{meeting_id:str}/edit", sync_to_thread=True)
    def edit_form(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
    ) -> Template:
        meeting = visible_meeting(db, principal, meeting_id)
        require_organiser(db, principal, meeting.branch_id)
        branch_name = branch_name_of(db, meeting.branch_id)
        return form_page(
            request,
            db,
            rulebook,
            branch_id=meeting.branch_id,
            branch_name=branch_name,
            values=meeting_values(meeting, db, timezone_of(request)),
            errors={},
            action=f"/meetings/{meeting.id}/edit",
            meeting_id=meeting.id,
        )

    @post("/{meeting_id:str}/edit", sync_to_thread=True)
    def edit(
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
        parsed = read_meeting(data, meeting.branch_id)
        try:
            if isinstance(parsed, dict):
                raise Refused(parsed)
            edit_meeting(db, principal, rulebook, meeting_id, parsed, now=utcnow())
        except (Refused, InvalidInput) as exc:
            errors = exc.errors if isinstance(exc, Refused) else domain_field_errors(exc)
            branch_name = branch_name_of(db, meeting.branch_id)
            return form_page(
                request,
                db,
                rulebook,
                branch_id=meeting.branch_id,
                branch_name=branch_name,
                values=values,
                errors=errors,
                action=f"/meetings/{meeting.id}/edit",
                meeting_id=meeting.id,
                status_code=422,
            )
        return Redirect(f"/meetings/{meeting_id}?done=edited", status_code=303)


class Refused(Exception):
    """A form the browser sent wrong (a date that is none): its field messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("refused")
