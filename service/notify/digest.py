"""The weekly digest: an account that chose "weekly digest" for a kind gets its messages
of that kind in one email a week instead of one email each.

``emit`` writes a DIGEST delivery per message (an item). On the digest weekday
(JIFEN_DIGEST_WEEKDAY, in the town's time zone), once the account's quiet hours are
over, ``compose_digests`` gathers each account's waiting items into one EMAIL delivery
(no notification; the items point at it through ``digest_id``) and marks the items
sent: the email carries them, and it is the email that the sender retries. Everything
an account gets is in one email grouped by kind, whichever role it got each item in.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session, aliased

from service.kernel.config import Settings
from service.kernel.i18n import catalog
from service.notify.account_settings import existing_settings, quiet_span
from service.notify.email import digest_subject
from service.notify.quiet import release_time
from service.outbox.emit import new_key
from service.persistence.models import Account
from service.persistence.notify import Channel, Delivery, DeliveryStatus

# Digest emails per call: the sender calls this before every pass, so a large town's
# digests are written over a few passes rather than in one long transaction.
BATCH = 200


def _day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The start of ``now``'s day on the town's clock, in ``now``'s terms."""
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(now.tzinfo)


def compose_digests(session: Session, settings: Settings, now: datetime) -> int:
    """Turn each account's waiting digest items into one digest email delivery; return
    how many digest emails were written. Writes nothing but on the digest weekday; an
    account in its quiet hours waits for their end; an account that already had its
    digest today gets no second one (items that arrive later wait for next week)."""
    zone = ZoneInfo(settings.timezone)
    if now.astimezone(zone).weekday() != settings.digest_weekday:
        return 0
    today = _day_start(now, zone)
    waiting = and_(
        Delivery.channel == Channel.DIGEST,
        Delivery.status == DeliveryStatus.PENDING,
        Delivery.digest_id.is_(None),
        Delivery.created_at < now,
    )
    # Accounts that had their digest today (the email a digest is: no notification).
    # An alias: the same table unaliased would be correlated with the outer query's row.
    digest = aliased(Delivery)
    done_today = select(digest.account_id).where(
        digest.channel == Channel.EMAIL,
        digest.notification_id.is_(None),
        digest.account_id.is_not(None),
        digest.created_at >= today,
    )
    account_ids = list(
        session.scalars(
            select(Delivery.account_id)
            .where(
                waiting, Delivery.account_id.is_not(None), Delivery.account_id.not_in(done_today)
            )
            .group_by(Delivery.account_id)
            .order_by(Delivery.account_id)
        )
    )
    if not account_ids:
        return 0
    rows = existing_settings(session, [a for a in account_ids if a is not None])
    active = set(
        session.scalars(
            select(Account.id).where(Account.id.in_(account_ids), Account.is_active.is_(True))
        )
    )
    written = 0
    for account_id in account_ids:
        if account_id is None:
            continue
        if written >= BATCH:
            break
        items = and_(waiting, Delivery.account_id == account_id)
        if account_id not in active:
            # A disabled account reads nothing: its items would wait forever.
            session.execute(
                update(Delivery)
                .where(items)
                .values(status=DeliveryStatus.SKIPPED, last_error="the account is disabled")
                .execution_options(synchronize_session=False)
            )
            continue
        row = rows.get(account_id)
        start, end = quiet_span(row, settings)
        if release_time(now, start, end, zone) > now:
            continue  # in the account's quiet hours: a later pass today writes it
        count = len(list(session.scalars(select(Delivery.id).where(items))))
        locale = row.locale if row is not None and row.locale else settings.default_locale
        email = Delivery(
            channel=Channel.EMAIL,
            account_id=account_id,
            notification_id=None,
            subject=digest_subject(catalog(locale).ngettext, count)[:255],
            idempotency_key=new_key(),
            created_at=now,
            not_before=now,
            next_attempt_at=now,
        )
        session.add(email)
        session.flush()
        session.execute(
            update(Delivery)
            .where(items)
            .values(digest_id=email.id, status=DeliveryStatus.SENT, sent_at=now)
            .execution_options(synchronize_session=False)
        )
        written += 1
    session.flush()
    return written
