"""board totals for fast live boards; indexes for pages of published boards

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 18:00:00

The live boards read per-span totals and counts (service/boards/totals.py) instead of summing
the summary table on every page; the tables are filled here from the data already
stored (the statements are those of ``service.boards.totals.rebuild_statements`` as of this
revision).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUARTER = (
    "substr({col}, 1, 4) || '-Q' || "
    "CAST((CAST(substr({col}, 6, 2) AS INTEGER) + 2) / 3 AS VARCHAR(1))"
)
SPANS = ("{col}", QUARTER, "substr({col}, 1, 4)")


def _fill() -> list[str]:
    def span(template: str, column: str) -> str:
        return template.format(col=column)

    member_totals = " UNION ALL ".join(
        f"SELECT {span(t, 's.period')} AS period, s.member_id AS member_id, "
        "SUM(s.points) AS points, m.status = 'exempt' AS exempt "
        "FROM points_summary s JOIN member m ON m.id = s.member_id "
        f"GROUP BY {span(t, 's.period')}, s.member_id, m.status"
        for t in SPANS
    )
    participation = " UNION ".join(
        f"SELECT {span(t, 'e.period')} AS period, e.branch_id AS branch_id, "
        "e.member_id AS member_id FROM entry e WHERE e.status = 'approved'"
        for t in SPANS
    )
    branch_points = " UNION ALL ".join(
        f"SELECT {span(t, 's.period')} AS period, s.branch_id AS branch_id, "
        "SUM(CASE WHEN m.status = 'exempt' THEN 0 ELSE s.points END) AS points "
        "FROM points_summary s JOIN member m ON m.id = s.member_id "
        f"GROUP BY {span(t, 's.period')}, s.branch_id"
        for t in SPANS
    )
    participants = (
        "SELECT p.period AS period, p.branch_id AS branch_id, COUNT(*) AS participants "
        f"FROM ({participation}) p JOIN member m ON m.id = p.member_id "
        "WHERE m.active = TRUE AND m.status <> 'exempt' GROUP BY p.period, p.branch_id"
    )
    roster = (
        "SELECT branch_id, COUNT(*) AS members FROM member "
        "WHERE active = TRUE AND status <> 'exempt' GROUP BY branch_id"
    )
    return [
        "INSERT INTO points_total (period, member_id, points, exempt) "
        f"SELECT period, member_id, points, exempt FROM ({member_totals}) t",
        "INSERT INTO participation (period, branch_id, member_id) "
        f"SELECT period, branch_id, member_id FROM ({participation}) p",
        "INSERT INTO branch_total (period, branch_id, points, participants, members, "
        "per_member_key, participation_key) "
        "SELECT k.period, k.branch_id, COALESCE(b.points, 0), COALESCE(c.participants, 0), "
        "COALESCE(r.members, 0), "
        "CASE WHEN COALESCE(r.members, 0) = 0 THEN 0.0 "
        "ELSE CAST(COALESCE(b.points, 0) AS DOUBLE PRECISION) / r.members END, "
        "CASE WHEN COALESCE(r.members, 0) = 0 THEN 0.0 "
        "ELSE CAST(COALESCE(c.participants, 0) AS DOUBLE PRECISION) / r.members END FROM "
        f"(SELECT period, branch_id FROM ({branch_points}) x UNION "
        f"SELECT period, branch_id FROM ({participants}) y) k "
        f"LEFT JOIN ({branch_points}) b ON b.period = k.period AND b.branch_id = k.branch_id "
        f"LEFT JOIN ({participants}) c ON c.period = k.period AND c.branch_id = k.branch_id "
        f"LEFT JOIN ({roster}) r ON r.branch_id = k.branch_id",
        "INSERT INTO board_count (scope, exempt, active, members) "
        "SELECT '', m.status = 'exempt', m.active, COUNT(*) FROM member m "
        "GROUP BY m.status = 'exempt', m.active "
        "UNION ALL "
        "SELECT t.period, t.exempt, m.active, COUNT(*) "
        f"FROM ({member_totals}) t JOIN member m ON m.id = t.member_id "
        "WHERE t.points <> 0 GROUP BY t.period, t.exempt, m.active",
        "INSERT INTO branch_roster (branch_id, members) "
        "SELECT branch_id, COUNT(*) FROM member "
        "WHERE active = TRUE AND status <> 'exempt' GROUP BY branch_id",
    ]


def upgrade() -> None:
    op.create_table(
        "points_total",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("exempt", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_points_total_member_id_member")
        ),
        sa.PrimaryKeyConstraint("period", "member_id", name=op.f("pk_points_total")),
    )
    op.create_index("ix_points_total_rank", "points_total", ["period", "exempt", "points"])
    op.create_table(
        "branch_total",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("per_member_key", sa.Float(), nullable=False),
        sa.Column("participation_key", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_branch_total_branch_id_branch")
        ),
        sa.PrimaryKeyConstraint("period", "branch_id", name=op.f("pk_branch_total")),
    )
    op.create_index("ix_branch_total_points", "branch_total", ["period", "points"])
    op.create_index("ix_branch_total_per_member", "branch_total", ["period", "per_member_key"])
    op.create_index(
        "ix_branch_total_participation", "branch_total", ["period", "participation_key"]
    )
    op.create_index("ix_branch_total_branch", "branch_total", ["branch_id"])
    op.create_table(
        "participation",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_participation_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_participation_member_id_member")
        ),
        sa.PrimaryKeyConstraint("period", "branch_id", "member_id", name=op.f("pk_participation")),
    )
    op.create_index("ix_participation_member", "participation", ["member_id", "period"])
    op.create_table(
        "board_count",
        sa.Column("scope", sa.String(length=7), nullable=False),
        sa.Column("exempt", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "exempt", "active", name=op.f("pk_board_count")),
    )
    op.create_table(
        "branch_roster",
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_branch_roster_branch_id_branch")
        ),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_branch_roster")),
    )
    op.create_index(
        "ix_published_member_row_rank",
        "published_member_row",
        ["publication_id", "town_rank", "member_code"],
    )
    op.create_index(
        "ix_published_member_row_branch", "published_member_row", ["publication_id", "branch_id"]
    )
    op.create_index(
        "ix_published_branch_row_total",
        "published_branch_row",
        ["publication_id", "rank_total", "code"],
    )
    op.create_index(
        "ix_published_branch_row_per_member",
        "published_branch_row",
        ["publication_id", "rank_per_member", "code"],
    )
    op.create_index(
        "ix_published_branch_row_participation",
        "published_branch_row",
        ["publication_id", "rank_participation", "code"],
    )
    for statement in _fill():
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_published_branch_row_participation", table_name="published_branch_row")
    op.drop_index("ix_published_branch_row_per_member", table_name="published_branch_row")
    op.drop_index("ix_published_branch_row_total", table_name="published_branch_row")
    op.drop_index("ix_published_member_row_branch", table_name="published_member_row")
    op.drop_index("ix_published_member_row_rank", table_name="published_member_row")
    op.drop_table("branch_roster")
    op.drop_table("board_count")
    op.drop_index("ix_participation_member", table_name="participation")
    op.drop_table("participation")
    op.drop_index("ix_branch_total_branch", table_name="branch_total")
    op.drop_index("ix_branch_total_participation", table_name="branch_total")
    op.drop_index("ix_branch_total_per_member", table_name="branch_total")
    op.drop_index("ix_branch_total_points", table_name="branch_total")
    op.drop_table("branch_total")
    op.drop_index("ix_points_total_rank", table_name="points_total")
    op.drop_table("points_total")
