"""one open correction per month: a partial unique index on correction(period)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00

Two "open correction" requests at once could both succeed; publishing the correction
then closed one of them and the other kept the month "correcting", open to changes.
``uq_correction_open`` lets the database refuse a second open correction of a month.

A database that already went through that race is repaired first, so the index can be
built: an open correction whose month has been published again since it was opened is
closed by that publication (the one that published the correction it duplicated); of
several corrections still open for one month the first stays open and takes the others'
reasons, and the others are removed (the audit log keeps their opening).
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REPUBLISHED = """
    SELECT MIN(p.id) FROM publication p JOIN publication r ON r.id = correction.replaces_id
    WHERE p.period = correction.period AND p.revision > r.revision
"""


def _repair() -> None:
    op.execute(
        f"UPDATE correction SET publication_id = ({_REPUBLISHED}) "
        f"WHERE publication_id IS NULL AND ({_REPUBLISHED}) IS NOT NULL"
    )
    connection = op.get_bind()
    still_open = connection.execute(
        sa.text(
            "SELECT id, period, reason FROM correction WHERE publication_id IS NULL ORDER BY id"
        )
    ).all()
    by_period: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for correction_id, period, reason in still_open:
        by_period[period].append((correction_id, reason))
    for corrections in by_period.values():
        if len(corrections) < 2:
            continue
        (kept, _reason), *others = corrections
        reasons = "; ".join(dict.fromkeys(reason for _id, reason in corrections))
        connection.execute(
            sa.text("UPDATE correction SET reason = :reason WHERE id = :id"),
            {"reason": reasons, "id": kept},
        )
        connection.execute(
            sa.text("DELETE FROM correction WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": [correction_id for correction_id, _reason in others]},
        )


def upgrade() -> None:
    _repair()
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.create_index(
            "uq_correction_open",
            ["period"],
            unique=True,
            sqlite_where=sa.text("publication_id IS NULL"),
            postgresql_where=sa.text("publication_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_correction_open",
            sqlite_where=sa.text("publication_id IS NULL"),
            postgresql_where=sa.text("publication_id IS NULL"),
        )
