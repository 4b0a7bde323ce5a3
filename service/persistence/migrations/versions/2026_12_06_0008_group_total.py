"""group totals: the town's points per month and rule for the branches board's chart

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:45:00

The branches board draws the town's points by rule group; it summed every summary row of
the span (a city's year: three million rows, seconds a view). ``group_total``
(service/boards/totals.py) holds the sums per month, rule and bucket (the summary row's branch
id modulo 16) over the non-exempt members, moved in the approval's transaction; it is
filled here from the summary already stored (the statement of
``service.boards.totals.GROUP_TOTAL_SQL`` as of this revision).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUCKETS = 16


def upgrade() -> None:
    op.create_table(
        "group_total",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("period", "rule_id", "bucket", name=op.f("pk_group_total")),
    )
    op.execute(
        "INSERT INTO group_total (period, rule_id, bucket, points) "
        f"SELECT s.period, s.rule_id, s.branch_id % {BUCKETS}, SUM(s.points) "
        "FROM points_summary s JOIN member m ON m.id = s.member_id "
        f"WHERE m.status <> 'exempt' GROUP BY s.period, s.rule_id, s.branch_id % {BUCKETS}"
    )


def downgrade() -> None:
    op.drop_table("group_total")
