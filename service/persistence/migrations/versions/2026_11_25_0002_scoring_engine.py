"""scoring engine: adjustments, suggestion steps, ledger sources

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:06:45.569971
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "adjustment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_adjustment_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["account.id"], name=op.f("fk_adjustment_created_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_adjustment_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjustment")),
    )
    with op.batch_alter_table("adjustment", schema=None) as batch_op:
        batch_op.create_index("ix_adjustment_member", ["member_id", "day"], unique=False)

    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("adopted_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("adopted_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("implemented_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("implemented_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revoke_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_entry_revoked_by_id_account"), "account", ["revoked_by_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_entry_implemented_by_id_account"),
            "account",
            ["implemented_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_entry_adopted_by_id_account"), "account", ["adopted_by_id"], ["id"]
        )

    # Existing lines all moved an entry's points; they get that entry as their activity
    # before the new columns become required.
    with op.batch_alter_table("ledger_line", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source",
                sa.Enum(
                    "entry",
                    "adopted",
                    "implemented",
                    "adjustment",
                    name="source",
                    native_enum=False,
                    length=16,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("activity_key", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("adjustment_id", sa.Integer(), nullable=True))
    op.execute("UPDATE ledger_line SET source = 'entry', activity_key = 'entry:' || entry_id")
    with op.batch_alter_table("ledger_line", schema=None) as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column("activity_key", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_constraint(batch_op.f("uq_ledger_line_entry_id_kind"), type_="unique")
        batch_op.create_index(
            "ix_ledger_line_activity", ["member_id", "activity_key"], unique=False
        )
        batch_op.create_index(
            "uq_ledger_line_award",
            ["activity_key"],
            unique=True,
            sqlite_where=sa.text("kind = 'award'"),
            postgresql_where=sa.text("kind = 'award'"),
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_line_adjustment_id_adjustment"),
            "adjustment",
            ["adjustment_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_line", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_line_adjustment_id_adjustment"), type_="foreignkey"
        )
        batch_op.drop_index(
            "uq_ledger_line_award",
            sqlite_where=sa.text("kind = 'award'"),
            postgresql_where=sa.text("kind = 'award'"),
        )
        batch_op.drop_index("ix_ledger_line_activity")
        batch_op.create_unique_constraint(
            batch_op.f("uq_ledger_line_entry_id_kind"), ["entry_id", "kind"]
        )
        batch_op.drop_column("adjustment_id")
        batch_op.drop_column("activity_key")
        batch_op.drop_column("source")

    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_entry_adopted_by_id_account"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_entry_implemented_by_id_account"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_entry_revoked_by_id_account"), type_="foreignkey")
        batch_op.drop_column("revoke_reason")
        batch_op.drop_column("revoked_by_id")
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("implemented_by_id")
        batch_op.drop_column("implemented_on")
        batch_op.drop_column("adopted_by_id")
        batch_op.drop_column("adopted_on")

    with op.batch_alter_table("adjustment", schema=None) as batch_op:
        batch_op.drop_index("ix_adjustment_member")

    op.drop_table("adjustment")
