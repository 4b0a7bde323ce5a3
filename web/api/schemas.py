"""The JSON shapes of entries, reviews and members, with the examples the OpenAPI
document shows. Points and quantities are decimal strings with one place ("12.5"):
exact, never floats."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.overview.api import EntryItem, MemberDetail, MemberSummary
from service.persistence.models import EntryStatus, MemberStatus
from service.scoring.rules import Rulebook
from web.api.common import PageInfo

# As the rule files write them (service/scoring/rules.py).
RULE_ID_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
# What the web form takes (web/entries/views.py EntryForm): at most five digits before
# the point and one after. Written as a string so that no float ever carries it.
QUANTITY_PATTERN = r"^[0-9]{1,5}(\.[0-9])?$"
# Text goes into the database as it is; a NUL character is the one thing PostgreSQL
# cannot store, so the schema says so rather than the database answering 400.
NO_NUL = r"^[^\x00]*$"


def points_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def _refusing_extra_fields(example: dict[str, Any]) -> ConfigDict:
    """Unknown fields are refused (400), so that a typo, or a photo field, is not
    silently dropped. ``example`` is the key Litestar's schema reads for a model's
    example (pydantic's ``json_schema_extra`` is not read), hence the cast."""
    return cast(ConfigDict, {"extra": "forbid", "example": example})


# Constraints on strings go through StringConstraints: Litestar's OpenAPI generator
# documents those, and drops a pattern given to Field().
RuleId = Annotated[str, StringConstraints(pattern=RULE_ID_PATTERN)]
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)]
Description = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL)]


class NewEntry(BaseModel):
    """A member's declaration, checked as the web form checks it (service.entries.entry.
    submit_entry). Photos cannot be sent through the API: an item whose rule needs a
    photo is declared on the web form."""

    model_config = _refusing_extra_fields(
        {
            "rule_id": "volunteer",
            "activity_date": "2026-11-20",
            "quantity": "2",
            "description": "在西山桥路口协助指挥交通两小时",
        }
    )

    rule_id: RuleId = Field(
        description="The item declared: a rule members declare themselves, in force on "
        "`activity_date` (the web form lists them).",
        examples=["volunteer"],
    )
    activity_date: date = Field(
        description="The day of the service, in the town's calendar: not in the future, "
        "not in a published month, and not before the month the rules in force allow "
        "(`declare_months_back`: by default this month and last month).",
        examples=["2026-11-20"],
    )
    quantity: Quantity = Field(
        default="1",
        description="Units of the rule (hours, times...), at most one decimal place.",
        examples=["2", "1.5"],
    )
    description: Description = Field(
        description="What was done, for the reviewer (up to 2,000 characters).",
        examples=["在西山桥路口协助指挥交通两小时"],
    )

    @property
    def quantity_value(self) -> Decimal:
        return Decimal(self.quantity)


REJECTION_EXAMPLE = "日期与活动记录不符,请核实后重新申报。"


class Rejection(BaseModel):
    model_config = _refusing_extra_fields({"reason": REJECTION_EXAMPLE})

    reason: Reason = Field(
        description="Why, for the member (required, up to 500 characters).",
        examples=[REJECTION_EXAMPLE],
    )


class EntryOut(BaseModel):
    id: int = Field(examples=[4211])
    member_id: int = Field(examples=[17])
    member_name: str = Field(examples=["张伟"])
    branch_id: int = Field(
        description="The branch the member belonged to on the activity date: its "
        "reviewers decide, its boards count the points.",
        examples=[3],
    )
    branch_name: str = Field(examples=["金湾工业园区联合党支部"])
    rule_id: str = Field(examples=["volunteer"])
    rule_name: str | None = Field(
        description="The rule's name in the reader's language; null if no ruleset has it.",
        examples=["志愿服务"],
    )
    ruleset_version: str = Field(examples=["2026.1"])
    activity_date: date = Field(examples=["2026-11-20"])
    period: str = Field(description="The month the entry counts in.", examples=["2026-11"])
    quantity: str = Field(examples=["2.0"])
    description: str = Field(examples=["在西山桥路口协助指挥交通两小时"])
    status: EntryStatus = Field(examples=["pending"])
    submitted_at: datetime = Field(examples=["2026-11-20T09:30:00Z"])
    decided_at: datetime | None = Field(examples=[None])
    decided_by: str | None = Field(description="Who decided (display name).", examples=[None])
    decision_reason: str | None = Field(description="A rejection's reason.", examples=[None])
    points: str | None = Field(
        description="Points its approval awarded, one decimal place; null until approved.",
        examples=["4.0"],
    )
    photos: int = Field(
        description="How many photos the entry has. Photos are added and viewed on the web "
        "pages only.",
        examples=[0],
    )

    @classmethod
    def of(cls, item: EntryItem, rulebook: Rulebook, locale: str) -> EntryOut:
        view = item.view
        ruleset = rulebook.version(view.ruleset_version) or rulebook.in_force(view.activity_date)
        rule = ruleset.rule(view.rule_id) if ruleset else None
        return cls(
            id=view.id,
            member_id=view.member_id,
            member_name=view.member_name,
            branch_id=view.branch_id,
            branch_name=view.branch_name,
            rule_id=view.rule_id,
            rule_name=rule.name(locale) if rule else None,
            ruleset_version=view.ruleset_version,
            activity_date=view.activity_date,
            period=view.period,
            quantity=f"{view.quantity:.1f}",
            description=view.description,
            status=view.status,
            submitted_at=view.submitted_at,
            decided_at=view.decided_at,
            decided_by=view.decided_by,
            decision_reason=view.decision_reason,
            points=points_text(view.points),
            photos=item.photos,
        )


class EntriesPage(PageInfo):
    items: list[EntryOut]


class Decision(BaseModel):
    entry: EntryOut
    points_counted: str | None = Field(
        description="Approval: what it added to the member's points once caps are applied "
        "(less than the rule gives when a cap is reached). Null for a rejection.",
        examples=["4.0"],
    )


class MemberOut(BaseModel):
    id: int = Field(examples=[17])
    code: str = Field(description="Member number.", examples=["M001"])
    name: str = Field(examples=["张伟"])
    branch_id: int = Field(description="The member's current branch.", examples=[3])
    branch_name: str = Field(examples=["金湾工业园区联合党支部"])
    status: MemberStatus = Field(examples=["full"])
    active: bool = Field(examples=[True])

    @classmethod
    def of(cls, member: MemberSummary) -> MemberOut:
        return cls(
            id=member.id,
            code=member.code,
            name=member.name,
            branch_id=member.branch_id,
            branch_name=member.branch_name,
            status=MemberStatus(member.status),
            active=member.active,
        )


class MembersPage(PageInfo):
    items: list[MemberOut]


class MemberMonth(BaseModel):
    period: str = Field(examples=["2026-11"])
    points: str = Field(description="Points in the month, one decimal place.", examples=["12.5"])
    rank: int | None = Field(
        description="Town-wide rank (ties share one); null when not ranked: exempt, or no "
        "points; or when the town hides town-wide ranks from the reader.",
        examples=[3],
    )
    tied: bool = Field(description="Whether another member shares the rank.", examples=[False])


class MemberDetailOut(MemberOut):
    organisation_name: str | None = Field(examples=["飞鹰机械有限公司"])
    joined_party_on: date | None = Field(examples=["2010-07-01"])
    left_on: date | None = Field(examples=[None])
    month: MemberMonth

    @classmethod
    def of_detail(cls, detail: MemberDetail) -> MemberDetailOut:
        base = MemberOut.of(detail.member)
        return cls(
            **base.model_dump(),
            organisation_name=detail.organisation_name,
            joined_party_on=detail.joined_party_on,
            left_on=detail.left_on,
            month=MemberMonth(
                period=detail.period,
                points=f"{detail.points:.1f}",
                rank=detail.rank,
                tied=detail.tied,
            ),
        )
