"""What a ruleset says about acting on results (结果运用): the ``[bands]`` table (red and
yellow lists and the warnings they open), ``[appraisal]`` (民主评议党员: weights, inputs
and grade rules) and ``[branch_rating]`` (星级支部: indicators, weights, stars, vetoes).

All three are optional: a ruleset without them bands nobody, opens no appraisal and
rates no branch. They never change a member's points, so adding them to a ruleset that
already scored (or published) months changes no number on any board.

The policy that applies to a period is the one of the ruleset in force on the period's
last day (a quarter's, a year's).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, model_validator

ScoreValue = Annotated[Decimal, Field(ge=0, max_digits=7, decimal_places=1, allow_inf_nan=False)]
Percent = Annotated[int, Field(ge=0, le=100)]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


def _share(value: Any) -> Fraction:
    """A share of a branch: a fraction in (0, 1], written 0.2 or "1/3" (a third is not a
    decimal, and "优秀 at most a third" must be exact for every branch size)."""
    if isinstance(value, Fraction):
        share = value
    elif isinstance(value, bool):
        raise ValueError('a share is a number like 0.2 or a fraction like "1/3"')
    elif isinstance(value, int | float | Decimal | str):
        try:
            # str(): 0.2 read from TOML is a float; its text is the exact 1/5 meant.
            share = Fraction(str(value).strip())
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(
                f"'{value}' is not a share: write 0.2 or a fraction like \"1/3\""
            ) from exc
    else:
        raise ValueError('a share is a number like 0.2 or a fraction like "1/3"')
    if not 0 < share <= 1:
        raise ValueError(f"a share must be above 0 and at most 1, not {value}")
    return share


Share = Annotated[
    Fraction,
    PlainValidator(_share),
    PlainSerializer(lambda share: f"{share.numerator}/{share.denominator}", return_type=str),
]


# --- bands (红黄榜) and warning cases (预警) ---------------------------------------------


class BandPeriod(StrEnum):
    QUARTER = "quarter"
    MONTH = "month"


class BandPolicy(BaseModel):
    """``[bands]``: who lands on a period's red and yellow lists, and when a yellow list
    opens a warning case. Bands are drawn within each branch, over its members who are
    not exempt, on their points in the period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: BandPeriod = BandPeriod.QUARTER
    # Yellow: a score below this, or in the bottom share of the branch (either test).
    yellow_below: ScoreValue | None = None
    yellow_bottom_share: Share | None = None
    # Red: in the top share of the branch and, when given, at least red_min points.
    red_top_share: Share | None = None
    red_min: ScoreValue | None = None
    # A warning case opens after this many yellow periods in a row (1: every yellow).
    warn_after: int = Field(default=1, ge=1, le=12)
    # 限期改正: the member should improve within this many days of the case opening.
    deadline_days: int = Field(default=30, ge=1, le=366)
    # Red periods in a row that earn recognition (e.g. 2 for a 共产党员户 plaque); shown
    # on the red list. 0: no streak shown.
    red_streak: int = Field(default=0, ge=0, le=12)
    # Publish each period's red list (name, branch, points) through the publication chain.
    publish_red: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.yellow_below is None and self.yellow_bottom_share is None:
            raise ValueError("give 'yellow_below' or 'yellow_bottom_share' (or both)")
        if (
            self.red_top_share is not None
            and self.yellow_bottom_share is not None
            and self.red_top_share + self.yellow_bottom_share > 1
        ):
            raise ValueError("'red_top_share' and 'yellow_bottom_share' overlap (together above 1)")
        if (
            self.red_min is not None
            and self.yellow_below is not None
            and self.red_min < self.yellow_below
        ):
            raise ValueError(
                f"'red_min': {self.red_min} is below 'yellow_below' "
                f"{self.yellow_below}: a member could be red and yellow at once"
            )
        if self.publish_red and self.red_top_share is None and self.red_min is None:
            raise ValueError(
                "'publish_red': there is no red list: give 'red_top_share' or 'red_min'"
            )
        return self

    @property
    def has_red(self) -> bool:
        return self.red_top_share is not None or self.red_min is not None


# --- the annual appraisal (民主评议党员) -------------------------------------------------


class InputKind(StrEnum):
    NUMBER = "number"  # a number from 0 to ``max``
    GRADE = "grade"  # one of the four grades, counted as ``grade_values`` says


class AppraisalInput(BaseModel):
    """One appraisal input the branch enters per member (自评, 互评, 支部评议 …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    kind: InputKind = InputKind.NUMBER
    max: ScoreValue = Field(default=Decimal(100), gt=0)
    # This input's share of the appraisal part of the score, in percent.
    weight: Percent

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


class GradeValues(BaseModel):
    """What a grade given as an input counts as, out of 100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    excellent: ScoreValue = Decimal(100)
    qualified: ScoreValue = Decimal(80)
    basic: ScoreValue = Decimal(60)
    unqualified: ScoreValue = Decimal(0)


class AppraisalPolicy(BaseModel):
    """``[appraisal]``: the score out of 100 is ``points_weight`` % of the year's points
    (as a share of ``points_full``, at most all of it) plus the rest from the inputs by
    their weights; the sheet suggests a grade from the score, people decide."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points_weight: Percent = 80
    # The year's points that count as full marks for the points part.
    points_full: ScoreValue = Field(gt=0)
    inputs: tuple[AppraisalInput, ...] = Field(default=(), alias="input")
    grade_values: GradeValues = Field(default_factory=GradeValues)
    excellent_min: ScoreValue = Decimal(90)
    qualified_min: ScoreValue = Decimal(70)
    basic_min: ScoreValue = Decimal(60)
    # 优秀 for at most this share of the branch's appraised members (rounded down).
    excellent_max_share: Share = Fraction(1, 3)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [item.id for item in self.inputs]
        for item in ids:
            if ids.count(item) > 1:
                raise ValueError(f"'input': id '{item}' is used twice")
        if self.points_weight < 100:
            if not self.inputs:
                raise ValueError(
                    "'input': the inputs carry "
                    f"{100 - self.points_weight} % of the score: name at least one"
                )
            total = sum(item.weight for item in self.inputs)
            if total != 100:
                raise ValueError(f"'input': the inputs' weights add up to {total}, not 100")
        elif self.inputs:
            raise ValueError("'input': 'points_weight' is 100, so inputs would count for nothing")
        if not self.excellent_min > self.qualified_min > self.basic_min:
            raise ValueError(
                "the grade thresholds must fall strictly: excellent_min > qualified_min > basic_min"
            )
        if self.excellent_min > 100:
            raise ValueError("'excellent_min': a score is at most 100")
        return self

    def input(self, input_id: str) -> AppraisalInput | None:
        return next((item for item in self.inputs if item.id == input_id), None)


# --- branch ratings (星级支部) -----------------------------------------------------------


class Metric(StrEnum):
    """What a computed indicator measures over the rated period."""

    POINTS_PER_MEMBER = "points_per_member"  # the members' points ÷ members
    PARTICIPATION = "participation"  # share of members with points (0–1)
    MEETINGS = "meetings"  # meetings held ÷ required (0–1; 1 when none is required)
    SUGGESTIONS = "suggestions"  # suggestions adopted or implemented (a count)
    WARNINGS_CLOSED = "warnings_closed"  # share of warning cases closed (1 when none)


RATIO_METRICS = frozenset({Metric.PARTICIPATION, Metric.MEETINGS, Metric.WARNINGS_CLOSED})


class RatingIndicator(BaseModel):
    """A branch indicator: computed (``metric``) or assessed (self-scored by the branch
    out of 100, then audited). A computed value earns full marks at ``full``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    weight: Annotated[int, Field(ge=1, le=100)]
    metric: Metric | None = None
    full: ScoreValue | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.metric is None and self.full is not None:
            raise ValueError(
                f"indicator '{self.id}' field 'full': only a computed indicator "
                "('metric') has a full mark"
            )
        if self.metric is not None and self.metric not in RATIO_METRICS and self.full is None:
            raise ValueError(
                f"indicator '{self.id}' field 'full': say what value of "
                f"'{self.metric}' earns full marks"
            )
        if self.metric in RATIO_METRICS and self.full is not None and self.full > 1:
            raise ValueError(
                f"indicator '{self.id}' field 'full': '{self.metric}' is a share from 0 to 1"
            )
        return self

    @property
    def computed(self) -> bool:
        return self.metric is not None

    @property
    def full_mark(self) -> Decimal:
        return self.full if self.full is not None else Decimal(1)

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


class RatingVetoItem(BaseModel):
    """A veto item (一票否决): recorded against a branch with a reason, it leaves the
    branch without stars whatever its score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


class BranchRatingPolicy(BaseModel):
    """``[branch_rating]``: the weighted total of the indicators (each out of 100) gives
    the stars by ``star_thresholds``; a veto gives none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Rate each quarter as well as the year.
    quarterly: bool = False
    indicators: tuple[RatingIndicator, ...] = Field(alias="indicator")
    vetoes: tuple[RatingVetoItem, ...] = Field(default=(), alias="veto")
    star_thresholds: tuple[ScoreValue, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [item.id for item in self.indicators] + [item.id for item in self.vetoes]
        for item in ids:
            if ids.count(item) > 1:
                raise ValueError(f"id '{item}' is used twice")
        total = sum(item.weight for item in self.indicators)
        if total != 100:
            raise ValueError(f"'indicator': the weights add up to {total}, not 100")
        if any(later <= earlier for earlier, later in pairwise(self.star_thresholds)):
            raise ValueError("'star_thresholds': must rise strictly, e.g. [60, 70, 80, 90, 95]")
        if self.star_thresholds[-1] > 100:
            raise ValueError("'star_thresholds': a total is at most 100")
        return self

    def indicator(self, indicator_id: str) -> RatingIndicator | None:
        return next((item for item in self.indicators if item.id == indicator_id), None)

    def veto(self, veto_id: str) -> RatingVetoItem | None:
        return next((item for item in self.vetoes if item.id == veto_id), None)

    def assessed(self) -> tuple[RatingIndicator, ...]:
        return tuple(item for item in self.indicators if not item.computed)
