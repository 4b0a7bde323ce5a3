"""A member's private calendar feed (iCalendar) of their meetings.

A phone calendar subscribes to ``/calendar/<token>.ics`` and cannot sign in, so the
token in the address is the only key. The database keeps only its SHA-256; the token
itself is derived from the server's secret key, the account and the moment the feed
was made (HMAC-SHA256), so the account page can show the same address again without
storing it, a copy of the database alone gives no working address, and making a new
link (a new moment) makes the old address stop working. Were the secret key changed,
the derived token no longer matches the stored hash and a new link is made.

The feed names the meeting, its time, place and agenda and its page; nothing private
(no leave reasons, no attendance, no other member).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.i18n import N_
from service.meetings.views import KIND_LABELS
from service.persistence.meetings import (
    CalendarFeed,
    Meeting,
    MeetingInvitee,
    MeetingOrganiser,
    MeetingStatus,
)
from service.persistence.models import Account, Role, RoleGrant
from service.scoring.rules import MeetingType

# How far back the feed reaches: a phone keeps what it has seen; three months of past
# meetings are enough to look one up.
PAST_DAYS = 90


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _derive(secret: str, account_id: int, made_at: datetime) -> str:
    message = f"jifen-calendar:{account_id}:{made_at.isoformat()}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def current_token(session: Session, actor: Principal, *, secret: str) -> str | None:
    """The actor's calendar token as it works now, without writing anything; None when
    there is none yet (or the server's key changed since it was made)."""
    feed = session.get(CalendarFeed, actor.account_id)
    if feed is None:
        return None
    token = _derive(secret, actor.account_id, feed.created_at)
    return token if hmac.compare_digest(_hash(token), feed.token_hash) else None


def feed_token(
    session: Session, actor: Principal, *, secret: str, now: datetime, rotate: bool = False
) -> str:
    """The actor's calendar token: made on first use, the same one afterwards, a new
    one (the old one stops working) when ``rotate``. ``secret``: the server's key."""
    made_at = now.replace(microsecond=0)
    if not rotate:
        token = current_token(session, actor, secret=secret)
        if token is not None:
            return token
    feed = session.get(CalendarFeed, actor.account_id)
    if feed is None:
        feed = CalendarFeed(account_id=actor.account_id, token_hash="", created_at=made_at)
        session.add(feed)
    elif made_at <= feed.created_at:
        # Two links made within a second: the new one must still differ.
        made_at = feed.created_at + timedelta(seconds=1)
    token = _derive(secret, actor.account_id, made_at)
    feed.created_at = made_at
    feed.token_hash = _hash(token)
    session.flush()
    return token


def _organised_branch_ids(session: Session, account_id: int) -> set[int]:
    """The branches whose meetings the account runs: as their secretary or a named
    organiser (the office's town-wide view is not a personal calendar)."""
    secretary = session.scalars(
        select(RoleGrant.branch_id).where(
            RoleGrant.account_id == account_id,
            RoleGrant.role == Role.SECRETARY,
            RoleGrant.branch_id.is_not(None),
        )
    )
    named = session.scalars(
        select(MeetingOrganiser.branch_id).where(MeetingOrganiser.account_id == account_id)
    )
    return {b for b in secretary if b is not None} | set(named)


def feed_meetings(session: Session, account: Account, *, now: datetime) -> list[Meeting]:
    """The meetings on the account's feed, by start: those its member is expected at and
    those of the branches it organises, from ``PAST_DAYS`` back on."""
    conditions = []
    if account.member_id is not None:
        conditions.append(
            Meeting.id.in_(
                select(MeetingInvitee.meeting_id).where(
                    MeetingInvitee.member_id == account.member_id
                )
            )
        )
    branches = _organised_branch_ids(session, account.id)
    if branches:
        conditions.append(Meeting.branch_id.in_(branches))
    if not conditions:
        return []
    return list(
        session.scalars(
            select(Meeting)
            .where(or_(*conditions), Meeting.starts_at >= now - timedelta(days=PAST_DAYS))
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


def _event(
    meeting: Meeting, *, now: datetime, base_url: str, gettext: Callable[[str], str]
) -> Event:
    event = Event()
    event.add("uid", f"meeting-{meeting.id}@jifen")
    event.add("dtstamp", now)
    event.add("dtstart", meeting.starts_at)
    event.add("dtend", meeting.ends_at)
    label = gettext(KIND_LABELS.get(meeting.kind, KIND_LABELS[MeetingType.ACTIVITY.value]))
    event.add("summary", f"{label}: {meeting.title}")
    place = meeting.place
    if meeting.online:
        online = gettext(N_("Online"))
        place = f"{online} {place}".strip() if place else online
    if place:
        event.add("location", place)
    url = f"{base_url.rstrip('/')}/meetings/{meeting.id}"
    description = "\n\n".join(part for part in (meeting.agenda.strip(), url) if part)
    event.add("description", description)
    event.add("url", url)
    cancelled = meeting.status is MeetingStatus.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    # A calendar replaces an event when its sequence grows: an edit or a cancellation.
    changed = meeting.cancelled_at or meeting.updated_at or meeting.created_at
    event.add("sequence", max(0, int((changed - meeting.created_at).total_seconds())))
    event.add("last-modified", changed)
    return event


def calendar_for_token(
    session: Session,
    token: str,
    *,
    now: datetime,
    base_url: str = "",
    gettext: Callable[[str], str] = N_,
) -> bytes | None:
    """The feed behind ``token`` as iCalendar bytes; None for an unknown token or a
    disabled account. ``base_url``: the town's address, for each meeting's link."""
    if not token or len(token) > 128:
        return None
    feed = session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token)))
    if feed is None:
        return None
    account = session.get(Account, feed.account_id)
    if account is None or not account.is_active:
        return None
    calendar = Calendar()
    calendar.add("prodid", "-//Jifen//Meetings//ZH")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", gettext(N_("Branch meetings")))
    calendar.add("x-published-ttl", "PT1H")
    for meeting in feed_meetings(session, account, now=now):
        calendar.add_component(_event(meeting, now=now, base_url=base_url, gettext=gettext))
    data: bytes = calendar.to_ical()
    return data
