"""Rule files: one TOML file per ruleset version in ``scoring_rules/``.

The ruleset in force for an activity is the latest one whose ``effective_from`` is on
or before the activity's date. Every field is validated; a problem is reported with the
file, the rule id and the field, and what is wrong.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.kernel.errors import DomainError
from service.kernel.i18n import Message
from service.scoring.policies import AppraisalPolicy, BandPolicy, BranchRatingPolicy

PointValue = Annotated[Decimal, Field(max_digits=7, decimal_places=1, allow_inf_nan=False)]
CapValue = Annotated[Decimal, Field(ge=0, max_digits=7, decimal_places=1, allow_inf_nan=False)]


class RuleGroup(StrEnum):
    BASIC = "basic"  # 基础
    REWARD = "reward"  # 奖励
    DEDUCTION = "deduction"  # 扣分


class UnitRounding(StrEnum):
    """How a declared quantity becomes units before points are given."""

    EXACT = "exact"  # points per unit × quantity, quantity in tenths
    HALF_UP = "half_up"  # 1.5 hours → 2 units (30 minutes or more counts as an hour)
    DOWN = "down"  # only complete units count


class RoundingScope(StrEnum):
    """What ``rounding`` applies to: each entry on its own, or the member's total under
    the rule for a day or a month (so splitting an activity into many small entries
    cannot turn each half hour into a whole one)."""

    ENTRY = "entry"  # each entry's quantity is rounded on its own (the original rule)
    DAY = "day"  # the member's total quantity under the rule on one day is rounded
    MONTH = "month"  # … in one calendar month


class Recorder(StrEnum):
    MEMBER = "member"  # the member declares it; a reviewer approves it
    SECRETARY = "secretary"  # only a secretary records it, with the branch's decision


class RuleSource(StrEnum):
    """Where a rule's activities come from."""

    DECLARED = "declared"  # a member declares it (or a secretary records it)
    # Written by closing a meeting (组织生活): never on the declaration form.
    ATTENDANCE = "attendance"


class MeetingType(StrEnum):
    """The kinds of meeting a branch schedules (三会一课, 主题党日, other activities)."""

    CONGRESS = "congress"  # 党员大会
    COMMITTEE = "committee"  # 支委会
    GROUP = "group"  # 党小组会
    LECTURE = "lecture"  # 党课
    THEME_DAY = "theme_day"  # 主题党日
    ACTIVITY = "activity"  # 其他支部活动


class MeetingPolicy(BaseModel):
    """The ``[meetings]`` table: check-in window and the yearly requirement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Check-in opens this many minutes before the start and closes this many after it.
    checkin_opens_before_minutes: int = Field(default=30, ge=0, le=240)
    checkin_closes_after_minutes: int = Field(default=20, ge=0, le=240)
    # How many of each type a branch must hold in a year (e.g. congress = 4).
    required_per_year: dict[MeetingType, Annotated[int, Field(ge=0, le=366)]] = Field(
        default_factory=dict
    )


class HeadlineMetric(StrEnum):
    TOTAL = "total"
    PER_MEMBER = "per_member"
    PARTICIPATION = "participation"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # Manual adjustments are booked under this id; a rule of the same id would mix
        # its points with theirs in the ledger and the summary.
        if value == "adjustment":
            raise ValueError("'adjustment' is reserved for manual adjustments")
        return value

    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    group: RuleGroup
    points: PointValue | None = None
    points_per_unit: PointValue | None = None
    unit_zh: str | None = None
    unit_en: str | None = None
    rounding: UnitRounding = UnitRounding.EXACT
    # Defaults to "entry": files written before the field existed keep scoring exactly as
    # they did, so months already scored (and published) with them stay reproducible.
    rounding_per: RoundingScope = RoundingScope.ENTRY
    max_units_per_entry: PointValue | None = Field(default=None, gt=0)
    cap_per_day: CapValue | None = None
    cap_per_month: CapValue | None = None
    cap_per_year: CapValue | None = None
    recorded_by: Recorder = Recorder.MEMBER
    photo_required: bool = False
    suggestion: bool = False
    adopted_points: PointValue | None = Field(default=None, ge=0)
    implemented_points: PointValue | None = Field(default=None, ge=0)
    # Defaults to "declared": files written before meetings existed score as they did.
    source: RuleSource = RuleSource.DECLARED
    # For source = "attendance": the meeting types whose attendance this rule scores.
    meeting_types: tuple[MeetingType, ...] = ()
    # For source = "attendance": points for being absent without approved leave (< 0).
    absent_points: PointValue | None = Field(default=None, lt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.points is None) == (self.points_per_unit is None):
            raise ValueError("give exactly one of 'points' and 'points_per_unit'")
        if self.points_per_unit is not None and not (self.unit_zh and self.unit_en):
            raise ValueError("a per-unit rule needs 'unit_zh' and 'unit_en'")
        one = self.points if self.points is not None else self.points_per_unit
        assert one is not None
        if self.group is RuleGroup.DEDUCTION:
            if one >= 0:
                raise ValueError("a deduction rule needs negative points")
            if self.recorded_by is not Recorder.SECRETARY:
                raise ValueError(
                    "a deduction is recorded by a secretary: set recorded_by = 'secretary'"
                )
            if self.caps:
                raise ValueError("caps apply to rewards, not to deductions")
        elif one < 0:
            raise ValueError("only a deduction rule may have negative points")
        if self.rounding_per is not RoundingScope.ENTRY and not (
            self.per_unit and self.recorded_by is Recorder.MEMBER
        ):
            # Totals are rounded only for quantities members declare; anywhere else the
            # field would be accepted and silently do nothing.
            raise ValueError(
                "'rounding_per' applies to per-unit rules that members declare "
                "(points_per_unit, recorded_by = 'member')"
            )
        if self.caps and self.recorded_by is Recorder.SECRETARY:
            # A secretary records these as adjustments, which the engine never caps: a cap
            # here would be accepted and silently do nothing.
            raise ValueError(
                f"'{next(iter(self.caps))}': caps apply to rules members declare, "
                "not to secretary-recorded ones"
            )
        what = "one unit" if self.per_unit else "one entry"
        for name, cap in self.caps.items():
            # A cap below what one entry (or one unit) earns would clip every single
            # entry: a typo.
            if cap < one:
                raise ValueError(f"'{name}' ({cap}) is below the points of {what} ({one})")
        if (self.adopted_points is not None or self.implemented_points is not None) and not (
            self.suggestion
        ):
            raise ValueError("'adopted_points' and 'implemented_points' need suggestion = true")
        if self.source is RuleSource.ATTENDANCE:
            if not self.meeting_types:
                raise ValueError("an attendance rule needs 'meeting_types', e.g. ['theme_day']")
            if self.per_unit or self.suggestion or self.group is RuleGroup.DEDUCTION:
                raise ValueError(
                    "an attendance rule gives fixed 'points' for attending "
                    "(not per unit, not a suggestion or a deduction)"
                )
            if self.recorded_by is not Recorder.MEMBER or self.photo_required:
                raise ValueError(
                    "an attendance rule is written by closing a meeting: "
                    "leave out 'recorded_by' and 'photo_required'"
                )
        elif self.meeting_types or self.absent_points is not None:
            raise ValueError("'meeting_types' and 'absent_points' need source = 'attendance'")
        return self

    @property
    def caps(self) -> dict[str, Decimal]:
        caps = {
            "cap_per_day": self.cap_per_day,
            "cap_per_month": self.cap_per_month,
            "cap_per_year": self.cap_per_year,
        }
        return {name: value for name, value in caps.items() if value is not None}

    @property
    def per_unit(self) -> bool:
        return self.points_per_unit is not None

    @property
    def member_declares(self) -> bool:
        return self.recorded_by is Recorder.MEMBER and not self.from_attendance

    @property
    def from_attendance(self) -> bool:
        return self.source is RuleSource.ATTENDANCE

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    def unit(self, locale: str) -> str | None:
        return self.unit_zh if locale.startswith("zh") else self.unit_en


class Ruleset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(pattern=r"^[0-9A-Za-z._-]{1,32}$")
    effective_from: date
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    timezone: str = "Asia/Shanghai"
    notice_days: int = Field(default=7, ge=1, le=60)
    headline_metric: HeadlineMetric = HeadlineMetric.PER_MEMBER
    base_score: PointValue = Field(default=Decimal(0), ge=0)
    floor: PointValue | None = Decimal(0)
    star_thresholds: tuple[PointValue, ...] = ()
    # How many months before the current one a member may still declare (as long as the
    # month is not published): 1 means this month and last month. Not scoring, so the
    # default applies to files written before the field existed without changing a point.
    declare_months_back: int = Field(default=1, ge=0, le=12)
    meetings: MeetingPolicy = Field(default_factory=MeetingPolicy)
    # Acting on results (service/scoring/policies.py): none of them changes a point.
    bands: BandPolicy | None = None
    appraisal: AppraisalPolicy | None = None
    branch_rating: BranchRatingPolicy | None = None
    # Defaults to empty so that a file without rules gets the model validator's message.
    rules: tuple[Rule, ...] = Field(default=(), alias="rule")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone '{value}'") from exc
        return value

    @field_validator("star_thresholds")
    @classmethod
    def _ascending(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if any(later <= earlier for earlier, later in pairwise(value)):
            raise ValueError("star thresholds must rise strictly, e.g. [60, 70, 80, 90, 96]")
        return value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        # Checked here rather than with min_length so that a file whose only rule is
        # broken reports that rule, not also "no rules".
        # These problems span fields, so pydantic gives them no location: each message
        # starts with its own ("field 'x': ..." or "rule 'id' field 'x': ..."), which
        # parse_ruleset keeps as it is.
        if not self.rules:
            raise ValueError("field 'rule': a ruleset needs at least one [[rule]]")
        seen: dict[str, int] = {}
        for number, rule in enumerate(self.rules, start=1):
            if rule.id in seen:
                raise ValueError(
                    f"rule '{rule.id}' field 'id': is used twice "
                    f"(rules #{seen[rule.id]} and #{number})"
                )
            seen[rule.id] = number
        types: dict[MeetingType, str] = {}
        for rule in self.rules:
            for kind in rule.meeting_types:
                if kind in types:
                    raise ValueError(
                        f"rule '{rule.id}' field 'meeting_types': '{kind}' is already "
                        f"scored by rule '{types[kind]}'"
                    )
                types[kind] = rule.id
        if self.floor is not None and self.floor > self.base_score:
            raise ValueError(f"field 'floor': {self.floor} is above 'base_score' {self.base_score}")
        return self

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def declarable_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.member_declares)

    def secretary_rules(self) -> tuple[Rule, ...]:
        return tuple(
            r for r in self.rules if r.recorded_by is Recorder.SECRETARY and not r.from_attendance
        )

    def attendance_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.from_attendance)

    def meeting_rule(self, kind: MeetingType | str) -> Rule | None:
        """The rule that scores attendance at a meeting of ``kind``, if any."""
        return next((r for r in self.rules if kind in r.meeting_types), None)

    def meeting_types(self) -> tuple[MeetingType, ...]:
        """The meeting types a branch may schedule under this ruleset: every type an
        attendance rule scores, then the ones only the yearly requirement names."""
        kinds = [kind for rule in self.attendance_rules() for kind in rule.meeting_types]
        kinds += [kind for kind in self.meetings.required_per_year if kind not in kinds]
        return tuple(kinds)

    def declare_from(self, today: date) -> date:
        """The earliest activity date a member may declare on ``today``: the first day of
        the month ``declare_months_back`` months before today's."""
        months = today.year * 12 + today.month - 1 - self.declare_months_back
        return date(months // 12, months % 12 + 1, 1)

    def stars(self, score: Decimal) -> int:
        return sum(1 for threshold in self.star_thresholds if score >= threshold)

    def flagged(self, score: Decimal) -> bool:
        """Below the first star: shown only to the member, their secretary and admins."""
        return bool(self.star_thresholds) and score < self.star_thresholds[0]


class RulesError(DomainError):
    """A rule file that cannot be used; ``problems`` name file, location and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(Message("; ".join(problems)))
        self.problems = problems


def parse_ruleset(text: str, source: str) -> Ruleset:
    """Validate ruleset TOML; ``source`` names it in problems (a path or "upload")."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([f"{source}: not valid TOML: {exc}"]) from exc
    try:
        return Ruleset.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if err["loc"]:
                message = f"{_describe_location(data, err['loc'])}: {message}"
            problems.append(f"{source}: {message}")
        raise RulesError(problems) from exc


def load_ruleset(path: Path) -> Ruleset:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError([f"{path}: cannot be read: {exc}"]) from exc
    return parse_ruleset(text, str(path))


def _describe_location(data: dict[str, object], loc: tuple[int | str, ...]) -> str:
    """Turn pydantic's ('rule', 3, 'points') into "rule 'volunteer' field 'points'"."""
    if len(loc) >= 2 and loc[0] == "rule" and isinstance(loc[1], int):
        rules = data.get("rule")
        rule_id = f"#{loc[1] + 1}"
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            rule_id = str(rules[loc[1]].get("id", rule_id))
        rest = ".".join(str(part) for part in loc[2:])
        return f"rule '{rule_id}'" + (f" field '{rest}'" if rest else "")
    if not loc:
        return "file"
    return "field '" + ".".join(str(part) for part in loc) + "'"


@dataclass(frozen=True)
class Rulebook:
    """Every ruleset version, ordered by effective date."""

    rulesets: tuple[Ruleset, ...]

    @classmethod
    def from_directory(cls, directory: Path) -> Rulebook:
        problems: list[str] = []
        rulesets: list[Ruleset] = []
        paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
        by_version: dict[str, Path] = {}
        by_date: dict[date, Path] = {}
        versions: dict[Path, str] = {}
        for path in paths:
            try:
                ruleset = load_ruleset(path)
            except RulesError as exc:
                problems.extend(exc.problems)
                continue
            # Name both files of a collision, so the clerk knows which two to compare.
            if ruleset.version in by_version:
                problems.append(
                    f"{path}: field 'version': version '{ruleset.version}' is used twice, "
                    f"also in {by_version[ruleset.version]}"
                )
            elif ruleset.effective_from in by_date:
                other = by_date[ruleset.effective_from]
                problems.append(
                    f"{path}: field 'effective_from': version '{ruleset.version}' takes "
                    f"effect on {ruleset.effective_from}, the same day as version "
                    f"'{versions[other]}' in {other}; which one would be in force?"
                )
            else:
                rulesets.append(ruleset)
            by_version.setdefault(ruleset.version, path)
            by_date.setdefault(ruleset.effective_from, path)
            versions.setdefault(path, ruleset.version)
        if not rulesets and not problems:
            problems.append(f"{directory}: no ruleset files (*.toml)")
        try:
            rulebook = cls.of(rulesets, str(directory))
        except RulesError as exc:
            problems.extend(exc.problems)
        if problems:
            raise RulesError(problems)
        return rulebook

    @classmethod
    def of(cls, rulesets: list[Ruleset], source: str = "rulebook") -> Rulebook:
        """Check that versions and effective dates do not collide, then order them."""
        problems: list[str] = []
        by_date: dict[date, str] = {}
        versions: set[str] = set()
        for ruleset in rulesets:
            if ruleset.version in versions:
                problems.append(f"{source}: version '{ruleset.version}' appears twice")
            versions.add(ruleset.version)
            if ruleset.effective_from in by_date:
                problems.append(
                    f"{source}: versions '{by_date[ruleset.effective_from]}' and "
                    f"'{ruleset.version}' take effect on the same day {ruleset.effective_from}"
                )
            by_date[ruleset.effective_from] = ruleset.version
        if problems:
            raise RulesError(problems)
        return cls(tuple(sorted(rulesets, key=lambda r: r.effective_from)))

    def with_candidate(self, candidate: Ruleset) -> Rulebook:
        """This rulebook with ``candidate`` added (or replacing the same version)."""
        others = [r for r in self.rulesets if r.version != candidate.version]
        return Rulebook.of([*others, candidate], "candidate")

    def in_force(self, on: date) -> Ruleset | None:
        """The ruleset for an activity on ``on``: the latest one already effective."""
        current = None
        for ruleset in self.rulesets:
            if ruleset.effective_from <= on:
                current = ruleset
        return current

    def version(self, version: str) -> Ruleset | None:
        return next((r for r in self.rulesets if r.version == version), None)

    @property
    def latest(self) -> Ruleset:
        return self.rulesets[-1]
