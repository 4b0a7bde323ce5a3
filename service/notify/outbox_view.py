"""The office's outbox page: the dead-letter list with who each message was for (an
account's name, or the branch whose group robot it was; the town's robot has none).
The robot's address is not shown here at all: the robot pages show it masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.persistence.models import Account, Branch
from service.persistence.notify import Channel, Delivery, DeliveryStatus, Notification, RobotWebhook

PAGE_SIZE = 50


@dataclass(frozen=True)
class DeadRow:
    id: int
    channel: Channel
    kind: str | None  # None: a weekly digest email
    account_name: str | None
    robot_branch: str | None
    town_robot: bool
    attempts: int
    last_error: str
    failed_at: datetime


@dataclass(frozen=True)
class DeadPage:
    rows: list[DeadRow]
    page: int
    pages: int
    total: int


def dead_page(session: Session, actor: Principal, *, page: int = 1) -> DeadPage:
    """One page of dead deliveries, the newest failure first."""
    require_admin(actor)
    dead = Delivery.status == DeliveryStatus.DEAD
    total = int(session.scalar(select(func.count(Delivery.id)).where(dead)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = session.execute(
        select(
            Delivery,
            Notification.kind,
            Account.display_name,
            Branch.name,
            RobotWebhook.id.label("robot_id"),
        )
        .outerjoin(Notification, Notification.id == Delivery.notification_id)
        .outerjoin(Account, Account.id == Delivery.account_id)
        .outerjoin(RobotWebhook, RobotWebhook.id == Delivery.webhook_id)
        .outerjoin(Branch, Branch.id == RobotWebhook.branch_id)
        .where(dead)
        .order_by(Delivery.next_attempt_at.desc(), Delivery.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return DeadPage(
        [
            DeadRow(
                delivery.id,
                delivery.channel,
                kind,
                account_name,
                branch_name,
                robot_id is not None and branch_name is None,
                delivery.attempts,
                delivery.last_error,
                delivery.next_attempt_at,
            )
            for delivery, kind, account_name, branch_name, robot_id in rows
        ],
        page,
        pages,
        total,
    )
