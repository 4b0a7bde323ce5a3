"""notify: telling people (inbox, outbox, group robots, notification settings)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:23:23

Notifications (one per event and audience: an account, a branch's members, the town)
with read marks per account; the outbox's deliveries (email, digest item, 企业微信 and
钉钉 robot posts) with their claim lease, attempts and idempotency key; group-robot
webhooks of branches and the town; each account's email, language, quiet hours and
preferences per kind.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "audience",
            sa.Enum("account", "branch", "town", name="audience", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_notification_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_notification_branch_id_branch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_account_created", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_notification_audience_created",
            ["audience", "branch_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "notify_preference",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "mode",
            sa.Enum("off", "inbox", "email", "digest", name="mode", native_enum=False, length=16),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_notify_preference_account_id_account")
        ),
        sa.PrimaryKeyConstraint("account_id", "kind", name=op.f("pk_notify_preference")),
    )
    op.create_table(
        "notify_settings",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("quiet_from", sa.String(length=5), nullable=True),
        sa.Column("quiet_to", sa.String(length=5), nullable=True),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_notify_settings_account_id_account")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_notify_settings")),
        sa.UniqueConstraint("unsubscribe_token", name=op.f("uq_notify_settings_unsubscribe_token")),
    )
    op.create_table(
        "robot_webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column(
            "service",
            sa.Enum("wecom", "dingtalk", name="robotservice", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_robot_webhook_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["account.id"], name=op.f("fk_robot_webhook_created_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_webhook")),
    )
    with op.batch_alter_table("robot_webhook", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_robot_webhook_branch_id"), ["branch_id"], unique=False)

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column(
            "channel",
            sa.Enum(
                "email", "digest", "wecom", "dingtalk", name="channel", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("webhook_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sent",
                "dead",
                "skipped",
                name="deliverystatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_delivery_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["digest_id"], ["delivery.id"], name=op.f("fk_delivery_digest_id_delivery")
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notification.id"],
            name=op.f("fk_delivery_notification_id_notification"),
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["robot_webhook.id"], name=op.f("fk_delivery_webhook_id_robot_webhook")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_delivery_idempotency_key")),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_account_channel", ["account_id", "channel", "status"], unique=False
        )
        batch_op.create_index(
            "ix_delivery_due", ["status", "channel", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_delivery_notification_id"), ["notification_id"], unique=False
        )

    op.create_table(
        "notification_read",
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_notification_read_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notification.id"],
            name=op.f("fk_notification_read_notification_id_notification"),
        ),
        sa.PrimaryKeyConstraint("notification_id", "account_id", name=op.f("pk_notification_read")),
    )


def downgrade() -> None:
    op.drop_table("notification_read")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_notification_id"))
        batch_op.drop_index("ix_delivery_due")
        batch_op.drop_index("ix_delivery_account_channel")

    op.drop_table("delivery")
    with op.batch_alter_table("robot_webhook", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_robot_webhook_branch_id"))

    op.drop_table("robot_webhook")
    op.drop_table("notify_settings")
    op.drop_table("notify_preference")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_audience_created")
        batch_op.drop_index("ix_notification_account_created")

    op.drop_table("notification")
