"""The annual appraisal (民主评议党员), computed: a member's score out of 100 from the
year's points and the branch's appraisal inputs, the grades a whole sheet suggests, and
the check of the grades people decided before the sheet is submitted.

Pure: no database, nothing but the policy (``[appraisal]``) and the numbers. The sheet
computes and suggests; people decide, and every departure from a suggestion needs a
reason (a veto forces 不合格, with no departure possible).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from math import floor
from typing import Generic, TypeVar

from service.scoring.points import TENTH
from service.scoring.policies import AppraisalPolicy, InputKind

K = TypeVar("K", bound=Hashable)


class AppraisalGrade(StrEnum):
    """The four grades (the same values as the stored ``Grade``)."""

    EXCELLENT = "excellent"  # 优秀
    QUALIFIED = "qualified"  # 合格
    BASIC = "basic"  # 基本合格
    UNQUALIFIED = "unqualified"  # 不合格


GRADES = tuple(AppraisalGrade)

InputValue = Decimal | AppraisalGrade | str


def _fraction(value: Decimal) -> Fraction:
    return Fraction(str(value))


def _rounded(value: Fraction) -> Decimal:
    """Half-up to one decimal place, from the exact fraction."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(TENTH, rounding=ROUND_HALF_UP)


def normalised_input(policy: AppraisalPolicy, input_id: str, value: InputValue) -> Fraction | None:
    """An input's value out of 100: a number ÷ its max × 100 (clipped to 0–max), a grade
    by ``grade_values``. None when the value is not one the input takes."""
    item = policy.input(input_id)
    if item is None:
        return None
    if item.kind is InputKind.GRADE:
        try:
            grade = AppraisalGrade(str(value))
        except ValueError:
            return None
        return _fraction(getattr(policy.grade_values, grade.value))
    if isinstance(value, AppraisalGrade):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    if not number.is_finite():
        return None
    number = min(max(number, Decimal(0)), item.max)
    return _fraction(number) / _fraction(item.max) * 100


def appraisal_score(
    policy: AppraisalPolicy, points: Decimal, inputs: Mapping[str, InputValue]
) -> Decimal | None:
    """The score out of 100, half-up to one decimal; None while an input is missing.

    Points part: ``points_weight`` % × min(points ÷ points_full, 1) × 100 (negative
    points count as none). Each input out of 100, weighted by its weight within the
    remaining (100 − points_weight) %."""
    share = min(max(_fraction(points), Fraction(0)) / _fraction(policy.points_full), Fraction(1))
    total = Fraction(policy.points_weight) * share
    rest = Fraction(100 - policy.points_weight, 100)
    for item in policy.inputs:
        if item.id not in inputs:
            return None
        value = normalised_input(policy, item.id, inputs[item.id])
        if value is None:
            return None
        total += rest * Fraction(item.weight, 100) * value
    return _rounded(total)


def grade_for(policy: AppraisalPolicy, score: Decimal) -> AppraisalGrade:
    """The grade the thresholds give a score (before the 优秀 cap)."""
    if score >= policy.excellent_min:
        return AppraisalGrade.EXCELLENT
    if score >= policy.qualified_min:
        return AppraisalGrade.QUALIFIED
    if score >= policy.basic_min:
        return AppraisalGrade.BASIC
    return AppraisalGrade.UNQUALIFIED


def excellent_cap(policy: AppraisalPolicy, members: int) -> int:
    """How many of a sheet's ``members`` may be 优秀: the share, rounded down."""
    return floor(policy.excellent_max_share * members)


@dataclass(frozen=True)
class ScoredLine(Generic[K]):
    key: K
    score: Decimal | None
    veto: bool = False


def suggest(
    policy: AppraisalPolicy, lines: Sequence[ScoredLine[K]]
) -> dict[K, AppraisalGrade | None]:
    """The suggested grade of every line of a sheet (None: its score is not complete).

    A veto suggests 不合格; otherwise the thresholds. 优秀 goes to at most
    ``excellent_cap`` of the sheet's lines, the best scores first; a tie at the boundary
    gets it only if the whole tie fits; the other eligible lines get 合格. The order of
    the lines changes nothing."""
    result: dict[K, AppraisalGrade | None] = {}
    eligible: dict[Decimal, list[K]] = {}
    for line in lines:
        if line.veto:
            result[line.key] = AppraisalGrade.UNQUALIFIED
        elif line.score is None:
            result[line.key] = None
        else:
            grade = grade_for(policy, line.score)
            result[line.key] = grade
            if grade is AppraisalGrade.EXCELLENT:
                eligible.setdefault(line.score, []).append(line.key)
    room = excellent_cap(policy, len(lines))
    for score in sorted(eligible, reverse=True):
        group = eligible[score]
        if len(group) <= room:
            room -= len(group)
            continue
        room = 0  # this tie does not fit: neither it nor any lower score is 优秀
        for key in group:
            result[key] = AppraisalGrade.QUALIFIED
    return result


class Problem(StrEnum):
    """Why a sheet cannot be submitted."""

    INCOMPLETE = "incomplete"  # an input is missing, so there is no score
    UNGRADED = "ungraded"  # no grade decided
    VETO_FORCES = "veto_forces"  # a veto, yet not 不合格
    NEEDS_REASON = "needs_reason"  # departs from the suggestion without a reason
    TOO_MANY_EXCELLENT = "too_many_excellent"  # more 优秀 than the cap (the sheet's)


@dataclass(frozen=True)
class DecidedLine(Generic[K]):
    key: K
    score: Decimal | None
    suggested: AppraisalGrade | None
    grade: AppraisalGrade | None
    veto: bool = False
    departure_reason: str = ""

    @property
    def departs(self) -> bool:
        return self.grade is not None and self.grade != self.suggested


@dataclass(frozen=True)
class SheetCheck(Generic[K]):
    lines: dict[K, Problem]
    excellent: int
    cap: int

    @property
    def too_many_excellent(self) -> bool:
        return self.excellent > self.cap

    @property
    def ok(self) -> bool:
        return not self.lines and not self.too_many_excellent


def check_sheet(policy: AppraisalPolicy, lines: Sequence[DecidedLine[K]]) -> SheetCheck[K]:
    """The check before submission: every line scored and graded, a veto is 不合格, a
    departure from the suggestion has a reason, and 优秀 stays within the cap."""
    problems: dict[K, Problem] = {}
    for line in lines:
        if line.score is None and not line.veto:
            problems[line.key] = Problem.INCOMPLETE
        elif line.grade is None:
            problems[line.key] = Problem.UNGRADED
        elif line.veto and line.grade is not AppraisalGrade.UNQUALIFIED:
            problems[line.key] = Problem.VETO_FORCES
        elif line.departs and not line.departure_reason.strip():
            problems[line.key] = Problem.NEEDS_REASON
    excellent = sum(1 for line in lines if line.grade is AppraisalGrade.EXCELLENT)
    return SheetCheck(lines=problems, excellent=excellent, cap=excellent_cap(policy, len(lines)))
