"""The meeting form: reading what was posted into a ``MeetingInput`` (with a message
beside each field the browser could send wrong), and the choices the form offers: the
branches the person organises, the meeting types of the rules in force, the branch's
party groups and members."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.i18n import N_, Message
from service.kernel.numbers import parse_id
from service.meetings.access import organised_branch_ids
from service.meetings.schedule import MeetingInput
from service.meetings.views import kind_label
from service.persistence.meetings import Audience, Meeting, MeetingInvitee, PartyGroup
from service.persistence.models import Branch, Member
from service.scoring.rules import Rulebook
from web.i18n import render

FIELDS = ("kind", "title", "day", "start", "end", "place", "agenda", "audience")
TEXT_MAX = {"title": 120, "place": 200, "agenda": 4000}


def all_values(data: Mapping[str, Any], key: str) -> list[str]:
    """Every value of a field that may repeat (the members ticked), as strings."""
    found = data.get(key)
    if found is None:
        return []
    items = found if isinstance(found, list | tuple) else [found]
    return [str(item) for item in items]


def one(data: Mapping[str, Any], key: str) -> str:
    found = all_values(data, key)
    return found[0].strip() if found else ""


def form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """What was posted, kept to fill the form again after an error."""
    values: dict[str, Any] = {key: one(data, key) for key in FIELDS}
    values["online"] = one(data, "online") in {"1", "on", "true"}
    values["party_group_id"] = one(data, "party_group_id")
    values["member_ids"] = [str(n) for n in member_ids_of(data)]
    values["audience"] = values["audience"] or Audience.BRANCH.value
    return values


def member_ids_of(data: Mapping[str, Any]) -> list[int]:
    ids = (parse_id(value) for value in all_values(data, "member_ids"))
    return [number for number in ids if number is not None]


CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])(?::[0-5][0-9](?:\.[0-9]{1,6})?)?")


def _message(text: str) -> str:
    return render(Message(text))


def read_meeting(data: Mapping[str, Any], branch_id: int) -> MeetingInput | dict[str, str]:
    """The posted meeting, or a message per field the service cannot be asked about
    (a date or time that is none); the service checks the rest."""
    errors: dict[str, str] = {}
    parsed_day: date | None = None
    text = one(data, "day")
    try:
        parsed_day = date.fromisoformat(text)
    except ValueError:
        errors["day"] = _message(
            N_("This field is required.") if not text else N_("Enter a date like 2026-03-12.")
        )
    times: dict[str, time] = {}
    for key in ("start", "end"):
        text = one(data, key)
        # A wall-clock time as a time input sends it: time.fromisoformat alone also takes
        # "0000-01" (midnight at UTC-1), and an offset breaks the service's arithmetic.
        if match := CLOCK.fullmatch(text):
            times[key] = time(int(match[1]), int(match[2]))
        else:
            errors[key] = _message(
                N_("This field is required.") if not text else N_("Enter a time like 19:30.")
            )
    for key, limit in TEXT_MAX.items():
        if len(one(data, key)) > limit:
            errors[key] = _message(N_("This text is too long."))
        if "\x00" in one(data, key):
            errors[key] = _message(N_("This value is not valid."))
    audience_text = one(data, "audience") or Audience.BRANCH.value
    try:
        audience = Audience(audience_text)
    except ValueError:
        errors["audience"] = _message(N_("This value is not valid."))
        audience = Audience.BRANCH
    if errors or parsed_day is None:
        return errors
    group_id = parse_id(one(data, "party_group_id"))
    return MeetingInput(
        branch_id=branch_id,
        kind=one(data, "kind"),
        title=one(data, "title"),
        day=parsed_day,
        start=times["start"],
        end=times["end"],
        place=one(data, "place"),
        online=one(data, "online") in {"1", "on", "true"},
        agenda=one(data, "agenda"),
        audience=audience,
        party_group_id=group_id if audience is Audience.GROUP else None,
        member_ids=tuple(member_ids_of(data)) if audience is Audience.LIST else (),
    )


def meeting_values(meeting: Meeting, db: Session, timezone: str) -> dict[str, Any]:
    """A meeting's fields as the form shows them (town-local date and times)."""
    zone = ZoneInfo(timezone)
    starts = meeting.starts_at.astimezone(zone)
    ends = meeting.ends_at.astimezone(zone)
    invitees = db.scalars(
        select(MeetingInvitee.member_id).where(MeetingInvitee.meeting_id == meeting.id)
    ).all()
    return {
        "kind": meeting.kind,
        "title": meeting.title,
        "day": starts.date().isoformat(),
        "start": starts.strftime("%H:%M"),
        "end": ends.strftime("%H:%M"),
        "place": meeting.place,
        "online": meeting.online,
        "agenda": meeting.agenda,
        "audience": meeting.audience.value,
        "party_group_id": str(meeting.party_group_id or ""),
        "member_ids": [str(n) for n in invitees],
    }


def empty_values(today: date) -> dict[str, Any]:
    return {
        "kind": "",
        "title": "",
        "day": today.isoformat(),
        "start": "",
        "end": "",
        "place": "",
        "online": False,
        "agenda": "",
        "audience": Audience.BRANCH.value,
        "party_group_id": "",
        "member_ids": [],
    }


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


def organised_branches(db: Session, principal: Principal) -> list[Branch]:
    """The branches the person may schedule meetings for, by name."""
    ids = organised_branch_ids(db, principal)
    query = select(Branch).order_by(Branch.code)
    if ids is not None:
        if not ids:
            return []
        query = query.where(Branch.id.in_(ids))
    return list(db.scalars(query))


def kind_choices(rulebook: Rulebook, day: date) -> list[Choice]:
    ruleset = rulebook.in_force(day)
    kinds = ruleset.meeting_types() if ruleset else ()
    return [Choice(_kind_value(kind), render(kind_label(_kind_value(kind)))) for kind in kinds]


def _kind_value(kind: Any) -> str:
    return str(getattr(kind, "value", kind))


def group_choices(db: Session, branch_id: int) -> list[Choice]:
    groups = db.scalars(
        select(PartyGroup).where(PartyGroup.branch_id == branch_id).order_by(PartyGroup.name)
    )
    return [Choice(str(group.id), group.name) for group in groups]


def member_choices(db: Session, branch_id: int) -> list[Choice]:
    members = db.scalars(
        select(Member)
        .where(Member.branch_id == branch_id, Member.active.is_(True))
        .order_by(Member.code)
    )
    return [Choice(str(member.id), f"{member.name} ({member.code})") for member in members]


def local_time(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))
