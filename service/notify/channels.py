"""What a channel is, for the sender: a function that delivers one claimed delivery.

``deliver(session, delivery, context) -> str`` sends the message (an email, a robot
post) and returns what to record as its address (the email address; the robot's masked
URL). It raises ``DeliveryFailed`` for a failure worth retrying (a timeout, a 500, an
SMTP 4xx; ``permanent=True`` for one that never will succeed: a 钉钉 errcode saying the
signature is wrong, an SMTP 5xx on the address) and ``NothingToSend`` when there is
nobody to send to (no email address, email not configured, the robot removed): the
delivery is then SKIPPED with that reason, never silently dropped.

The session is a read session: a channel reads the notification, the account's settings
and the webhook; the sender alone writes the delivery's state, in its own transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from service.kernel.config import Settings
from service.persistence.notify import Delivery


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class NothingToSend(Exception):
    """Nobody to send to; the message says why (recorded on the delivery)."""


@dataclass(frozen=True)
class SendContext:
    settings: Settings
    now: datetime
    # A previous claim of this delivery expired without a result: the sender may have
    # crashed after sending. The message says "possibly a repeat" where the channel can.
    possible_repeat: bool


Deliver = Callable[[Session, Delivery, SendContext], str]


def mask_url(url: str) -> str:
    """A webhook URL as pages, logs and errors may show it: scheme, host and path, with
    the token (query) replaced by its last four characters."""
    base, _, query = url.partition("?")
    if not query:
        return base
    return f"{base}?…{query[-4:]}"
