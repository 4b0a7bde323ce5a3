"""The demo town's notifications: the demo accounts' settings (an example.org address,
a language, a few preferences: someone on email, someone on the digest), a few recent
messages so the inbox is not empty on the first ``make run``, and no flood later.

The history the loader plays through the services (boards published, objections
answered, meetings, warning cases) writes notifications as it would in real life, and
deliveries for the accounts that chose email or the digest. Those deliveries are
marked skipped with "demo history": the day an IT person configures SMTP, the sender
must not mail out months of a town that never happened.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from service.entries.notices import entry_approved, entry_rejected
from service.entries.waiting import waiting_per_reviewer
from service.ops.seed.town_file import DemoAccount
from service.outbox.emit import emit
from service.outbox.facts import local_day
from service.persistence.models import Entry, EntryStatus, LedgerLine
from service.persistence.notify import Delivery, DeliveryStatus, NotifyPreference, NotifySettings
from service.scoring.rules import Rulebook

HISTORY = "demo history"
# The demo member's decisions of the last two weeks reach the inbox.
RECENT_DAYS = 14
RECENT_MAX = 4


def write_settings(
    session: Session, accounts: Iterable[tuple[int, DemoAccount]], created_at: datetime
) -> None:
    """Each demo account's notification settings and preferences."""
    settings: list[dict[str, object]] = []
    preferences: list[dict[str, object]] = []
    for account_id, spec in accounts:
        if spec.email is None and not spec.notify and spec.locale == "zh_CN":
            continue
        settings.append(
            {
                "account_id": account_id,
                "email": spec.email,
                "locale": spec.locale,
                "unsubscribe_token": secrets.token_urlsafe(32),
                "updated_at": created_at,
            }
        )
        preferences += [
            {"account_id": account_id, "kind": kind_id, "mode": mode}
            for kind_id, mode in sorted(spec.notify.items())
        ]
    if settings:
        session.execute(insert(NotifySettings), settings)
    if preferences:
        session.execute(insert(NotifyPreference), preferences)


def recent_messages(
    session: Session,
    rulebook: Rulebook,
    member_accounts: dict[int, int],
    zone: str,
    now: datetime,
) -> None:
    """What the last days would have told the demo accounts: their members' entries
    decided lately, and the reviewers' waiting entries (yesterday's reminder)."""
    since = now - timedelta(days=RECENT_DAYS)
    for member_id in sorted(member_accounts):
        decided = session.scalars(
            select(Entry)
            .where(
                Entry.member_id == member_id,
                Entry.status.in_((EntryStatus.APPROVED, EntryStatus.REJECTED)),
                Entry.decided_at >= since,
                Entry.decided_at <= now,
            )
            .order_by(Entry.decided_at.desc(), Entry.id.desc())
            .limit(RECENT_MAX)
        ).all()
        for entry in reversed(decided):
            when = entry.decided_at or now
            if entry.status is EntryStatus.REJECTED:
                entry_rejected(session, entry, rulebook, entry.decision_reason or "", now=when)
                continue
            points = session.scalar(
                select(func.coalesce(func.sum(LedgerLine.points), 0)).where(
                    LedgerLine.member_id == member_id,
                    LedgerLine.activity_key == f"entry:{entry.id}",
                )
            )
            entry_approved(session, entry, rulebook, Decimal(points or 0), now=when)
    # Yesterday's reminder (today's is the first sweep's to write).
    yesterday = now - timedelta(days=1)
    for waiting in waiting_per_reviewer(session):
        emit(
            session,
            "review_waiting",
            params={"count": waiting.count, "oldest": local_day(waiting.oldest, zone)},
            link="/review",
            accounts=[waiting.account_id],
            dedupe_key=f"review_waiting:{local_day(yesterday, zone)}",
            now=yesterday,
        )


def skip_history(session: Session) -> int:
    """Mark every delivery the load wrote skipped ("demo history"); returns how many."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SKIPPED, last_error=HISTORY)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
