"""The email channel (helper "email" fills this in): one message per delivery, in the
recipient's language, plain text and HTML from the same gettext strings."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.notify.channels import NothingToSend, SendContext
from service.persistence.notify import Delivery


def deliver(session: Session, delivery: Delivery, context: SendContext) -> str:
    raise NothingToSend("email is not built yet")
