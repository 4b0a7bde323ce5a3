"""assessment: acting on results (结果运用)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:38:58

Banding runs with their red and yellow lines, warning cases and talks, the annual
appraisal and its lines, branch rating rounds with computed values, assessed scores and
vetoes; publications gain a kind (a month's board or a results list) and results lists
keep their lines in published_result_row, digested into the same chain.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appraisal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("ruleset_version", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "submitted",
                "approved",
                name="appraisalstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("opened_by_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("returned_reason", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["account.id"], name=op.f("fk_appraisal_approved_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_appraisal_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["opened_by_id"], ["account.id"], name=op.f("fk_appraisal_opened_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["account.id"], name=op.f("fk_appraisal_submitted_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal")),
        sa.UniqueConstraint("branch_id", "year", name=op.f("uq_appraisal_branch_id_year")),
    )
    with op.batch_alter_table("appraisal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appraisal_branch_id"), ["branch_id"], unique=False)

    op.create_table(
        "appraisal_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appraisal_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("veto", sa.Boolean(), nullable=False),
        sa.Column("veto_reason", sa.Text(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=True),
        sa.Column(
            "suggested",
            sa.Enum(
                "excellent",
                "qualified",
                "basic",
                "unqualified",
                name="grade",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column(
            "grade",
            sa.Enum(
                "excellent",
                "qualified",
                "basic",
                "unqualified",
                name="grade",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("departure_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appraisal_id"],
            ["appraisal.id"],
            name=op.f("fk_appraisal_line_appraisal_id_appraisal"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_appraisal_line_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_line")),
        sa.UniqueConstraint(
            "appraisal_id", "member_id", name=op.f("uq_appraisal_line_appraisal_id_member_id")
        ),
    )
    with op.batch_alter_table("appraisal_line", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appraisal_line_appraisal_id"), ["appraisal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_appraisal_line_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "band_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("ruleset_version", sa.String(length=32), nullable=False),
        sa.Column("run_at", sa.DateTime(), nullable=False),
        sa.Column("run_by_id", sa.Integer(), nullable=True),
        sa.Column("members_banded", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
            name=op.f("fk_band_run_publication_id_publication"),
        ),
        sa.ForeignKeyConstraint(
            ["run_by_id"], ["account.id"], name=op.f("fk_band_run_run_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_band_run")),
        sa.UniqueConstraint("period", name=op.f("uq_band_run_period")),
    )
    op.create_table(
        "published_result_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("branch_name", sa.String(length=120), nullable=False),
        sa.Column("value", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_published_result_row_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
            name=op.f("fk_published_result_row_publication_id_publication"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_result_row")),
        sa.UniqueConstraint(
            "publication_id",
            "subject_id",
            name=op.f("uq_published_result_row_publication_id_subject_id"),
        ),
    )
    with op.batch_alter_table("published_result_row", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_published_result_row_publication_id"), ["publication_id"], unique=False
        )

    op.create_table(
        "rating_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("ruleset_version", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "published", name="roundstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("opened_by_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["opened_by_id"], ["account.id"], name=op.f("fk_rating_round_opened_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
            name=op.f("fk_rating_round_publication_id_publication"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_round")),
        sa.UniqueConstraint("period", name=op.f("uq_rating_round_period")),
    )
    op.create_table(
        "band_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column(
            "band",
            sa.Enum("red", "yellow", name="band", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_band_line_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_band_line_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["band_run.id"], name=op.f("fk_band_line_run_id_band_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_band_line")),
        sa.UniqueConstraint("run_id", "member_id", name=op.f("uq_band_line_run_id_member_id")),
    )
    with op.batch_alter_table("band_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_band_line_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index("ix_band_line_member", ["member_id", "run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_band_line_run_id"), ["run_id"], unique=False)

    op.create_table(
        "branch_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft", "submitted", "audited", name="ratingstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("computed", sa.Text(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("audited_by_id", sa.Integer(), nullable=True),
        sa.Column("audited_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["audited_by_id"], ["account.id"], name=op.f("fk_branch_rating_audited_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_branch_rating_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rating_round.id"], name=op.f("fk_branch_rating_round_id_rating_round")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["account.id"],
            name=op.f("fk_branch_rating_submitted_by_id_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_rating")),
        sa.UniqueConstraint(
            "round_id", "branch_id", name=op.f("uq_branch_rating_round_id_branch_id")
        ),
    )
    with op.batch_alter_table("branch_rating", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_branch_rating_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_branch_rating_round_id"), ["round_id"], unique=False)

    op.create_table(
        "rating_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("self_score", sa.BigInteger(), nullable=True),
        sa.Column("self_note", sa.Text(), nullable=False),
        sa.Column("evidence_path", sa.String(length=255), nullable=True),
        sa.Column("audited_score", sa.BigInteger(), nullable=True),
        sa.Column("audit_reason", sa.Text(), nullable=False),
        sa.Column("audited_by_id", sa.Integer(), nullable=True),
        sa.Column("audited_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["audited_by_id"], ["account.id"], name=op.f("fk_rating_score_audited_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["rating_id"],
            ["branch_rating.id"],
            name=op.f("fk_rating_score_rating_id_branch_rating"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_score")),
        sa.UniqueConstraint(
            "rating_id", "indicator", name=op.f("uq_rating_score_rating_id_indicator")
        ),
    )
    with op.batch_alter_table("rating_score", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rating_score_rating_id"), ["rating_id"], unique=False)

    op.create_table(
        "rating_veto",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("veto", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rating_id"], ["branch_rating.id"], name=op.f("fk_rating_veto_rating_id_branch_rating")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["account.id"], name=op.f("fk_rating_veto_recorded_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_veto")),
        sa.UniqueConstraint("rating_id", "veto", name=op.f("uq_rating_veto_rating_id_veto")),
    )
    with op.batch_alter_table("rating_veto", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rating_veto_rating_id"), ["rating_id"], unique=False)

    op.create_table(
        "warning_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("band_line_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open", "improved", "not_improved", name="casestatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=False),
        sa.Column("member_response", sa.Text(), nullable=False),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["band_line_id"], ["band_line.id"], name=op.f("fk_warning_case_band_line_id_band_line")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_warning_case_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"], ["account.id"], name=op.f("fk_warning_case_closed_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_warning_case_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_case")),
        sa.UniqueConstraint("band_line_id", name=op.f("uq_warning_case_band_line_id")),
    )
    with op.batch_alter_table("warning_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warning_case_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_warning_case_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_warning_case_status"), ["status"], unique=False)

    op.create_table(
        "warning_talk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("talked_on", sa.Date(), nullable=False),
        sa.Column("talked_by", sa.String(length=120), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["warning_case.id"], name=op.f("fk_warning_talk_case_id_warning_case")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["account.id"], name=op.f("fk_warning_talk_recorded_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_talk")),
    )
    with op.batch_alter_table("warning_talk", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warning_talk_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum(
                    "month",
                    "red_list",
                    "excellent",
                    "branch_stars",
                    name="publicationkind",
                    native_enum=False,
                    length=16,
                ),
                server_default="month",
                nullable=False,
            )
        )
        batch_op.drop_constraint(batch_op.f("uq_publication_period_revision"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_publication_kind_period_revision"), ["kind", "period", "revision"]
        )


def downgrade() -> None:
    # The schema before had no results lists (red lists, 优秀, branch stars): they go with
    # their tables, and month boards keep one row per (period, revision) again. A month
    # published after a results list keeps that list's digest as its predecessor, so
    # `publish verify` names that link after a downgrade.
    op.execute("DELETE FROM published_result_row")
    op.execute("UPDATE band_run SET publication_id = NULL")
    op.execute("UPDATE rating_round SET publication_id = NULL")
    op.execute("DELETE FROM publication WHERE kind <> 'month'")
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_publication_kind_period_revision"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_publication_period_revision"), ["period", "revision"]
        )
        batch_op.drop_column("kind")

    with op.batch_alter_table("warning_talk", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warning_talk_case_id"))

    op.drop_table("warning_talk")
    with op.batch_alter_table("warning_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warning_case_status"))
        batch_op.drop_index(batch_op.f("ix_warning_case_member_id"))
        batch_op.drop_index(batch_op.f("ix_warning_case_branch_id"))

    op.drop_table("warning_case")
    with op.batch_alter_table("rating_veto", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rating_veto_rating_id"))

    op.drop_table("rating_veto")
    with op.batch_alter_table("rating_score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rating_score_rating_id"))

    op.drop_table("rating_score")
    with op.batch_alter_table("branch_rating", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branch_rating_round_id"))
        batch_op.drop_index(batch_op.f("ix_branch_rating_branch_id"))

    op.drop_table("branch_rating")
    with op.batch_alter_table("band_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_band_line_run_id"))
        batch_op.drop_index("ix_band_line_member")
        batch_op.drop_index(batch_op.f("ix_band_line_branch_id"))

    op.drop_table("band_line")
    op.drop_table("rating_round")
    with op.batch_alter_table("published_result_row", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_published_result_row_publication_id"))

    op.drop_table("published_result_row")
    op.drop_table("band_run")
    with op.batch_alter_table("appraisal_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisal_line_member_id"))
        batch_op.drop_index(batch_op.f("ix_appraisal_line_appraisal_id"))

    op.drop_table("appraisal_line")
    with op.batch_alter_table("appraisal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisal_branch_id"))

    op.drop_table("appraisal")
