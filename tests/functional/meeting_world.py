"""The meetings of the small town the cross-cutting tests (permission matrix, object
access, XSS, CSRF) act on: in 金湾 a meeting next week (with 张伟's pending leave
request), one that ended an hour ago and waits to be closed, and one closed; in 宝元
the same (刘洋 asks for leave)."""

from __future__ import annotations

import io
from datetime import date, time, timedelta
from typing import Any

from PIL import Image
from sqlalchemy import select, update

from service.entries.evidence import PhotoStore, PhotoUpload
from service.kernel.periods import town_today
from service.meetings.closing import close_meeting
from service.meetings.leave import request_leave
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.persistence.db import Database
from service.persistence.meetings import Meeting, MeetingPhoto
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

TITLE = "12月主题党日"


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (179, 38, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def meeting_form(day: date | None = None, **overrides: str) -> dict[str, str]:
    """The scheduling form, filled in (the web form's field names)."""
    return {
        "kind": "theme_day",
        "title": TITLE,
        "day": (day or _today() + timedelta(days=7)).isoformat(),
        "start": "09:00",
        "end": "11:00",
        "place": "党群服务中心",
        "agenda": "集体学习",
        "audience": "branch",
        **overrides,
    }


def add_meetings(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    *,
    title: str = TITLE,
    photo_store: PhotoStore | None = None,
) -> dict[str, Any]:
    """Schedule the meetings; their ids (and the leave request's) by name. With a
    ``photo_store`` each closed meeting's minutes have a photo (``minutes_photo``,
    ``minutes_photo_baoyuan``)."""

    def schedule(username: str, branch_id: int, day: date) -> int:
        with database.transaction() as session:
            return schedule_meeting(
                session,
                town.principal(database, username),
                rulebook,
                MeetingInput(
                    branch_id=branch_id,
                    kind="theme_day",
                    title=title,
                    day=day,
                    start=time(9, 0),
                    end=time(11, 0),
                    place=title,
                    agenda=title,
                ),
                now=utcnow(),
            ).id

    def to_the_past(meeting_id: int) -> None:
        ended = utcnow() - timedelta(hours=1)
        with database.transaction() as session:
            session.execute(
                update(Meeting)
                .where(Meeting.id == meeting_id)
                .values(starts_at=ended - timedelta(hours=2), ends_at=ended)
            )

    next_week = _today() + timedelta(days=7)
    held = max(_today().replace(day=1), _today() - timedelta(days=1))
    ids: dict[str, Any] = {}
    for branch, secretary, member in (
        ("jinwan", "secretary", "member"),
        ("baoyuan", "secretary2", "member3"),
    ):
        branch_id = getattr(town, branch)
        suffix = "" if branch == "jinwan" else "_baoyuan"
        ids[f"meeting_{branch}"] = schedule(secretary, branch_id, next_week)
        ids[f"meeting_ended{suffix}"] = schedule(secretary, branch_id, held)
        ids[f"meeting_closed{suffix}"] = schedule(secretary, branch_id, held)
        to_the_past(ids[f"meeting_ended{suffix}"])
        to_the_past(ids[f"meeting_closed{suffix}"])
        with database.transaction() as session:
            ids[f"leave_{member}"] = request_leave(
                session,
                town.principal(database, member),
                ids[f"meeting_{branch}"],
                title,
                now=utcnow(),
            ).id
        with database.transaction() as session:
            close_meeting(
                session,
                town.principal(database, secretary),
                rulebook,
                ids[f"meeting_closed{suffix}"],
                title,
                now=utcnow(),
                photos=[PhotoUpload(io.BytesIO(_photo()), "纪要.png")] if photo_store else (),
                photo_store=photo_store,
            )
            if photo_store is not None:
                ids[f"minutes_photo{suffix}"] = session.scalar(
                    select(MeetingPhoto.id).where(
                        MeetingPhoto.meeting_id == ids[f"meeting_closed{suffix}"]
                    )
                )
    ids["makeup_day"] = (_today() + timedelta(days=3)).isoformat()
    return ids
