"""Check-in pages: the organiser's code screen at the meeting (a QR code that changes
every 30 seconds, reloaded by a ``Refresh`` header, no JavaScript), the member's page the
QR code opens (one tap to check in), and the attendance list the organiser ticks."""

from __future__ import annotations

from typing import Any

import segno
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from markupsafe import Markup

from service.kernel.errors import Conflict
from service.kernel.i18n import N_
from service.meetings.checkin import (
    CODE_DIGITS,
    CheckinScreen,
    MyCheckin,
    attendance_sheet,
    check_in,
    checkin_screen,
    local_time,
    my_checkin,
    normal_code,
    tick,
)
from service.persistence.types import utcnow
from web.deps import Actor, Db, RecordId, Rules
from web.forms import FormData, first_value
from web.guards import requires_login
from web.i18n import gettext as _
from web.i18n import render
from web.notices import notice
from web.templating import town_of

AnyRequest = Request[Any, Any, Any]

NOTICES = {
    "ticked": N_("Marked present: ticked by you."),
    "unticked": N_("The check-in was taken back."),
}
# Nothing about a meeting screen or a member's check-in may be kept by a cache.
_NO_STORE = {"Cache-Control": "no-store"}


def checkin_path(meeting_id: int, code: str | None = None) -> str:
    path = f"/meetings/{meeting_id}/checkin"
    return f"{path}?code={code}" if code else path


def qr_svg(url: str, title: str) -> Markup:
    """The QR code of ``url`` as inline SVG, sized by the page's CSS (a viewBox only)."""
    qr = segno.make(url, error="m")
    svg: str = qr.svg_inline(
        scale=1, border=4, dark="#000", light="#fff", omitsize=True, title=title
    )
    return Markup(svg)  # noqa: S704 - segno's own SVG; the title is escaped by segno


def grouped(code: str) -> str:
    """ "123456" as "123 456": easier to read out and type."""
    half = CODE_DIGITS // 2
    return f"{code[:half]} {code[half:]}"


def _screen_context(request: AnyRequest, rulebook: Any, screen: CheckinScreen) -> dict[str, Any]:
    meeting = screen.meeting
    context: dict[str, Any] = {
        "screen": screen,
        "meeting": meeting,
        "opens": local_time(meeting, rulebook, screen.opens),
        "closes": local_time(meeting, rulebook, screen.closes),
        "starts": local_time(meeting, rulebook, meeting.starts_at),
        "ends": local_time(meeting, rulebook, meeting.ends_at),
        "qr": None,
        "code": None,
    }
    if screen.code is not None:
        url = town_of(request).absolute_url(request, checkin_path(meeting.id, screen.code))
        context["qr"] = qr_svg(url, _("Check-in code"))
        context["code"] = grouped(screen.code)
        context["url"] = url
        context["manual_url"] = town_of(request).absolute_url(request, checkin_path(meeting.id))
    return context


def _member_page(
    rulebook: Any,
    mine: MyCheckin,
    *,
    code: str | None,
    refusal: str | None = None,
    status_code: int = 200,
) -> Template:
    meeting = mine.meeting
    return Template(
        "checkin/member.html",
        context={
            "mine": mine,
            "meeting": meeting,
            "code": code,
            "refusal": refusal,
            "opens": local_time(meeting, rulebook, mine.opens),
            "closes": local_time(meeting, rulebook, mine.closes),
            "starts": local_time(meeting, rulebook, meeting.starts_at),
            "ends": local_time(meeting, rulebook, meeting.ends_at),
            "checked_in": (
                local_time(meeting, rulebook, mine.checked_in_at) if mine.checked_in_at else None
            ),
        },
        status_code=status_code,
        headers=_NO_STORE,
    )


class CheckinController(Controller):
    path = "/meetings"
    # Signed in (a visitor is sent to sign in and back here); the service decides the rest.
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/{meeting_id:str}/checkin/screen", sync_to_thread=True)
    def screen(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
    ) -> Template:
        shown = checkin_screen(db, principal, rulebook, meeting_id, now=utcnow())
        headers = dict(_NO_STORE)
        if shown.refresh_after > 0:
            headers["Refresh"] = str(max(1, shown.refresh_after))
        return Template(
            "checkin/screen.html",
            context=_screen_context(request, rulebook, shown),
            headers=headers,
        )

    @get("/{meeting_id:str}/checkin", sync_to_thread=True)
    def member(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        code: FromQuery[str | None] = None,
    ) -> Template:
        try:
            mine = my_checkin(db, principal, rulebook, meeting_id, now=utcnow())
        except Conflict as exc:  # an organiser not on the list: told so plainly
            return Template(
                "checkin/refused.html",
                context={"meeting_id": meeting_id, "refusal": render(exc.message)},
                status_code=409,
            )
        return _member_page(rulebook, mine, code=normal_code(code or ""))

    @post("/{meeting_id:str}/checkin", sync_to_thread=True)
    def submit(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        typed = str(first_value(data).get("code") or "")
        try:
            check_in(db, principal, rulebook, meeting_id, typed, now=utcnow())
        except Conflict as exc:
            try:
                mine = my_checkin(db, principal, rulebook, meeting_id, now=utcnow())
            except Conflict:
                raise exc from None
            return _member_page(
                rulebook, mine, code=None, refusal=render(exc.message), status_code=409
            )
        return Redirect(checkin_path(meeting_id), status_code=303)

    @get("/{meeting_id:str}/attendance", sync_to_thread=True)
    def attendance(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        sheet = attendance_sheet(db, principal, rulebook, meeting_id, now=utcnow())
        meeting = sheet.meeting
        return Template(
            "checkin/attendance.html",
            context={
                "sheet": sheet,
                "meeting": meeting,
                "times": {
                    row.member_id: local_time(meeting, rulebook, row.checked_in_at)
                    for row in sheet.rows
                    if row.checked_in_at is not None
                },
                "starts": local_time(meeting, rulebook, meeting.starts_at),
                "opens": local_time(meeting, rulebook, sheet.opens),
                "notice": notice(done, NOTICES),
            },
        )

    @post("/{meeting_id:str}/attendance/{member_id:str}", sync_to_thread=True)
    def mark(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: FromPath[RecordId],
        member_id: FromPath[RecordId],
        data: FormData,
    ) -> Redirect:
        values = first_value(data)
        present = str(values.get("present", "1")) != "0"
        tick(db, principal, rulebook, meeting_id, member_id, present=present, now=utcnow())
        # Back to the attendance list the tick was made on, else to the meeting's page.
        if values.get("back") == "attendance":
            done = "ticked" if present else "unticked"
            return Redirect(f"/meetings/{meeting_id}/attendance?done={done}", status_code=303)
        return Redirect(f"/meetings/{meeting_id}", status_code=303)
