"""publication: published boards, corrections, objections

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:18:40.932753
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "publication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.Column("notice_days", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(), nullable=False),
        sa.Column("ruleset_version", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("previous_digest", sa.String(length=64), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["published_by_id"], ["account.id"], name=op.f("fk_publication_published_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["publication.id"], name=op.f("fk_publication_replaces_id_publication")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication")),
        sa.UniqueConstraint("digest", name=op.f("uq_publication_digest")),
        sa.UniqueConstraint("period", "revision", name=op.f("uq_publication_period_revision")),
    )
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publication_period"), ["period"], unique=False)

    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("opened_by_id", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["opened_by_id"], ["account.id"], name=op.f("fk_correction_opened_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
            name=op.f("fk_correction_publication_id_publication"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["publication.id"], name=op.f("fk_correction_replaces_id_publication")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correction")),
    )
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_correction_period"), ["period"], unique=False)

    op.create_table(
        "objection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("line_member_id", sa.Integer(), nullable=True),
        sa.Column("line_branch_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "resolved", name="objectionstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column(
            "resolution",
            sa.Enum("no_change", "corrected", name="resolution", native_enum=False, length=16),
            nullable=True,
        ),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("correction_publication_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_objection_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["correction_publication_id"],
            ["publication.id"],
            name=op.f("fk_objection_correction_publication_id_publication"),
        ),
        sa.ForeignKeyConstraint(
            ["line_branch_id"], ["branch.id"], name=op.f("fk_objection_line_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["line_member_id"], ["member.id"], name=op.f("fk_objection_line_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_objection_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
            name=op.f("fk_objection_publication_id_publication"),
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["account.id"], name=op.f("fk_objection_resolved_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection")),
    )
    with op.batch_alter_table("objection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_objection_member_id"), ["member_id"], unique=False)
        batch_op.create_index("ix_objection_status", ["status", "publication_id"], unique=False)

    op.create_table(
        "published_branch_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("single", "joint", name="branchkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("per_member", sa.String(length=16), nullable=False),
        sa.Column("participation", sa.String(length=16), nullable=False),
        sa.Column("rank_total", sa.Integer(), nullable=False),
        sa.Column("rank_per_member", sa.Integer(), nullable=False),
        sa.Column("rank_participation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_published_branch_row_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
            name=op.f("fk_published_branch_row_publication_id_publication"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_branch_row")),
        sa.UniqueConstraint(
            "publication_id",
            "branch_id",
            name=op.f("uq_published_branch_row_publication_id_branch_id"),
        ),
    )
    with op.batch_alter_table("published_branch_row", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_published_branch_row_publication_id"), ["publication_id"], unique=False
        )

    op.create_table(
        "published_member_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("member_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("branch_name", sa.String(length=120), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("exempt", sa.Boolean(), nullable=False),
        sa.Column("town_rank", sa.Integer(), nullable=True),
        sa.Column("branch_rank", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_published_member_row_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_published_member_row_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
            name=op.f("fk_published_member_row_publication_id_publication"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_member_row")),
        sa.UniqueConstraint(
            "publication_id",
            "member_id",
            name=op.f("uq_published_member_row_publication_id_member_id"),
        ),
    )
    with op.batch_alter_table("published_member_row", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_published_member_row_publication_id"), ["publication_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("published_member_row", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_published_member_row_publication_id"))

    op.drop_table("published_member_row")
    with op.batch_alter_table("published_branch_row", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_published_branch_row_publication_id"))

    op.drop_table("published_branch_row")
    with op.batch_alter_table("objection", schema=None) as batch_op:
        batch_op.drop_index("ix_objection_status")
        batch_op.drop_index(batch_op.f("ix_objection_member_id"))

    op.drop_table("objection")
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_correction_period"))

    op.drop_table("correction")
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publication_period"))

    op.drop_table("publication")
