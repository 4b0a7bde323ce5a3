"""Persistence model. Plain SQLAlchemy 2 typed mappings; no framework imports."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.persistence.types import Tenths, UTCDateTime, utcnow
from service.scoring.engine import Source

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class BranchKind(enum.StrEnum):
    SINGLE = "single"
    JOINT = "joint"


class OrganisationKind(enum.StrEnum):
    ENTERPRISE = "enterprise"
    SOCIAL = "social"


class MemberStatus(enum.StrEnum):
    FULL = "full"
    PROBATIONARY = "probationary"
    MOBILE = "mobile"
    EXEMPT = "exempt"


class Role(enum.StrEnum):
    MEMBER = "member"
    SECRETARY = "secretary"
    INSTRUCTOR = "instructor"
    ADMIN = "admin"


class EntryStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"


class ObjectionStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Resolution(enum.StrEnum):
    NO_CHANGE = "no_change"  # the line stands as published; the answer says why
    CORRECTED = "corrected"  # a correction of the month changed it


class PublicationKind(enum.StrEnum):
    MONTH = "month"  # a month's board (公示)
    RED_LIST = "red_list"  # a quarter's or month's red list (红榜)
    EXCELLENT = "excellent"  # a year's 优秀 members from the approved appraisals
    BRANCH_STARS = "branch_stars"  # a round's branch stars (星级支部)


class LedgerKind(enum.StrEnum):
    """Why a ledger line was written."""

    AWARD = "award"  # the first line of an activity: approval, suggestion step, adjustment
    REVERSAL = "reversal"  # the activity no longer counts (entry revoked)
    CAP = "cap"  # caps re-allocated because another activity in the window changed
    RESCORE = "rescore"  # a new ruleset version changed the activity's points


def string_enum(enum_type: type[enum.StrEnum]) -> Enum:
    # Stored as plain strings (no native PostgreSQL enum) so adding a value later is a
    # one-line migration on both databases.
    return Enum(
        enum_type,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 - SQLAlchemy's documented hook
        datetime: UTCDateTime(),
        Decimal: Tenths(),
        BranchKind: string_enum(BranchKind),
        OrganisationKind: string_enum(OrganisationKind),
        MemberStatus: string_enum(MemberStatus),
        Role: string_enum(Role),
        EntryStatus: string_enum(EntryStatus),
        LedgerKind: string_enum(LedgerKind),
        Source: string_enum(Source),
        ObjectionStatus: string_enum(ObjectionStatus),
        Resolution: string_enum(Resolution),
    }


class Branch(Base):
    __tablename__ = "branch"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[BranchKind]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Organisation(Base):
    """An enterprise or social organisation covered by a branch (the 五清 ledger lives here)."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[OrganisationKind]
    business_status: Mapped[str] = mapped_column(String(32))
    employee_count: Mapped[int] = mapped_column(Integer)
    owner_name: Mapped[str] = mapped_column(String(60))


class Member(Base):
    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    status: Mapped[MemberStatus]
    joined_party_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # 身份证号: the roster import's key for "the same person"; optional for old rows.
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    # The day the member left the town's party organisation (inactive from then on).
    left_on: Mapped[date | None] = mapped_column(Date)


class Membership(Base):
    """Which branch a member belonged to over time (组织关系): one row per stay.

    ``Member.branch_id`` is the current branch; history answers "which branch on this
    day", so an activity's points count for the branch of its date and past boards do not
    move when a member transfers.
    """

    __tablename__ = "membership"
    __table_args__ = (Index("ix_membership_member", "member_id", "from_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    from_date: Mapped[date | None] = mapped_column(Date)  # None: since before records began
    to_date: Mapped[date | None] = mapped_column(Date)  # exclusive; None: still there
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))


class Account(Base):
    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(60))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Set for an initial or reset password: the first sign-in must choose a new one.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[datetime | None]


class RoleGrant(Base):
    """A role held by an account; ``branch_id`` scopes secretaries and instructors."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("account_id", "role", "branch_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    role: Mapped[Role]
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))


class WebSession(Base):
    """A server-side sign-in session; the cookie holds a token whose SHA-256 is the id."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")


class LoginFailure(Base):
    """A failed sign-in: the throttle counts these per username and per client address
    over a sliding window. Kept in the database so every worker and host sees them."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username", "username", "at"),
        Index("ix_login_failure_address", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))  # as typed, lower-cased
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class Entry(Base):
    """A member's declaration of service (积分申报)."""

    __tablename__ = "entry"
    __table_args__ = (
        Index("ix_entry_review_queue", "branch_id", "status", "submitted_at"),
        Index("ix_entry_member", "member_id", "submitted_at"),
        Index("ix_entry_period_status", "period", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    # The branch the member belonged to on the activity date: points count for it.
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(String(32))
    activity_date: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(7))
    quantity: Mapped[Decimal]
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[EntryStatus] = mapped_column(default=EntryStatus.PENDING)
    submitted_at: Mapped[datetime]
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # Suggestions (建言献策) go on: adopted (采纳), then implemented (落实). Each step is
    # dated by when it happened, and scores in that month.
    adopted_on: Mapped[date | None] = mapped_column(Date)
    adopted_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    implemented_on: Mapped[date | None] = mapped_column(Date)
    implemented_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class EntryPhoto(Base):
    """A photo a member attached to an entry as evidence.

    The file lives under the upload folder (``JIFEN_UPLOAD_DIR``), outside the static
    folder, named by ``stored_name`` (random, never the uploaded name), and is served
    only to those who may see the entry. It is re-encoded on upload, which drops
    metadata such as the phone's GPS position.
    """

    __tablename__ = "entry_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))


class Adjustment(Base):
    """Points a secretary records for a member: a deduction under a rule of the
    deduction group (扣分), or a manual adjustment with its own points. Always with the
    branch's reason."""

    __tablename__ = "adjustment"
    __table_args__ = (Index("ix_adjustment_member", "member_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(7))
    quantity: Mapped[Decimal]
    # Set for manual adjustments only; a deduction's points come from its rule.
    points: Mapped[Decimal | None]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))


class LedgerLine(Base):
    """An append-only point movement (积分流水). Corrections are new lines, never edits."""

    __tablename__ = "ledger_line"
    __table_args__ = (
        # One award line per activity: the database itself refuses to count an entry
        # (or a suggestion step, or an adjustment) twice, whatever the application does.
        Index(
            "uq_ledger_line_award",
            "activity_key",
            unique=True,
            sqlite_where=text("kind = 'award'"),
            postgresql_where=text("kind = 'award'"),
        ),
        Index("ix_ledger_line_member_period", "member_id", "period"),
        Index("ix_ledger_line_activity", "member_id", "activity_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    period: Mapped[str] = mapped_column(String(7))
    activity_date: Mapped[date] = mapped_column(Date)
    source: Mapped[Source]
    # "<source>:<id>", e.g. "entry:42", "adopted:42", "adjustment:7": the activity whose
    # points this line moves.
    activity_key: Mapped[str] = mapped_column(String(40))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entry.id"))
    adjustment_id: Mapped[int | None] = mapped_column(ForeignKey("adjustment.id"))
    # Attendance and absence lines: the meeting_attendance row (member × meeting).
    attendance_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_attendance.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(String(32))
    kind: Mapped[LedgerKind]
    points: Mapped[Decimal]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))


class PointsSummary(Base):
    """Member × month × branch × rule totals, kept in step with the ledger in the same
    transaction so rankings never scan the ledger."""

    __tablename__ = "points_summary"
    __table_args__ = (Index("ix_points_summary_period_branch", "period", "branch_id"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    points: Mapped[Decimal]
    line_count: Mapped[int] = mapped_column(Integer)


# --- board totals: what the live boards read, kept by service/boards/totals.py ------------------
# ``period`` is a board's span: a month "2026-07", a quarter "2026-Q3" or a year "2026".


class PointsTotal(Base):
    """A member's points in a span (all branches), with the member's exempt flag, so a
    board's page is an index range and a rank a count."""

    __tablename__ = "points_total"
    __table_args__ = (Index("ix_points_total_rank", "period", "exempt", "points"),)

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)
    points: Mapped[Decimal]
    exempt: Mapped[bool] = mapped_column(Boolean)


# A branch's points per member and participation as sort keys: double precision orders
# these fractions exactly (two different ones of a branch's points and members lie far
# more than a rounding step apart) and gives equal fractions equal keys.
PER_MEMBER_KEY = (
    "CASE WHEN members = 0 THEN 0.0 ELSE CAST(points AS DOUBLE PRECISION) / members END"
)
PARTICIPATION_KEY = (
    "CASE WHEN members = 0 THEN 0.0 ELSE CAST(participants AS DOUBLE PRECISION) / members END"
)


class BranchTotal(Base):
    """A branch's points in a span (exempt members' points apart, as on the board), how
    many of its active, non-exempt members have an approved entry in it, and how many
    such members it has; with the board's metrics as indexed keys."""

    __tablename__ = "branch_total"
    __table_args__ = (
        Index("ix_branch_total_points", "period", "points"),
        Index("ix_branch_total_per_member", "period", "per_member_key"),
        Index("ix_branch_total_participation", "period", "participation_key"),
        Index("ix_branch_total_branch", "branch_id"),
    )

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), primary_key=True)
    points: Mapped[Decimal]
    participants: Mapped[int] = mapped_column(Integer)
    members: Mapped[int] = mapped_column(Integer)  # = branch_roster.members
    # PER_MEMBER_KEY and PARTICIPATION_KEY of the row, written with it (service.boards.totals).
    per_member_key: Mapped[float] = mapped_column(Float)
    participation_key: Mapped[float] = mapped_column(Float)


class Participation(Base):
    """A member has at least one approved entry dated in the span for the branch."""

    __tablename__ = "participation"
    __table_args__ = (Index("ix_participation_member", "member_id", "period"),)

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)


class BoardCount(Base):
    """Members by class (exempt, active): on the roster (``scope`` ""), or with points
    other than zero in a span (``scope`` the span)."""

    __tablename__ = "board_count"

    scope: Mapped[str] = mapped_column(String(7), primary_key=True)
    exempt: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    members: Mapped[int] = mapped_column(Integer)


class BranchRoster(Base):
    """Active, non-exempt members of a branch: the denominator of its per-member points
    and participation."""

    __tablename__ = "branch_roster"

    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), primary_key=True)
    members: Mapped[int] = mapped_column(Integer)


# --- publication (公示) ----------------------------------------------------------------


class Publication(Base):
    """One published revision of a month's board. Revision 1 is the first publication,
    2+ are corrections (``replaces_id`` and ``reason`` set). Every publication carries
    the SHA-256 of its canonical content and the digest of the publication stored just
    before it (any month), so the whole history forms one chain."""

    __tablename__ = "publication"
    __table_args__ = (UniqueConstraint("kind", "period", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # A month's board, or a results list (red list, 优秀 list, branch stars) whose lines
    # are ``published_result_row``s: one chain over both.
    kind: Mapped[PublicationKind] = mapped_column(
        string_enum(PublicationKind), default=PublicationKind.MONTH, server_default="month"
    )
    period: Mapped[str] = mapped_column(String(7), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    notice_days: Mapped[int] = mapped_column(Integer)
    window_ends_at: Mapped[datetime]
    ruleset_version: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    previous_digest: Mapped[str] = mapped_column(String(64), default="")
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id"))
    reason: Mapped[str] = mapped_column(Text, default="")


class PublishedMemberRow(Base):
    """A member's line of a published board, stored once and never recomputed.

    ``town_rank`` is None for lines listed apart (exempt, or no points); ``branch_rank``
    is the rank among the members of the same branch on this board."""

    __tablename__ = "published_member_row"
    __table_args__ = (
        UniqueConstraint("publication_id", "member_id"),
        # A page of the board in rank order, and one branch's lines, without a scan.
        Index("ix_published_member_row_rank", "publication_id", "town_rank", "member_code"),
        Index("ix_published_member_row_branch", "publication_id", "branch_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publication.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    member_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(60))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    branch_name: Mapped[str] = mapped_column(String(120))
    points: Mapped[Decimal]
    exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    town_rank: Mapped[int | None] = mapped_column(Integer)
    branch_rank: Mapped[int | None] = mapped_column(Integer)


class PublishedBranchRow(Base):
    """A branch's line of a published board with its ranks by each metric."""

    __tablename__ = "published_branch_row"
    __table_args__ = (
        UniqueConstraint("publication_id", "branch_id"),
        Index("ix_published_branch_row_total", "publication_id", "rank_total", "code"),
        Index("ix_published_branch_row_per_member", "publication_id", "rank_per_member", "code"),
        Index(
            "ix_published_branch_row_participation", "publication_id", "rank_participation", "code"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publication.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[BranchKind]
    total: Mapped[Decimal]
    members: Mapped[int] = mapped_column(Integer)
    participants: Mapped[int] = mapped_column(Integer)
    # As shown on the board ("12.35" points per member, "66.7" percent); the ranks were
    # taken on exact fractions and are stored below.
    per_member: Mapped[str] = mapped_column(String(16))
    participation: Mapped[str] = mapped_column(String(16))
    rank_total: Mapped[int] = mapped_column(Integer)
    rank_per_member: Mapped[int] = mapped_column(Integer)
    rank_participation: Mapped[int] = mapped_column(Integer)


class Correction(Base):
    """A correction of a published month: opened by an admin with a reason (the month is
    then "correcting" and may change), closed when its revision is published."""

    __tablename__ = "correction"
    __table_args__ = (
        # One correction of a month in progress at a time: a second one would stay open
        # after the first is published, leaving the month unfrozen.
        Index(
            "uq_correction_open",
            "period",
            unique=True,
            sqlite_where=text("publication_id IS NULL"),
            postgresql_where=text("publication_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    reason: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime]
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    replaces_id: Mapped[int] = mapped_column(ForeignKey("publication.id"))
    # Set when the correction's revision is published; NULL while it is in progress.
    publication_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id"))


class Objection(Base):
    """A member's objection (异议) to one line of a published board, with the answer."""

    __tablename__ = "objection"
    __table_args__ = (Index("ix_objection_status", "status", "publication_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publication.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    # The line objected to: a member's line or a branch's line of that board.
    line_member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    line_branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    status: Mapped[ObjectionStatus] = mapped_column(default=ObjectionStatus.OPEN)
    answer: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[Resolution | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    resolved_at: Mapped[datetime | None]
    correction_publication_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id"))


class AuditEvent(Base):
    """One change to the town's records: who, what, when, from where, before and after.

    Append-only like the ledger. ``before``/``after`` hold JSON of the changed fields.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_actor", "actor_id", "at"),
        Index("ix_audit_event_branch", "branch_id", "at"),
        Index("ix_audit_event_kind", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(48))  # e.g. "member.update", "entry.approve"
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


class GroupTotal(Base):
    """The town's points in a month from one rule, over its non-exempt members (the
    branches board's chart by rule group reads these instead of every summary row),
    spread over ``service.boards.totals.GROUP_BUCKETS`` rows by the summary row's branch id
    modulo that number, so concurrent approvals seldom wait on the same row."""

    __tablename__ = "group_total"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # a month
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    points: Mapped[Decimal]


# --- API tokens ------------------------------------------------------------------------


class ApiToken(Base):
    """A bearer token for the JSON API, issued by the office to an account: requests
    with it act as that account, with its roles. Only the SHA-256 of the secret is
    stored (the secret is shown once, at issue); ``prefix`` names the token on pages."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))


# --- rulesets adopted on the web ------------------------------------------------------


class AdoptedRuleset(Base):
    """A ruleset version the office adopted on the web (the rules folder holds the
    others). Immutable: nothing updates or deletes one (service/persistence/guards.py);
    a later version supersedes it. ``toml`` is the text exactly as uploaded, ``digest``
    the SHA-256 of its UTF-8 bytes; the export gives those bytes back."""

    __tablename__ = "adopted_ruleset"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(32), unique=True)
    effective_from: Mapped[date] = mapped_column(Date, unique=True)
    toml: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    adopted_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    adopted_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)


# The meeting tables live in their own module (this one would outgrow a file); importing
# it here registers them on Base.metadata wherever the model is used.
from service.persistence import assessment as assessment  # noqa: E402
from service.persistence import meetings as meetings  # noqa: E402
from service.persistence import notify as notify  # noqa: E402
