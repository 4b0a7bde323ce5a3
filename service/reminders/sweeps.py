"""The reminder sweeps: what no single event causes, read from the domains' state at
``now`` and emitted with a dedupe key, so every pass of ``jifen notify run`` (a timer
every few minutes) writes each reminder once.

- review_waiting: each secretary and instructor with entries to decide, once per
  town-local day (the key holds the date);
- meeting_soon: meetings starting within the next two hours, once per meeting, to the
  audience its scheduling reached;
- publish_ready: the office, once per month that has ended, is not published, holds
  no pending entry and no unclosed meeting, and has something to publish;
- objections_open: the office, once per town-local day while objections wait;
- declare_reminder: everyone and every group robot, once per month, in the month's
  last three days. A ruleset has no declaration deadline (members may declare the
  month before too, until it is published: ``declare_months_back``), so the month's
  last day is the deadline the reminder names.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.entries.waiting import waiting_per_reviewer
from service.kernel.config import Settings
from service.kernel.periods import period_of, shift_period
from service.meetings.notices import tell_meeting
from service.outbox.emit import emit, office_accounts
from service.outbox.facts import local_day
from service.persistence.meetings import Meeting, MeetingStatus
from service.persistence.models import Objection, ObjectionStatus
from service.persistence.notify import Notification
from service.publication.state import (
    latest_publication,
    month_activity,
    pending_by_branch,
    unclosed_meetings,
)

SOON = timedelta(hours=2)
# How many ended months publish_ready looks back over: a month left unpublished longer
# than this has been reminded of already (once) and is the office's known business.
PUBLISH_LOOKBACK = 3
DECLARE_DAYS_BEFORE = 2  # the last day and the two before it: the last three days
# The PostgreSQL advisory lock one sweeping pass holds (publication's is 4_242_001).
SWEEP_LOCK_KEY = 4_242_019


def _sweeper(session: Session) -> bool:
    """Whether this pass is the one sweeping now. Two senders' passes at the same moment
    would both find a reminder missing and both insert it: the dedupe key's unique index
    would then fail the second pass's whole transaction. On PostgreSQL one pass at a time
    sweeps (an advisory lock held to the end of its transaction; a pass that finds it
    taken skips the sweep, the other one is doing it); SQLite has one writer anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK_KEY})
    )


def _last_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Notification.id))) or 0)


def _written_after(session: Session, last_id: int) -> int:
    # Counted above the last id, not over the table: the pass runs every few minutes.
    return int(
        session.scalar(select(func.count(Notification.id)).where(Notification.id > last_id)) or 0
    )


def sweep_all(session: Session, settings: Settings, now: datetime) -> int:
    """Emit every reminder that is due at ``now`` (idempotent: dedupe keys); return how
    many notifications were written. Flushes, never commits: the caller's pass does."""
    if not _sweeper(session):
        return 0
    before = _last_id(session)
    zone = settings.timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    review_waiting(session, today, zone, now)
    meeting_soon(session, zone, now)
    publish_ready(session, today, now)
    objections_open(session, today, now)
    declare_reminder(session, today, now)
    session.flush()
    return _written_after(session, before)


def review_waiting(session: Session, today: date, zone: str, now: datetime) -> None:
    key = f"review_waiting:{today.isoformat()}"
    waiting_list = waiting_per_reviewer(session)
    # Who has today's already, asked by exact keys (the unique index) in a few queries:
    # emit would ask once per reviewer, and the timer runs every few minutes.
    wanted = [f"{key}:{waiting.account_id}" for waiting in waiting_list]
    done: set[str | None] = set()
    for start in range(0, len(wanted), 500):
        done.update(
            session.scalars(
                select(Notification.dedupe_key).where(
                    Notification.dedupe_key.in_(wanted[start : start + 500])
                )
            )
        )
    for waiting in waiting_list:
        if f"{key}:{waiting.account_id}" in done:
            continue
        emit(
            session,
            "review_waiting",
            params={"count": waiting.count, "oldest": local_day(waiting.oldest, zone)},
            link="/review",
            accounts=[waiting.account_id],
            dedupe_key=key,
            now=now,
        )


def meeting_soon(session: Session, zone: str, now: datetime) -> None:
    meetings = session.scalars(
        select(Meeting)
        .where(
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.starts_at > now,
            Meeting.starts_at <= now + SOON,
        )
        .order_by(Meeting.starts_at, Meeting.id)
    )
    for meeting in meetings:
        tell_meeting(
            session,
            meeting,
            "meeting_soon",
            zone=zone,
            now=now,
            dedupe_key=f"meeting_soon:{meeting.id}",
        )


def ready_to_publish(session: Session, period: str) -> bool:
    """Whether the office can publish ``period`` now without a refusal: not published,
    nothing pending, no meeting left unclosed, something counts in it."""
    return (
        latest_publication(session, period) is None
        and not pending_by_branch(session, period)
        and not unclosed_meetings(session, period)
        and month_activity(session, period) > 0
    )


def publish_ready(session: Session, today: date, now: datetime) -> None:
    current = period_of(today)
    office = office_accounts(session)
    if not office:
        return
    for back in range(PUBLISH_LOOKBACK, 0, -1):
        period = shift_period(current, -back)
        if not ready_to_publish(session, period):
            continue
        emit(
            session,
            "publish_ready",
            params={"period": period},
            link="/admin/publication",
            accounts=office,
            dedupe_key=f"publish_ready:{period}",
            now=now,
        )


def objections_open(session: Session, today: date, now: datetime) -> None:
    count = int(
        session.scalar(
            select(func.count(Objection.id)).where(Objection.status == ObjectionStatus.OPEN)
        )
        or 0
    )
    if count == 0:
        return
    emit(
        session,
        "objections_open",
        params={"count": count},
        link="/admin/publication",
        accounts=office_accounts(session),
        dedupe_key=f"objections_open:{today.isoformat()}",
        now=now,
    )


def last_day_of_month(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def declare_reminder(session: Session, today: date, now: datetime) -> None:
    deadline = last_day_of_month(today)
    if today < deadline - timedelta(days=DECLARE_DAYS_BEFORE):
        return
    period = period_of(today)
    emit(
        session,
        "declare_reminder",
        params={"period": period, "deadline": deadline.isoformat()},
        link="/entries/new",
        broadcast="town",
        robots="all",
        dedupe_key=f"declare_reminder:{period}",
        now=now,
    )
