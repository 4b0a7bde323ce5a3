"""meetings: organisational life (组织生活) with leave, check-in and attendance points

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 18:15:00

Party groups, meeting organisers, meetings with their expected members, leave requests,
check-ins and closing outcomes (meeting_attendance), amendments after closing, minutes
photos, private calendar feeds; ledger lines name the attendance row they score.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "party_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_party_group_branch_id_branch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_group")),
        sa.UniqueConstraint("branch_id", "name", name=op.f("uq_party_group_branch_id_name")),
    )
    with op.batch_alter_table("party_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_group_branch_id"), ["branch_id"], unique=False)

    op.create_table(
        "party_group_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["party_group.id"],
            name=op.f("fk_party_group_member_group_id_party_group"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_party_group_member_member_id_member")
        ),
        sa.PrimaryKeyConstraint("group_id", "member_id", name=op.f("pk_party_group_member")),
    )
    op.create_table(
        "calendar_feed",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_calendar_feed_account_id_account")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )
    op.create_table(
        "meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("agenda", sa.Text(), nullable=False),
        sa.Column(
            "audience",
            sa.Enum("branch", "group", "list", name="audience", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("party_group_id", sa.Integer(), nullable=True),
        sa.Column("makeup_of_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "closed",
                "cancelled",
                name="meetingstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("checkin_secret", sa.String(length=64), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_by_id", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_meeting_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"], ["account.id"], name=op.f("fk_meeting_cancelled_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"], ["account.id"], name=op.f("fk_meeting_closed_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["account.id"], name=op.f("fk_meeting_created_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["makeup_of_id"], ["meeting.id"], name=op.f("fk_meeting_makeup_of_id_meeting")
        ),
        sa.ForeignKeyConstraint(
            ["party_group_id"],
            ["party_group.id"],
            name=op.f("fk_meeting_party_group_id_party_group"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting")),
    )
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_branch_starts", ["branch_id", "starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_meeting_makeup_of_id"), ["makeup_of_id"], unique=False)
        batch_op.create_index("ix_meeting_status_starts", ["status", "starts_at"], unique=False)

    op.create_table(
        "meeting_organiser",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_meeting_organiser_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_meeting_organiser_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["account.id"],
            name=op.f("fk_meeting_organiser_created_by_id_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_organiser")),
        sa.UniqueConstraint(
            "branch_id", "account_id", name=op.f("uq_meeting_organiser_branch_id_account_id")
        ),
    )
    with op.batch_alter_table("meeting_organiser", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_organiser_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "meeting_amendment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_outcome",
            sa.Enum(
                "attended",
                "leave",
                "absent",
                "made_up",
                name="outcome",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "to_outcome",
            sa.Enum(
                "attended",
                "leave",
                "absent",
                "made_up",
                name="outcome",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["account.id"],
            name=op.f("fk_meeting_amendment_created_by_id_account"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_amendment_meeting_id_meeting")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_meeting_amendment_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_amendment")),
    )
    with op.batch_alter_table("meeting_amendment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_amendment_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "meeting_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(), nullable=True),
        sa.Column(
            "method",
            sa.Enum("code", "secretary", name="checkinmethod", native_enum=False, length=16),
            nullable=True,
        ),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "attended",
                "leave",
                "absent",
                "made_up",
                name="outcome",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("made_up_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_meeting_attendance_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["made_up_by_id"],
            ["meeting_attendance.id"],
            name=op.f("fk_meeting_attendance_made_up_by_id_meeting_attendance"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_attendance_meeting_id_meeting")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_meeting_attendance_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["account.id"],
            name=op.f("fk_meeting_attendance_recorded_by_id_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_attendance")),
        sa.UniqueConstraint(
            "meeting_id", "member_id", name=op.f("uq_meeting_attendance_meeting_id_member_id")
        ),
    )
    with op.batch_alter_table("meeting_attendance", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meeting_attendance_member", ["member_id", "meeting_id"], unique=False
        )

    op.create_table(
        "meeting_invitee",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_invitee_meeting_id_meeting")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_meeting_invitee_member_id_member")
        ),
        sa.PrimaryKeyConstraint("meeting_id", "member_id", name=op.f("pk_meeting_invitee")),
    )
    with op.batch_alter_table("meeting_invitee", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meeting_invitee_member", ["member_id", "meeting_id"], unique=False
        )

    op.create_table(
        "meeting_leave",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "granted",
                "declined",
                "withdrawn",
                name="leavestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["account.id"], name=op.f("fk_meeting_leave_decided_by_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_leave_meeting_id_meeting")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_meeting_leave_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["account.id"],
            name=op.f("fk_meeting_leave_requested_by_id_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_leave")),
        sa.UniqueConstraint(
            "meeting_id", "member_id", name=op.f("uq_meeting_leave_meeting_id_member_id")
        ),
    )
    with op.batch_alter_table("meeting_leave", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meeting_leave_member_id"), ["member_id"], unique=False)

    op.create_table(
        "meeting_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_photo_meeting_id_meeting")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["account.id"], name=op.f("fk_meeting_photo_uploaded_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_photo")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_meeting_photo_stored_name")),
    )
    with op.batch_alter_table("meeting_photo", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_photo_meeting_id"), ["meeting_id"], unique=False
        )

    with op.batch_alter_table("ledger_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attendance_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_line_attendance_id_meeting_attendance"),
            "meeting_attendance",
            ["attendance_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_line", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_line_attendance_id_meeting_attendance"), type_="foreignkey"
        )
        batch_op.drop_column("attendance_id")

    with op.batch_alter_table("meeting_photo", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_photo_meeting_id"))

    op.drop_table("meeting_photo")
    with op.batch_alter_table("meeting_leave", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_leave_member_id"))

    op.drop_table("meeting_leave")
    with op.batch_alter_table("meeting_invitee", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_invitee_member")

    op.drop_table("meeting_invitee")
    with op.batch_alter_table("meeting_attendance", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_attendance_member")

    op.drop_table("meeting_attendance")
    with op.batch_alter_table("meeting_amendment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_amendment_meeting_id"))

    op.drop_table("meeting_amendment")
    with op.batch_alter_table("meeting_organiser", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_organiser_account_id"))

    op.drop_table("meeting_organiser")
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_status_starts")
        batch_op.drop_index(batch_op.f("ix_meeting_makeup_of_id"))
        batch_op.drop_index("ix_meeting_branch_starts")

    op.drop_table("meeting")
    op.drop_table("calendar_feed")
    op.drop_table("party_group_member")
    with op.batch_alter_table("party_group", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_group_branch_id"))

    op.drop_table("party_group")
