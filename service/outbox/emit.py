"""Writing notifications: ``emit`` in the transaction of the event that causes them.

The caller (a service: an approval, a published board, a warning case) passes its own
session and flushes; nothing here commits. So an event that rolls back leaves no
notification and no delivery, and one that commits is in the outbox for the sender
(``service.notify.sender``) to deliver: the transactional outbox.

``emit`` decides, from each recipient's preferences, which deliveries to write: an email
(``Mode.EMAIL``), a digest item (``Mode.DIGEST``) or none (inbox only). Quiet hours are
applied by the sender, not here: the event's time is all this module needs.

Broadcasts (a branch's members, the town) are one row each; they go to every group
robot of their scope, and to an email or digest item only for the accounts that chose
one. Private kinds refuse every audience but a single account: that refusal is the one
place the rule "nothing private reaches a group" is enforced.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.outbox.kinds import Kind, dump_params, kind
from service.persistence.models import Account, Member, Role, RoleGrant
from service.persistence.notify import (
    Audience,
    Channel,
    Delivery,
    Mode,
    Notification,
    NotifyPreference,
    RobotService,
    RobotWebhook,
)
from service.persistence.types import utcnow

# Where a broadcast's group robots are: its branch's, the town office's, or both the
# town's and every branch's (a published board).
Robots = Literal["none", "branch", "town", "all"]


class PrivacyError(ValueError):
    """A private kind addressed to a group: a programming error, refused before any
    row is written."""


def new_key() -> str:
    """An idempotency key: random, so a resend is recognisable as the same message."""
    return secrets.token_hex(16)


def modes_for(session: Session, item: Kind, account_ids: Iterable[int]) -> dict[int, Mode]:
    """Each account's mode for ``item``: its preference, else the kind's default; a
    mandatory kind is never off."""
    ids = list(dict.fromkeys(account_ids))
    chosen: dict[int, Mode] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            select(NotifyPreference.account_id, NotifyPreference.mode).where(
                NotifyPreference.kind == item.id, NotifyPreference.account_id.in_(chunk)
            )
        )
        chosen.update({account_id: mode for account_id, mode in rows})
    result: dict[int, Mode] = {}
    for account_id in ids:
        mode = chosen.get(account_id, item.default)
        if item.mandatory and mode == Mode.OFF:
            mode = Mode.INBOX
        result[account_id] = mode
    return result


def _delivery_for(mode: Mode, account_id: int, now: datetime) -> Delivery | None:
    if mode == Mode.EMAIL:
        channel = Channel.EMAIL
    elif mode == Mode.DIGEST:
        channel = Channel.DIGEST
    else:
        return None
    return Delivery(
        channel=channel,
        account_id=account_id,
        idempotency_key=new_key(),
        created_at=now,
        not_before=now,
        next_attempt_at=now,
    )


def emit(
    session: Session,
    kind_id: str,
    *,
    params: Mapping[str, Any],
    link: str,
    accounts: Iterable[int] = (),
    branch_id: int | None = None,
    broadcast: Literal["branch", "town"] | None = None,
    robots: Robots = "none",
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """Write the notifications of one event and their deliveries; flush, never commit.

    ``accounts``: personal notifications, one per (active) account. ``broadcast``:
    one notification for every member of ``branch_id`` ("branch") or the town
    ("town"), posted to the ``robots`` of that scope. ``dedupe_key`` (a reminder
    sweep's): if a notification with that key exists, nothing is written (for a
    personal notification the key is suffixed with the account id).
    """
    item = kind(kind_id)
    if broadcast is not None and not item.group:
        raise PrivacyError(f"{kind_id} is not for groups: it cannot be broadcast")
    if robots != "none" and broadcast is None:
        raise PrivacyError("group robots only carry broadcasts")
    if broadcast == "branch" and branch_id is None:
        raise ValueError("a branch broadcast needs its branch_id")
    when = now or utcnow()
    stored = dump_params(params)
    written: list[Notification] = []

    personal = list(dict.fromkeys(accounts))
    if personal:
        active = set(
            session.scalars(
                select(Account.id).where(Account.id.in_(personal), Account.is_active.is_(True))
            )
        )
        personal = [account_id for account_id in personal if account_id in active]
    modes = modes_for(session, item, personal)
    pending: list[tuple[Notification, Mode, int]] = []
    for account_id in personal:
        mode = modes[account_id]
        if mode == Mode.OFF:
            continue
        key = f"{dedupe_key}:{account_id}" if dedupe_key else None
        if key is not None and _exists(session, key):
            continue
        note = Notification(
            kind=item.id,
            audience=Audience.ACCOUNT,
            account_id=account_id,
            branch_id=branch_id,
            params=stored,
            link=link,
            created_at=when,
            dedupe_key=key,
        )
        session.add(note)
        written.append(note)
        pending.append((note, mode, account_id))
    if pending:
        session.flush()  # the notifications' ids, for their deliveries
    for note, mode, account_id in pending:
        delivery = _delivery_for(mode, account_id, when)
        if delivery is not None:
            delivery.notification_id = note.id
            session.add(delivery)

    if broadcast is not None:
        if dedupe_key is not None and _exists(session, dedupe_key):
            session.flush()
            return written
        note = Notification(
            kind=item.id,
            audience=Audience.BRANCH if broadcast == "branch" else Audience.TOWN,
            account_id=None,
            branch_id=branch_id if broadcast == "branch" else None,
            params=stored,
            link=link,
            created_at=when,
            dedupe_key=dedupe_key,
        )
        session.add(note)
        session.flush()
        written.append(note)
        audience = broadcast_accounts(session, branch_id if broadcast == "branch" else None)
        for account_id, mode in modes_for(session, item, audience).items():
            delivery = _delivery_for(mode, account_id, when)
            if delivery is not None:
                delivery.notification_id = note.id
                session.add(delivery)
        for hook in _robots(session, robots, branch_id):
            session.add(
                Delivery(
                    notification_id=note.id,
                    channel=Channel.WECOM
                    if hook.service == RobotService.WECOM
                    else Channel.DINGTALK,
                    webhook_id=hook.id,
                    idempotency_key=new_key(),
                    created_at=when,
                    not_before=when,
                    next_attempt_at=when,
                )
            )
    session.flush()
    return written


def _exists(session: Session, key: str) -> bool:
    return session.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None


def _robots(session: Session, robots: Robots, branch_id: int | None) -> list[RobotWebhook]:
    if robots == "none":
        return []
    query = select(RobotWebhook).where(RobotWebhook.enabled.is_(True))
    if robots == "branch":
        query = query.where(RobotWebhook.branch_id == branch_id)
    elif robots == "town":
        query = query.where(RobotWebhook.branch_id.is_(None))
    return list(session.scalars(query.order_by(RobotWebhook.id)))


# --- who ---------------------------------------------------------------------------------


def broadcast_accounts(session: Session, branch_id: int | None) -> list[int]:
    """The active accounts a broadcast reaches: the members of ``branch_id`` (None:
    every member's account, and every account with a role but no member)."""
    query = select(Account.id).where(Account.is_active.is_(True))
    if branch_id is not None:
        query = query.join(Member, Member.id == Account.member_id).where(
            Member.branch_id == branch_id, Member.active.is_(True)
        )
    return list(session.scalars(query.order_by(Account.id)))


def member_accounts(session: Session, member_ids: Iterable[int]) -> list[int]:
    """The accounts of these members (members without an account hear nothing)."""
    ids = list(dict.fromkeys(member_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(Account.id).where(Account.member_id.in_(ids), Account.is_active.is_(True))
        )
    )


def reviewer_accounts(session: Session, branch_id: int) -> list[int]:
    """The secretaries and instructors of ``branch_id`` (not the office: it has its own
    reminders)."""
    return list(
        session.scalars(
            select(RoleGrant.account_id)
            .join(Account, Account.id == RoleGrant.account_id)
            .where(
                RoleGrant.branch_id == branch_id,
                RoleGrant.role.in_((Role.SECRETARY, Role.INSTRUCTOR)),
                Account.is_active.is_(True),
            )
            .distinct()
        )
    )


def office_accounts(session: Session) -> list[int]:
    """The town office's accounts (the admin role)."""
    return list(
        session.scalars(
            select(RoleGrant.account_id)
            .join(Account, Account.id == RoleGrant.account_id)
            .where(RoleGrant.role == Role.ADMIN, Account.is_active.is_(True))
            .distinct()
        )
    )
