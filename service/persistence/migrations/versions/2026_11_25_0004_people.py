"""people: membership history, member ID number and phone, account flags, audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("id_number", sa.String(length=18), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("left_on", sa.Date(), nullable=True))
        batch.create_unique_constraint(op.f("uq_member_id_number"), ["id_number"])
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))

    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("from_date", sa.Date(), nullable=True),
        sa.Column("to_date", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_membership_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_membership_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["account.id"], name=op.f("fk_membership_created_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
    )
    op.create_index("ix_membership_member", "membership", ["member_id", "from_date"])
    # Every existing member has been in their current branch since records began.
    op.execute(
        "INSERT INTO membership (member_id, branch_id, from_date, to_date, note, created_at) "
        "SELECT id, branch_id, NULL, NULL, '', CURRENT_TIMESTAMP FROM member"
    )

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["account.id"], name=op.f("fk_audit_event_actor_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_audit_event_branch_id_branch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_actor", "audit_event", ["actor_id", "at"])
    op.create_index("ix_audit_event_branch", "audit_event", ["branch_id", "at"])
    op.create_index("ix_audit_event_kind", "audit_event", ["kind", "at"])


def downgrade() -> None:
    op.drop_table("audit_event")
    op.drop_table("membership")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("must_change_password")
    with op.batch_alter_table("member") as batch:
        batch.drop_constraint(op.f("uq_member_id_number"), type_="unique")
        batch.drop_column("left_on")
        batch.drop_column("phone")
        batch.drop_column("id_number")
