"""fold people's identifiers: member and branch numbers, ID and phone numbers in ASCII

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:20:00

Until now a 身份证号 typed with full-width digits (``３２０１…``, what a Chinese input
method types) was stored as typed, next to the same number in ASCII: the unique
constraint saw two numbers. The forms and the roster import now fold every identifier
(Unicode NFKC, ``service.kernel.fields.folded``) before checking and storing it; this
revision folds the values already stored the same way, so the constraint holds on the
folded values from now on.

Two stored rows that fold to one value (a member number or ID number entered twice in
two spellings) cannot both keep it, and which one is right is the office's call: the
upgrade stops, changing nothing, and names both members. Correct one of them (with the
release before this one) and upgrade again.

Data only: the schema does not change, and a downgrade leaves the folded values, which
are as valid before this revision as after it.
"""

import re
import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The folding of service/people/fields.py as of this revision (a migration keeps its own
# copy: the application's may change later).
def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value)


def _code(value: str) -> str:
    return _fold(value).strip()


def _id_number(value: str) -> str:
    return re.sub(r"\s+", "", _fold(value)).upper()


def _phone(value: str) -> str:
    folded = re.sub(r"[\s\-]+", "", _fold(value))
    return re.sub(r"^\+?86(?=1[0-9]{10}$)", "", folded)


class FoldClash(RuntimeError):
    """Stored rows that become one value when folded."""


def _folded_column(
    rows: list[tuple[int, str, str | None]],
    fold: Callable[[str], str],
    what: str,
    unique: bool,
) -> dict[int, str]:
    """id → folded value, for the rows whose value changes; a clash raises."""
    changes: dict[int, str] = {}
    owner: dict[str, tuple[int, str]] = {}
    clashes: list[str] = []
    for row_id, label, value in rows:
        if value is None:
            continue
        folded = fold(value)
        if folded != value:
            changes[row_id] = folded
        if not unique:
            continue
        if folded in owner:
            other_id, other_label = owner[folded]
            clashes.append(
                f"{what} {folded}: {other_label} (id {other_id}) and {label} (id {row_id})"
            )
        else:
            owner[folded] = (row_id, label)
    if clashes:
        raise FoldClash(
            "These rows hold the same value in two spellings (full-width and ASCII "
            "characters); correct one of each pair, then upgrade again:\n  " + "\n  ".join(clashes)
        )
    return changes


def upgrade() -> None:
    connection = op.get_bind()
    member = sa.table(
        "member",
        sa.column("id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("id_number", sa.String),
        sa.column("phone", sa.String),
    )
    branch = sa.table("branch", sa.column("id", sa.Integer), sa.column("code", sa.String))
    members = connection.execute(
        sa.select(member.c.id, member.c.code, member.c.id_number, member.c.phone).order_by(
            member.c.id
        )
    ).all()
    branches = connection.execute(sa.select(branch.c.id, branch.c.code).order_by(branch.c.id)).all()
    # Every clash is found before anything is written.
    member_codes = _folded_column(
        [(m.id, f"member {m.code}", m.code) for m in members], _code, "member number", True
    )
    id_numbers = _folded_column(
        [(m.id, f"member {m.code}", m.id_number) for m in members], _id_number, "ID number", True
    )
    phones = _folded_column(
        [(m.id, f"member {m.code}", m.phone) for m in members], _phone, "phone", False
    )
    branch_codes = _folded_column(
        [(b.id, f"branch {b.code}", b.code) for b in branches], _code, "branch number", True
    )
    for column, changes in (
        (member.c.code, member_codes),
        (member.c.id_number, id_numbers),
        (member.c.phone, phones),
    ):
        for row_id, value in changes.items():
            connection.execute(
                sa.update(member).where(member.c.id == row_id).values({column.name: value})
            )
    for row_id, value in branch_codes.items():
        connection.execute(sa.update(branch).where(branch.c.id == row_id).values(code=value))


def downgrade() -> None:
    # The folded values are valid spellings before this revision too: nothing to undo.
    pass
