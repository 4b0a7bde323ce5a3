"""The town file (seeds/town.toml): the demo town's shape, names, activity and the
story its published months tell, checked strictly on reading.
"""

from __future__ import annotations

import random
import tomllib
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.outbox.kinds import KINDS, allowed_modes
from service.persistence.models import (
    BranchKind,
    OrganisationKind,
    Role,
)
from service.persistence.notify import Mode

TOWN_FILE = "town.toml"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Spread(StrictModel):
    """A whole number drawn from a triangular distribution between ``low`` and ``high``."""

    low: int = Field(ge=0)
    high: int
    mode: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        mode = self.low if self.mode is None else self.mode
        if not self.low <= mode <= self.high:
            raise ValueError("need low <= mode <= high")
        return self

    def draw(self, rng: random.Random) -> int:
        mode = (self.low + self.high) / 2 if self.mode is None else self.mode
        return round(rng.triangular(self.low, self.high, mode))


class TownInfo(StrictModel):
    name: str
    committee: str


class Targets(StrictModel):
    branches_single: int = Field(ge=1)
    branches_joint: int = Field(ge=1)
    organisations: int = Field(ge=1)
    members: int = Field(ge=1)


class StatusShares(StrictModel):
    probationary: float = Field(ge=0, le=1)
    mobile: float = Field(ge=0, le=1)
    exempt: float = Field(ge=0, le=1)


class Shape(StrictModel):
    single_branch_members: Spread
    joint_branch_members: Spread
    joint_branch_organisations: Spread
    single_enterprise_employees: Spread
    small_enterprise_employees: Spread
    social_employees: Spread
    suspended_share: float = Field(ge=0, le=1)
    social_share: float = Field(ge=0, le=1)
    status_shares: StatusShares


class OtherJointBranches(StrictModel):
    mixed: list[str]
    social: list[str] = Field(default_factory=list)


class NamedOrganisation(StrictModel):
    name: str
    kind: OrganisationKind = OrganisationKind.ENTERPRISE
    employees: int = Field(ge=1)
    owner: str | None = None


class NamedBranch(StrictModel):
    name: str
    kind: BranchKind
    organisations: int = Field(ge=1)
    members: int = Field(ge=1)
    endings: list[str] = Field(default_factory=list)
    employees: Spread | None = None
    active_share: float | None = Field(default=None, ge=0, le=1)
    rule_weights: dict[str, int] | None = None
    named_organisations: list[NamedOrganisation] = Field(default_factory=list, alias="organisation")
    descriptions: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind is BranchKind.SINGLE and self.organisations != 1:
            raise ValueError(f"{self.name}: a single branch covers exactly one organisation")
        if len(self.named_organisations) > self.organisations:
            raise ValueError(f"{self.name}: more named organisations than organisations")
        if (
            self.organisations > len(self.named_organisations)
            and not self.endings
            and (self.kind is BranchKind.SINGLE)
        ):
            raise ValueError(f"{self.name}: name its organisation")
        return self


class Names(StrictModel):
    stems: list[str] = Field(min_length=1)
    enterprise_endings: list[str] = Field(min_length=1)
    places: list[str] = Field(min_length=1)
    social_endings: list[str] = Field(min_length=1)


class Activity(StrictModel):
    active_share: float = Field(ge=0, le=1)
    mobile_factor: float = Field(ge=0, le=1)
    entries_per_member: dict[int, int] = Field(min_length=1)
    unit_quantities: list[Decimal] = Field(min_length=1)
    meetings_per_month: dict[str, int] = Field(default_factory=dict)
    submit_delay_days: Spread
    decide_delay_days: Spread
    pending_share_current_month: float = Field(ge=0, le=1)
    rejected_share: float = Field(ge=0, le=1)
    withdrawn_share: float = Field(ge=0, le=1)
    review_queue: int = Field(ge=0)
    own_pending: int = Field(ge=0)
    rule_weights: dict[str, int] = Field(min_length=1)


class Review(StrictModel):
    rejection_reasons: list[str] = Field(min_length=1)


class Busy(StrictModel):
    members: int = Field(ge=0)
    demo_accounts: list[str] = Field(default_factory=list)
    month_rule: str
    month_entries: Spread
    day_rule: str
    day_quantities: list[Decimal] = Field(default_factory=list)


class Suggestions(StrictModel):
    adopted_share: float = Field(ge=0, le=1)
    implemented_share: float = Field(ge=0, le=1)
    adopt_delay_days: Spread
    implement_delay_days: Spread
    demo_accounts: list[str] = Field(default_factory=list)


class Deductions(StrictModel):
    monthly_share: float = Field(ge=0, le=1)
    on_meeting_days: list[str] = Field(default_factory=list)
    record_delay_days: Spread
    reminders: list[Decimal] = Field(min_length=1)
    demo_accounts: list[str] = Field(default_factory=list)
    rule_weights: dict[str, int] = Field(min_length=1)
    reasons: dict[str, list[str]]


class ManualAdjustment(StrictModel):
    branch: str
    points: Decimal
    reason: str = Field(min_length=1, max_length=500)


class Revocations(StrictModel):
    count: int = Field(ge=0)
    delay_days: Spread
    reasons: list[str] = Field(min_length=1)


class CorrectionStory(StrictModel):
    """An older month corrected after an objection: the texts, with ``{name}``,
    ``{month}`` and ``{rule}`` filled in."""

    objector: str
    rule: str
    objection: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    revoke_reason: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class TownObjection(StrictModel):
    """An objection to the last published month; with an ``answer`` it is resolved with
    no change. ``{month}`` and ``{count}`` are filled in."""

    account: str
    line: Literal["own", "branch"]
    text: str = Field(min_length=1)
    answer: str | None = None


class Publishing(StrictModel):
    day: int = Field(ge=1, le=28)
    at: time = Field(alias="time")
    open_days: int = Field(ge=0)
    correction: CorrectionStory | None = None
    objections: list[TownObjection] = Field(default_factory=list, alias="objection")


class MeetingTimes(StrictModel):
    """When a kind of meeting starts (town-local, one drawn per meeting) and how long."""

    starts: list[time] = Field(min_length=1)
    minutes: int = Field(ge=15, le=600)


class TownMeetings(StrictModel):
    """Organisational life (组织生活): each branch's meetings since the start of the year."""

    # Outcomes of an expected member (the rest are absent); mobile members attend less.
    attend_share: float = Field(ge=0, le=1)
    leave_share: float = Field(ge=0, le=1)
    mobile_attend_share: float = Field(ge=0, le=1)
    mobile_leave_share: float = Field(ge=0, le=1)
    # Of the members asking for leave, the share the secretary declines (they stay away).
    declined_share: float = Field(ge=0, le=1)
    # Of the attending members, the share the secretary ticks (the rest scan the code).
    ticked_share: float = Field(ge=0, le=1)
    # Months each kind is held in (1 to 12); a party group meeting only where the branch
    # has party groups.
    months: dict[str, list[int]]
    # Branches with this many assessed members have two party groups (党小组).
    two_groups_from: int = Field(ge=2)
    group_names: list[str] = Field(min_length=2)
    committee_size: Spread
    # Share of the branches behind on their meetings, and how many each one misses.
    behind_share: float = Field(ge=0, le=1)
    behind_missed: Spread
    # Share of the closed meetings with someone missing that get a make-up session (补课).
    makeup_share: float = Field(ge=0, le=1)
    makeup_after_days: Spread
    times: dict[str, MeetingTimes]
    titles: dict[str, list[str]]
    places: list[str] = Field(min_length=1)
    leave_reasons: list[str] = Field(min_length=1)
    decline_reasons: list[str] = Field(min_length=1)
    # Filled with {expected}, {attended}, {leave} and {absent}; one body per kind.
    minutes_head: str = Field(min_length=1)
    minutes: dict[str, list[str]]


class Grant(StrictModel):
    role: Role
    branch: str | None = None


class DemoAccount(StrictModel):
    username: str
    display_name: str | None = None
    member_of: str | None = None
    grants: list[Grant] = Field(min_length=1)
    # Notifications: the address mail goes to (example.org: nobody's real inbox), the
    # language, and per kind "off", "inbox", "email" or "digest" (absent: the default).
    email: str | None = None
    locale: str = "zh_CN"
    notify: dict[str, Mode] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_kinds(self) -> Self:
        for kind_id, mode in self.notify.items():
            if kind_id not in KINDS:
                raise ValueError(f"unknown notification kind '{kind_id}'")
            if mode not in allowed_modes(KINDS[kind_id]):
                raise ValueError(f"'{kind_id}' cannot be turned off")
        return self


class Demo(StrictModel):
    password: str = Field(min_length=8)
    accounts: list[DemoAccount] = Field(alias="account", min_length=1)


class TownFile(StrictModel):
    seed: int
    timezone: str
    town: TownInfo
    targets: Targets
    shape: Shape
    other_joint_branches: OtherJointBranches
    named_branches: list[NamedBranch] = Field(alias="named_branch")
    names: Names
    activity: Activity
    descriptions: dict[str, list[str]]
    review: Review
    busy: Busy
    suggestions: Suggestions
    deductions: Deductions
    manual_adjustments: list[ManualAdjustment] = Field(
        default_factory=list, alias="manual_adjustment"
    )
    revocations: Revocations
    publication: Publishing | None = None
    meetings: TownMeetings | None = None
    demo: Demo

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        named_joint = sum(b.kind is BranchKind.JOINT for b in self.named_branches)
        named_single = len(self.named_branches) - named_joint
        joint_names = len(self.other_joint_branches.mixed) + len(self.other_joint_branches.social)
        if named_joint + joint_names != self.targets.branches_joint:
            problems.append(
                f"{named_joint} named and {joint_names} other joint branches do not make "
                f"the {self.targets.branches_joint} joint branches"
            )
        if named_single > self.targets.branches_single:
            problems.append("more named single branches than single branches")
        branch_names = [b.name for b in self.named_branches]
        branch_names += self.other_joint_branches.mixed + self.other_joint_branches.social
        if len(set(branch_names)) != len(branch_names):
            problems.append("a branch name is used twice")
        known = set(branch_names)
        for account in self.demo.accounts:
            wanted = [account.member_of] + [g.branch for g in account.grants]
            for name in wanted:
                if name is not None and name not in known:
                    problems.append(f"account '{account.username}': unknown branch '{name}'")
        if not any(g.role is Role.ADMIN for a in self.demo.accounts for g in a.grants):
            problems.append("one demo account must be an admin")
        weighted = set(self.activity.rule_weights)
        for branch in self.named_branches:
            weighted |= set(branch.rule_weights or {})
        weighted |= {self.busy.month_rule, self.busy.day_rule}
        for rule_id in sorted(weighted - set(self.descriptions)):
            problems.append(f"rule '{rule_id}' has weight but no [descriptions] list")
        deductions = self.deductions
        for rule_id in sorted(set(deductions.rule_weights) - set(deductions.reasons)):
            problems.append(f"deduction '{rule_id}' has weight but no [deductions.reasons] list")
        for rule_id, reasons in deductions.reasons.items():
            if not reasons or any(not r.strip() or len(r) > 500 for r in reasons):
                problems.append(f"deduction '{rule_id}': reasons must be 1 to 500 characters")
        usernames = {a.username for a in self.demo.accounts if a.member_of is not None}
        for section, names in (
            ("busy", self.busy.demo_accounts),
            ("suggestions", self.suggestions.demo_accounts),
            ("deductions", self.deductions.demo_accounts),
        ):
            for name in sorted(set(names) - usernames):
                problems.append(f"[{section}] demo account '{name}' is not a member's account")
        if self.publication is not None:
            story = self.publication.correction
            speakers = [story.objector] if story else []
            speakers += [o.account for o in self.publication.objections]
            for name in sorted(set(speakers) - usernames):
                problems.append(f"[publication] demo account '{name}' is not a member's account")
        for adjustment in self.manual_adjustments:
            if adjustment.branch not in known:
                problems.append(f"manual adjustment: unknown branch '{adjustment.branch}'")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def read_town_file(seeds_dir: Path) -> TownFile:
    path = seeds_dir / TOWN_FILE
    return TownFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
