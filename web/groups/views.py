"""A branch's party groups and meeting organisers (/branches/{id}/groups), and a
member's calendar link (/account/calendar) and feed (/calendar/{token}.ics)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.boards.live import get_branch
from service.kernel.config import Settings
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_, Message
from service.kernel.numbers import parse_id
from service.meetings.calendar import calendar_for_token, current_token, feed_token
from service.meetings.groups import (
    add_organiser,
    branch_groups,
    branch_organisers,
    can_manage_groups,
    create_group,
    delete_group,
    member_choices,
    organiser_candidates,
    remove_organiser,
    rename_group,
    set_group_members,
)
from service.persistence.meetings import PartyGroup
from service.persistence.types import utcnow
from web.deps import Actor, Db, RecordId
from web.forms import FormData, domain_field_errors, first_value
from web.guards import requires_login, requires_reviewer
from web.i18n import gettext, render
from web.notices import notice
from web.templating import town_of

GROUP_NOTICES = {
    "created": N_("The party group was created."),
    "renamed": N_("The party group was renamed."),
    "deleted": N_("The party group was deleted."),
    "members": N_("The party group's members were saved."),
    "organiser_added": N_("The organiser was added: they can now schedule and run meetings."),
    "organiser_removed": N_("The organiser was removed."),
}
CALENDAR_NOTICES = {
    "made": N_("Your calendar link is made. Add it to your phone's calendar as below."),
    "rotated": N_("A new link is made. The old link no longer works: subscribe again."),
}
ICS_FEED = "/calendar/{feed:str}"
ICS_SUFFIX = ".ics"


def _groups_page(
    db: Session,
    principal: Principal,
    branch_id: int,
    *,
    notice_text: str | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    error_group: int | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    branch = get_branch(db, branch_id)
    groups = branch_groups(db, principal, branch_id)
    members = member_choices(db, principal, branch_id)
    can_manage = can_manage_groups(principal, branch_id)
    return Template(
        "groups/groups.html",
        context={
            "branch": branch,
            "groups": groups,
            "group_names": {g.id: g.name for g in groups},
            "members": members,
            "organisers": branch_organisers(db, principal, branch_id),
            "candidates": organiser_candidates(db, principal, branch_id) if can_manage else [],
            "can_manage": can_manage,
            "notice": notice_text,
            "error": error,
            "errors": errors or {},
            "error_group": error_group,
            "values": values or {},
        },
        status_code=status_code,
    )


def _member_ids(data: dict[str, Any]) -> list[int]:
    raw = data.get("member_ids", [])
    values = raw if isinstance(raw, list) else [raw]
    ids = [parse_id(str(value)) for value in values if str(value).strip()]
    if any(number is None for number in ids):
        raise InvalidInput(
            {"member_ids": Message(N_("Choose members of this branch from the list."))}
        )
    return [number for number in ids if number is not None]


class GroupsController(Controller):
    """The groups and organisers of one branch: its secretary and the office keep them,
    its instructors read them. The service checks the branch on every call."""

    path = "/branches/{branch_id:str}/groups"
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def page(
        self,
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return _groups_page(db, principal, branch_id, notice_text=notice(done, GROUP_NOTICES))

    def _refused(
        self,
        db: Session,
        principal: Principal,
        branch_id: int,
        exc: InvalidInput | Conflict,
        *,
        group_id: int | None = None,
        values: dict[str, str] | None = None,
    ) -> Template:
        db.rollback()
        if isinstance(exc, InvalidInput):
            return _groups_page(
                db,
                principal,
                branch_id,
                errors=domain_field_errors(exc),
                error_group=group_id,
                values=values,
                status_code=422,
            )
        return _groups_page(db, principal, branch_id, error=render(exc.message), status_code=409)

    @post("/", sync_to_thread=True)
    def create(
        self, db: Db, principal: Actor, branch_id: FromPath[RecordId], data: FormData
    ) -> Template | Redirect:
        name = str(first_value(data).get("name", ""))
        try:
            create_group(db, principal, branch_id, name, now=utcnow())
        except InvalidInput as exc:
            return self._refused(db, principal, branch_id, exc, values={"name": name})
        return Redirect(f"/branches/{branch_id}/groups?done=created", status_code=303)

    def _group_of_branch(self, db: Session, branch_id: int, group_id: int) -> None:
        # A group reached through another branch's address is not there.
        group = db.get(PartyGroup, group_id)
        if group is None or group.branch_id != branch_id:
            raise NotFoundException()

    @post("/{group_id:str}/rename", sync_to_thread=True)
    def rename(
        self,
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        group_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        self._group_of_branch(db, branch_id, group_id)
        name = str(first_value(data).get("name", ""))
        try:
            rename_group(db, principal, group_id, name)
        except InvalidInput as exc:
            return self._refused(
                db, principal, branch_id, exc, group_id=group_id, values={"name": name}
            )
        return Redirect(
            f"/branches/{branch_id}/groups?done=renamed#group-{group_id}", status_code=303
        )

    @post("/{group_id:str}/delete", sync_to_thread=True)
    def delete(
        self,
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        group_id: FromPath[RecordId],
    ) -> Template | Redirect:
        self._group_of_branch(db, branch_id, group_id)
        try:
            delete_group(db, principal, group_id)
        except Conflict as exc:
            return self._refused(db, principal, branch_id, exc)
        return Redirect(f"/branches/{branch_id}/groups?done=deleted", status_code=303)

    @post("/{group_id:str}/members", sync_to_thread=True)
    def members(
        self,
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        group_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        self._group_of_branch(db, branch_id, group_id)
        try:
            set_group_members(db, principal, group_id, _member_ids(data))
        except InvalidInput as exc:
            return self._refused(db, principal, branch_id, exc, group_id=group_id)
        return Redirect(
            f"/branches/{branch_id}/groups?done=members#group-{group_id}", status_code=303
        )

    @post("/organisers", sync_to_thread=True)
    def add_organiser(
        self, db: Db, principal: Actor, branch_id: FromPath[RecordId], data: FormData
    ) -> Template | Redirect:
        value = str(first_value(data).get("account_id", ""))
        try:
            account_id = parse_id(value)
            if account_id is None:
                raise InvalidInput(
                    {"account_id": Message(N_("Choose a member of this branch with an account."))}
                )
            add_organiser(db, principal, branch_id, account_id, now=utcnow())
        except InvalidInput as exc:
            return self._refused(db, principal, branch_id, exc)
        return Redirect(
            f"/branches/{branch_id}/groups?done=organiser_added#organisers", status_code=303
        )

    @post("/organisers/{organiser_id:str}/delete", sync_to_thread=True)
    def remove_organiser(
        self,
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        organiser_id: FromPath[RecordId],
    ) -> Redirect:
        remove_organiser(db, principal, branch_id, organiser_id)
        return Redirect(
            f"/branches/{branch_id}/groups?done=organiser_removed#organisers", status_code=303
        )


def _feed_urls(request: Request[Any, Any, Any], token: str) -> tuple[str, str]:
    """The feed's address (https when the town's public address is) and the same as a
    webcal:// link, which an iPhone opens as "subscribe"."""
    url = town_of(request).absolute_url(request, f"/calendar/{token}{ICS_SUFFIX}")
    return url, "webcal://" + url.split("://", 1)[1]


class CalendarController(Controller):
    path = ""

    @get("/account/calendar", guards=[requires_login], sync_to_thread=True)
    def calendar(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        done: FromQuery[str | None] = None,
    ) -> Template:
        settings: Settings = request.app.state.settings
        token = current_token(db, principal, secret=settings.secret_key)
        url, webcal = _feed_urls(request, token) if token else (None, None)
        return Template(
            "groups/calendar.html",
            context={
                "feed_url": url,
                "webcal_url": webcal,
                "is_member": principal.member_id is not None,
                "notice": notice(done, CALENDAR_NOTICES),
            },
            headers={"Cache-Control": "private, no-store"},
        )

    @post("/account/calendar/new-link", guards=[requires_login], sync_to_thread=True)
    def new_link(self, request: Request[Any, Any, Any], db: Db, principal: Actor) -> Redirect:
        settings: Settings = request.app.state.settings
        had_one = current_token(db, principal, secret=settings.secret_key) is not None
        feed_token(db, principal, secret=settings.secret_key, now=utcnow(), rotate=True)
        done = "rotated" if had_one else "made"
        return Redirect(f"/account/calendar?done={done}", status_code=303)

    @get(ICS_FEED, sync_to_thread=True)
    def feed(self, request: Request[Any, Any, Any], db: Db, feed: FromPath[str]) -> Response[bytes]:
        """The feed itself: no sign-in (a phone calendar cannot), the token is the key."""
        if not feed.endswith(ICS_SUFFIX):
            raise NotFoundException()
        body = calendar_for_token(
            db,
            feed.removesuffix(ICS_SUFFIX),
            now=utcnow(),
            base_url=town_of(request).absolute_url(request, "/").rstrip("/"),
            gettext=gettext,
        )
        if body is None:
            raise NotFoundException()
        return Response(
            body,
            # Litestar adds "; charset=utf-8" to a text/* type itself: exactly one charset.
            media_type="text/calendar",
            headers={"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"},
        )
