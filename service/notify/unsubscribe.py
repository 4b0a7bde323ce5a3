"""Stopping the weekly digest from its email's link, without signing in.

Every digest email carries ``/notify/unsubscribe/{token}``: the token is the account's
``NotifySettings.unsubscribe_token`` (random, 32 bytes), and knowing it is what
authorises the change, as a calendar feed's token does. Unsubscribing turns every kind
the account gets as a digest into "inbox only" and drops the items still waiting for
the next digest: they stay in the inbox. Nothing else can be changed through the link
(not the address, not a mandatory kind's inbox), so a leaked link does little harm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.outbox.kinds import KINDS
from service.persistence.models import Account
from service.persistence.notify import (
    Channel,
    Delivery,
    DeliveryStatus,
    Mode,
    NotifyPreference,
    NotifySettings,
)

DROPPED = "unsubscribed from the weekly digest"


@dataclass(frozen=True)
class Subscriber:
    """Whose link it is, as the confirmation page may show it: the display name only."""

    account_id: int
    display_name: str
    digest_kinds: int  # kinds the account gets as a digest now


def _settings(session: Session, token: str) -> NotifySettings | None:
    # Tokens are made by secrets.token_urlsafe(32): 43 characters. Anything else is not
    # a token; it is refused before the lookup.
    if not token or len(token) > 64:
        return None
    return session.scalar(select(NotifySettings).where(NotifySettings.unsubscribe_token == token))


def _digest_kinds(session: Session, account_id: int) -> list[str]:
    """The kinds this account gets as a digest: its preferences, else the kinds' own
    defaults."""
    chosen = dict(
        session.execute(
            select(NotifyPreference.kind, NotifyPreference.mode).where(
                NotifyPreference.account_id == account_id
            )
        ).all()
    )
    return [
        kind_id
        for kind_id, item in KINDS.items()
        if chosen.get(kind_id, item.default) == Mode.DIGEST
    ]


def subscriber(session: Session, token: str) -> Subscriber | None:
    """The link's account (None: no such link)."""
    row = _settings(session, token)
    if row is None:
        return None
    name = session.scalar(select(Account.display_name).where(Account.id == row.account_id))
    return Subscriber(row.account_id, name or "", len(_digest_kinds(session, row.account_id)))


def unsubscribe(session: Session, token: str, *, now: datetime) -> int | None:
    """Turn the link's account's digest kinds to inbox only and drop its waiting digest
    items. Returns how many kinds changed (0: there were none; doing it twice is
    harmless), or None when the token is no link's."""
    row = _settings(session, token)
    if row is None:
        return None
    account_id = row.account_id
    kinds = _digest_kinds(session, account_id)
    for kind_id in kinds:
        preference = session.get(NotifyPreference, (account_id, kind_id))
        if preference is None:
            session.add(NotifyPreference(account_id=account_id, kind=kind_id, mode=Mode.INBOX))
        else:
            preference.mode = Mode.INBOX
    session.execute(
        update(Delivery)
        .where(
            Delivery.account_id == account_id,
            Delivery.channel == Channel.DIGEST,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.digest_id.is_(None),
        )
        .values(status=DeliveryStatus.SKIPPED, last_error=DROPPED)
        .execution_options(synchronize_session=False)
    )
    if kinds:
        row.updated_at = now
    session.flush()
    return len(kinds)
