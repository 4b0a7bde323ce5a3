"""adopted rulesets: ruleset versions the office adopts on the web

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 15:10:00

The rules folder stays the default; a version adopted on the web is stored here with
its exact TOML text, the SHA-256 of that text, who adopted it, when and why. Rows are
never changed or deleted (the application refuses to); a later version supersedes one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "adopted_ruleset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("toml", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("adopted_by_id", sa.Integer(), nullable=False),
        sa.Column("adopted_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["adopted_by_id"],
            ["account.id"],
            name=op.f("fk_adopted_ruleset_adopted_by_id_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adopted_ruleset")),
        sa.UniqueConstraint("version", name=op.f("uq_adopted_ruleset_version")),
        sa.UniqueConstraint("effective_from", name=op.f("uq_adopted_ruleset_effective_from")),
    )


def downgrade() -> None:
    op.drop_table("adopted_ruleset")
