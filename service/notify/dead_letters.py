"""The dead-letter list: deliveries that failed every attempt, with their last error,
for the office to see and send again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.persistence.notify import Delivery, DeliveryStatus, Notification
from service.persistence.types import utcnow

PAGE_SIZE = 50


@dataclass(frozen=True)
class DeadLetter:
    delivery: Delivery
    kind: str | None  # the notification's kind (None: a digest email)


def status_counts(session: Session, actor: Principal) -> dict[DeliveryStatus, int]:
    """How many deliveries are in each state (the office's outbox summary)."""
    require_admin(actor)
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    counts = dict.fromkeys(DeliveryStatus, 0)
    counts.update({status: int(count) for status, count in rows})
    return counts


def dead_letters(session: Session, actor: Principal, *, page: int = 1) -> list[DeadLetter]:
    """One page of dead deliveries, the newest failure first."""
    require_admin(actor)
    rows = session.execute(
        select(Delivery, Notification.kind)
        .outerjoin(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.status == DeliveryStatus.DEAD)
        .order_by(Delivery.next_attempt_at.desc(), Delivery.id.desc())
        .limit(PAGE_SIZE)
        .offset((max(1, page) - 1) * PAGE_SIZE)
    ).all()
    return [DeadLetter(delivery, kind) for delivery, kind in rows]


def retry_dead(
    session: Session, actor: Principal, ids: list[int] | None = None, *, now: datetime | None = None
) -> int:
    """Send these dead deliveries (None: all of them) again: pending, attempts from
    zero, due now. The last error stays until the next attempt replaces it. Returns how
    many were requeued; ids that are not dead are left alone."""
    require_admin(actor)
    when = now or utcnow()
    statement = (
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.DEAD)
        .values(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=when,
            claimed_by=None,
            claimed_until=None,
        )
    )
    if ids is not None:
        if not ids:
            return 0
        statement = statement.where(Delivery.id.in_(ids))
    result = session.execute(statement.execution_options(synchronize_session=False))
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
