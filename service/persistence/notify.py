"""The tables of telling people (issue 19): the inbox's notifications, the outbox's
deliveries, group-robot webhooks and each account's notification settings.

A ``Notification`` is one thing that happened, addressed to one audience: an account
(personal, may be private), the members of a branch, or the whole town (broadcasts:
only what the whole group may see). The inbox shows an account its personal rows and
the broadcasts of its branch and town; ``NotificationRead`` records what it has read,
so a board published to 100,000 members is one row, not 100,000.

A ``Delivery`` is one message to send through one channel (an email, a digest item, a
企业微信 or 钉钉 robot post). Both are written in the transaction of the event that
causes them (a transactional outbox): an approval that rolls back sends nothing; one
that commits is never lost. ``jifen notify run`` claims and sends deliveries.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.models import Base, string_enum
from service.persistence.types import utcnow


class Audience(enum.StrEnum):
    ACCOUNT = "account"  # one account (account_id): personal, may be private
    BRANCH = "branch"  # every member of branch_id: group-visible content only
    TOWN = "town"  # everyone: group-visible content only


class Channel(enum.StrEnum):
    EMAIL = "email"  # one email to account_id's address
    DIGEST = "digest"  # an item of account_id's weekly digest email
    WECOM = "wecom"  # a 企业微信 group-robot post (webhook_id)
    DINGTALK = "dingtalk"  # a 钉钉 custom-robot post (webhook_id)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for not_before / next_attempt_at, or claimed
    SENT = "sent"
    DEAD = "dead"  # gave up after the attempt limit: the office's dead-letter list
    SKIPPED = "skipped"  # nothing to send to (no address, robot removed); says why


class RobotService(enum.StrEnum):
    WECOM = "wecom"
    DINGTALK = "dingtalk"


class Mode(enum.StrEnum):
    """How an account hears of one kind of notification."""

    OFF = "off"
    INBOX = "inbox"  # the inbox only
    EMAIL = "email"  # the inbox and an email each time
    DIGEST = "digest"  # the inbox and a weekly digest email


class Notification(Base):
    """One event for one audience. Immutable once written, except nothing: read state
    lives in ``NotificationRead``. ``params`` is JSON rendered into the kind's title
    and body in the reader's language (service/notify/kinds.py); ``link`` is the path
    of the page where one acts. ``dedupe_key`` makes a reminder sweep idempotent
    (e.g. "review_waiting:12:2026-12-08": once a day per reviewer)."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_account_created", "account_id", "created_at"),
        Index("ix_notification_audience_created", "audience", "branch_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    audience: Mapped[Audience] = mapped_column(string_enum(Audience))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    params: Mapped[str] = mapped_column(Text, default="{}")
    link: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)


class NotificationRead(Base):
    """An account has read (or dismissed) a notification."""

    __tablename__ = "notification_read"

    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One message of the outbox. A sender claims it (claimed_by / claimed_until: a
    lease, so a crashed sender's claim expires and another resends it at most once,
    marked as a possible repeat where the channel allows), sends it, and marks it sent;
    a failure schedules ``next_attempt_at`` with exponential backoff until the attempt
    limit, then it is DEAD (the office's dead-letter list, with ``last_error``).
    ``idempotency_key`` travels with the message (the email's Message-ID, the robot
    post's footer) so a repeat can be recognised. ``not_before`` holds a message in the
    recipient's quiet hours. A digest item is sent as part of its account's weekly
    digest email (``digest_id``: that email's delivery)."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_due", "status", "channel", "next_attempt_at"),
        Index("ix_delivery_account_channel", "account_id", "channel", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"), index=True)
    channel: Mapped[Channel] = mapped_column(string_enum(Channel))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("robot_webhook.id"))
    status: Mapped[DeliveryStatus] = mapped_column(
        string_enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # The address it went to (an email), recorded when sent: the settings may change.
    address: Mapped[str] = mapped_column(String(255), default="")
    # A digest item: the delivery of the digest email that carried it.
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("delivery.id"))
    # The email of a weekly digest has no notification; this says which items it holds.
    subject: Mapped[str] = mapped_column(String(255), default="")


class RobotWebhook(Base):
    """A group robot: a branch's (set by its secretary or the office) or, with no
    branch, the town office's. ``url`` and ``secret`` (钉钉's signing secret) are
    secrets: pages, logs and the audit log show them masked."""

    __tablename__ = "robot_webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"), index=True)
    service: Mapped[RobotService] = mapped_column(string_enum(RobotService))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))


class NotifySettings(Base):
    """An account's email address, language and quiet hours ("22:00"-"07:00" in the
    town's time zone; None: the town's default; equal values: no quiet hours) and the
    token of its digest unsubscribe link."""

    __tablename__ = "notify_settings"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8), default="zh_CN")
    quiet_from: Mapped[str | None] = mapped_column(String(5))
    quiet_to: Mapped[str | None] = mapped_column(String(5))
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotifyPreference(Base):
    """An account's choice for one kind (absent: the kind's default)."""

    __tablename__ = "notify_preference"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    mode: Mapped[Mode] = mapped_column(string_enum(Mode))
