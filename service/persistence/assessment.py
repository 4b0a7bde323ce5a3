"""The tables of acting on results (结果运用): banding runs and their red and yellow
lines, warning cases (预警) with their talks (谈心谈话), the annual appraisal (民主评议党员)
and branch ratings (星级支部). Plain SQLAlchemy 2 typed mappings, as in ``models``.

What is private here (warning cases, talk notes, appraisal inputs and veto reasons)
reaches only the member, their secretary, the branch's instructor and the office: the
services in ``service.assessment`` check that; nothing here is ever joined into a board.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.models import Base, string_enum
from service.persistence.types import utcnow


class Band(enum.StrEnum):
    RED = "red"  # 红榜
    YELLOW = "yellow"  # 黄榜 (a warning case may follow)


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    IMPROVED = "improved"  # closed: the member improved by the deadline
    NOT_IMPROVED = "not_improved"  # closed: did not improve


class AppraisalStatus(enum.StrEnum):
    OPEN = "open"  # the secretary fills the sheet
    SUBMITTED = "submitted"  # waiting for the instructor or the office
    APPROVED = "approved"  # frozen


class Grade(enum.StrEnum):
    EXCELLENT = "excellent"  # 优秀
    QUALIFIED = "qualified"  # 合格
    BASIC = "basic"  # 基本合格
    UNQUALIFIED = "unqualified"  # 不合格


class RatingStatus(enum.StrEnum):
    DRAFT = "draft"  # the branch fills its self-assessment
    SUBMITTED = "submitted"  # self-assessment submitted, waiting for the audit
    AUDITED = "audited"  # audited by the instructor or the office


class RoundStatus(enum.StrEnum):
    OPEN = "open"
    PUBLISHED = "published"


# --- bands and warning cases -------------------------------------------------------------


class BandRun(Base):
    """The banding of one period (a quarter "2026-Q1" or a month "2026-03"), run once by
    the office after the period ends; its lines are the members on a red or yellow list."""

    __tablename__ = "band_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), unique=True)
    ruleset_version: Mapped[str] = mapped_column(String(32))
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    members_banded: Mapped[int] = mapped_column(Integer)  # everyone considered, any band
    # The red list's publication, when the ruleset publishes red lists.
    publication_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id"))


class BandLine(Base):
    """A member on a period's red or yellow list, with the score and why."""

    __tablename__ = "band_line"
    __table_args__ = (
        UniqueConstraint("run_id", "member_id"),
        Index("ix_band_line_member", "member_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("band_run.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    score: Mapped[Decimal]
    band: Mapped[Band] = mapped_column(string_enum(Band))
    # Which test put the member on the list: "below", "bottom_share", "top_share".
    reason: Mapped[str] = mapped_column(String(16))
    streak: Mapped[int] = mapped_column(Integer, default=1)  # periods in a row in this band


class WarningCase(Base):
    """A warning case (预警) opened by a yellow trigger: private to the member, their
    secretary, the branch's instructor and the office."""

    __tablename__ = "warning_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    band_line_id: Mapped[int] = mapped_column(ForeignKey("band_line.id"), unique=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[date] = mapped_column(Date)  # 限期改正: improve by this day
    status: Mapped[CaseStatus] = mapped_column(
        string_enum(CaseStatus), default=CaseStatus.OPEN, index=True
    )
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    member_response: Mapped[str] = mapped_column(Text, default="")
    responded_at: Mapped[datetime | None]


class WarningTalk(Base):
    """A heart-to-heart talk (谈心谈话) recorded on a case."""

    __tablename__ = "warning_talk"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("warning_case.id"), index=True)
    talked_on: Mapped[date] = mapped_column(Date)
    talked_by: Mapped[str] = mapped_column(String(120))  # who talked with the member
    notes: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text)  # the agreed actions the member sees
    deadline: Mapped[date | None] = mapped_column(Date)  # a new deadline, if agreed
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the annual appraisal (民主评议党员) -------------------------------------------------


class Appraisal(Base):
    """One branch's appraisal of one year: opened and submitted by the secretary,
    approved by the instructor or the office, then frozen."""

    __tablename__ = "appraisal"
    __table_args__ = (UniqueConstraint("branch_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    ruleset_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[AppraisalStatus] = mapped_column(
        string_enum(AppraisalStatus), default=AppraisalStatus.OPEN
    )
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    submitted_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    approved_at: Mapped[datetime | None]
    # Set when the approver sends the sheet back (status returns to open).
    returned_reason: Mapped[str] = mapped_column(Text, default="")
    # SHA-256 of the frozen sheet's canonical content, checked by ``assessment verify``.
    digest: Mapped[str] = mapped_column(String(64), default="")


class AppraisalLine(Base):
    """One member's line of an appraisal sheet. ``points`` and ``stars`` are the year's,
    taken when the sheet was opened (refreshed while it is open); ``inputs`` is JSON
    {input id: value as text}; ``score`` and ``suggested`` are what the ruleset computes;
    ``grade`` is what people decided, ``departure_reason`` why it differs."""

    __tablename__ = "appraisal_line"
    __table_args__ = (UniqueConstraint("appraisal_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appraisal_id: Mapped[int] = mapped_column(ForeignKey("appraisal.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    points: Mapped[Decimal]
    stars: Mapped[int] = mapped_column(Integer, default=0)
    inputs: Mapped[str] = mapped_column(Text, default="{}")
    veto: Mapped[bool] = mapped_column(Boolean, default=False)
    veto_reason: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[Decimal | None]
    suggested: Mapped[Grade | None] = mapped_column(string_enum(Grade))
    grade: Mapped[Grade | None] = mapped_column(string_enum(Grade))
    departure_reason: Mapped[str] = mapped_column(Text, default="")


# --- branch ratings (星级支部) -----------------------------------------------------------


class RatingRound(Base):
    """The rating of every branch for one period ("2025" or "2026-Q1")."""

    __tablename__ = "rating_round"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), unique=True)
    ruleset_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[RoundStatus] = mapped_column(string_enum(RoundStatus), default=RoundStatus.OPEN)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    publication_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id"))


class BranchRating(Base):
    """A branch's rating in a round: computed indicator values (JSON {indicator id:
    value as text}), the weighted total and the stars (0 under a veto)."""

    __tablename__ = "branch_rating"
    __table_args__ = (UniqueConstraint("round_id", "branch_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rating_round.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    status: Mapped[RatingStatus] = mapped_column(
        string_enum(RatingStatus), default=RatingStatus.DRAFT
    )
    computed: Mapped[str] = mapped_column(Text, default="{}")
    total: Mapped[Decimal | None]
    stars: Mapped[int | None] = mapped_column(Integer)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    submitted_at: Mapped[datetime | None]
    audited_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    audited_at: Mapped[datetime | None]


class RatingScore(Base):
    """An assessed indicator: the branch's own score with a note and an evidence photo,
    then the auditor's score (a change needs a reason)."""

    __tablename__ = "rating_score"
    __table_args__ = (UniqueConstraint("rating_id", "indicator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("branch_rating.id"), index=True)
    indicator: Mapped[str] = mapped_column(String(64))
    self_score: Mapped[Decimal | None]
    self_note: Mapped[str] = mapped_column(Text, default="")
    # Stored like entry photos (service.kernel.files): a relative path, checked on upload.
    evidence_path: Mapped[str | None] = mapped_column(String(255))
    audited_score: Mapped[Decimal | None]
    audit_reason: Mapped[str] = mapped_column(Text, default="")
    audited_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    audited_at: Mapped[datetime | None]


class RatingVeto(Base):
    """A veto item (一票否决) recorded against a branch's rating, with its reason
    (private: the branch, its instructor and the office)."""

    __tablename__ = "rating_veto"
    __table_args__ = (UniqueConstraint("rating_id", "veto"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("branch_rating.id"), index=True)
    veto: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- published results lists -----------------------------------------------------------


class PublishedResultRow(Base):
    """A line of a published results list: a member on the red list or the 优秀 list, or
    a branch with its stars. Only what the public notice shows: never a score's inputs,
    a veto or a warning."""

    __tablename__ = "published_result_row"
    __table_args__ = (UniqueConstraint("publication_id", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publication.id"), index=True)
    # A member's id on member lists, a branch's id on the branch stars list.
    subject_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    branch_name: Mapped[str] = mapped_column(String(120))
    # As shown: points ("12.5"), a rating total ("86.4").
    value: Mapped[str] = mapped_column(String(16))
    # What the list says of the line: "red", "excellent", or the stars ("4").
    label: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int | None] = mapped_column(Integer)
