"""The tables of organisational life (组织生活): meetings, who is expected, leave,
check-in and attendance, amendments, minutes photos, party groups, organisers and
calendar feeds. Plain SQLAlchemy 2 typed mappings, as in ``models``."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.models import Base, string_enum
from service.persistence.types import utcnow


class MeetingStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CLOSED = "closed"  # attendance settled and points written
    CANCELLED = "cancelled"


class Audience(enum.StrEnum):
    """Who is expected at a meeting; the chosen members are in ``meeting_invitee``."""

    BRANCH = "branch"  # the whole branch (a joint branch: across its organisations)
    GROUP = "group"  # one party group (党小组)
    LIST = "list"  # members chosen one by one


class LeaveStatus(enum.StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class CheckinMethod(enum.StrEnum):
    CODE = "code"  # the member scanned the screen's code
    SECRETARY = "secretary"  # ticked on the attendance list by the secretary


class Outcome(enum.StrEnum):
    """A member's attendance at a closed meeting."""

    ATTENDED = "attended"
    LEAVE = "leave"  # on approved leave: no points either way
    ABSENT = "absent"  # absent without leave: the rule's absent_points, if any
    MADE_UP = "made_up"  # absent or on leave, then attended the make-up session (补课)


class PartyGroup(Base):
    """A party group (党小组) of a branch; a meeting may expect just one group."""

    __tablename__ = "party_group"
    __table_args__ = (UniqueConstraint("branch_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartyGroupMember(Base):
    __tablename__ = "party_group_member"

    group_id: Mapped[int] = mapped_column(ForeignKey("party_group.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)


class MeetingOrganiser(Base):
    """A branch committee member the secretary lets schedule and run the branch's
    meetings (not review entries, not record deductions)."""

    __tablename__ = "meeting_organiser"
    __table_args__ = (UniqueConstraint("branch_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))


class Meeting(Base):
    """A branch meeting or activity (三会一课, 主题党日 …). Closing it settles each
    expected member's attendance and writes the points in the same transaction."""

    __tablename__ = "meeting"
    __table_args__ = (
        Index("ix_meeting_branch_starts", "branch_id", "starts_at"),
        Index("ix_meeting_status_starts", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    # A MeetingType value (service/scoring/rules.py); the ruleset in force on the
    # meeting's day names the rule that scores it.
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # The town-local date of ``starts_at``: the activity date of its points.
    day: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(7))
    place: Mapped[str] = mapped_column(String(200), default="")
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    agenda: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[Audience] = mapped_column(string_enum(Audience), default=Audience.BRANCH)
    party_group_id: Mapped[int | None] = mapped_column(ForeignKey("party_group.id"))
    # A make-up session (补课) for this earlier meeting: attending it makes up for it.
    makeup_of_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id"), index=True)
    status: Mapped[MeetingStatus] = mapped_column(
        string_enum(MeetingStatus), default=MeetingStatus.SCHEDULED
    )
    # A random per-meeting secret for the rotating check-in codes (HMAC key).
    checkin_secret: Mapped[str] = mapped_column(String(64))
    minutes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    updated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)


class MeetingInvitee(Base):
    """A member expected at a meeting, fixed when it is scheduled (or edited)."""

    __tablename__ = "meeting_invitee"
    __table_args__ = (Index("ix_meeting_invitee_member", "member_id", "meeting_id"),)

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)


class MeetingLeave(Base):
    """A leave request (请假) and the secretary's answer."""

    __tablename__ = "meeting_leave"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[LeaveStatus] = mapped_column(
        string_enum(LeaveStatus), default=LeaveStatus.PENDING
    )
    requested_at: Mapped[datetime]
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)


class MeetingAttendance(Base):
    """One member at one meeting: a check-in before closing (``outcome`` None), then,
    once closed, one row per expected member with the outcome. Its id is the activity's
    source id in the ledger ("attendance:ID" / "absence:ID")."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (
        UniqueConstraint("meeting_id", "member_id"),
        Index("ix_meeting_attendance_member", "member_id", "meeting_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    # The branch the member belonged to on the meeting's day: the points count for it.
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    checked_in_at: Mapped[datetime | None]
    method: Mapped[CheckinMethod | None] = mapped_column(string_enum(CheckinMethod))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    outcome: Mapped[Outcome | None] = mapped_column(string_enum(Outcome))
    # MADE_UP: the make-up session's attendance row that made up for this one.
    made_up_by_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_attendance.id"))


class MeetingAmendment(Base):
    """A change of one member's outcome after closing, with its reason (append-only)."""

    __tablename__ = "meeting_amendment"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    from_outcome: Mapped[Outcome] = mapped_column(string_enum(Outcome))
    to_outcome: Mapped[Outcome] = mapped_column(string_enum(Outcome))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))


class MeetingPhoto(Base):
    """A photo with a closed meeting's minutes; stored like entry photos (re-encoded,
    random name, served only to those who may see the meeting)."""

    __tablename__ = "meeting_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))


class CalendarFeed(Base):
    """A member's private iCalendar feed: the URL carries a secret whose SHA-256 is kept."""

    __tablename__ = "calendar_feed"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
