"""The annual appraisal (民主评议党员) of one branch and year: opened by the secretary (or
the office) from December of the year on, filled (the appraisal inputs, a veto with its
reason, the decided grade and why it departs from the suggestion), submitted by the
secretary, approved by the branch's instructor or the office (then frozen, with a
digest) or returned with a reason.

The sheet computes and suggests (``service.scoring.appraisal``); people decide. What a
line holds beyond the member's name, points and stars is private: only the branch's
reviewers and the office see a sheet (``service.assessment.access``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.access import (
    NOT_FOUND,
    is_approver_of,
    is_secretary_of,
    oversees,
    require_approver,
    require_secretary,
)
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.kernel.periods import is_year, town_today
from service.meetings.schedule import branch_members_on
from service.persistence.assessment import Appraisal, AppraisalLine, AppraisalStatus, Grade
from service.persistence.models import Account, Branch, Member, PointsTotal
from service.scoring.appraisal import (
    AppraisalGrade,
    DecidedLine,
    Problem,
    ScoredLine,
    appraisal_score,
    check_sheet,
    excellent_cap,
    suggest,
)
from service.scoring.engine import year_score
from service.scoring.policies import AppraisalPolicy, InputKind
from service.scoring.rules import Rulebook, Ruleset

REASON_MAX = 500

NO_POLICY = N_("The rules in force at the end of %(year)s hold no appraisal.")
TOO_EARLY = N_("The appraisal of %(year)s opens on 1 December %(year)s.")
BEFORE_RULES = N_("%(year)s is before the first rules: there is nothing to appraise.")
ALREADY_OPEN = N_("This branch's appraisal of %(year)s is already open.")
NOT_OPEN = N_("This sheet is no longer open: it was submitted or approved.")
NOT_SUBMITTED = N_("This sheet is not waiting for approval.")
NUMBER_RANGE = N_("Enter a number from 0 to %(max)s, with at most one decimal place.")
GRADE_CHOICE = N_("Choose one of the four grades.")
VETO_REASON = N_("Say why the veto applies.")
TOO_LONG = N_("At most 500 characters.")
RETURN_REASON = N_("Say what the branch should change.")
PROBLEMS = {
    Problem.INCOMPLETE: N_("Fill every appraisal input (or record a veto)."),
    Problem.UNGRADED: N_("Choose the decided grade."),
    Problem.VETO_FORCES: N_("A veto makes the member unqualified: no other grade is possible."),
    Problem.NEEDS_REASON: N_("The grade departs from the suggestion: give the reason."),
}
TOO_MANY_EXCELLENT = N_(
    "%(count)s members are graded excellent; at most %(cap)s of this sheet's %(members)s may be."
)


def appraisal_rules(rulebook: Rulebook, year: int) -> tuple[Ruleset, AppraisalPolicy]:
    """The ruleset in force on the year's last day and its ``[appraisal]`` table."""
    ruleset = rulebook.in_force(date(year, 12, 31)) if is_year(year) else None
    if ruleset is None or ruleset.appraisal is None:
        raise InvalidInput({"year": Message(NO_POLICY, {"year": year})})
    return ruleset, ruleset.appraisal


def first_year(rulebook: Rulebook) -> int:
    return rulebook.rulesets[0].effective_from.year


def today_of(rulebook: Rulebook, now: datetime) -> date:
    return town_today(now, rulebook.latest.timezone)


def appraisal_years(rulebook: Rulebook, now: datetime) -> list[int]:
    """The years whose appraisal may be held by now, the latest first."""
    today = today_of(rulebook, now)
    last = today.year if today.month == 12 else today.year - 1
    return [year for year in range(last, first_year(rulebook) - 1, -1)]


# --- reading a sheet ---------------------------------------------------------------------


@dataclass(frozen=True)
class SheetLine:
    id: int
    member_id: int
    code: str
    name: str
    points: Decimal
    stars: int
    inputs: dict[str, str]
    veto: bool
    veto_reason: str
    score: Decimal | None
    suggested: Grade | None
    grade: Grade | None
    departure_reason: str

    @property
    def departs(self) -> bool:
        return self.grade is not None and self.grade != self.suggested


@dataclass(frozen=True)
class Sheet:
    id: int
    branch_id: int
    branch_name: str
    branch_code: str
    year: int
    ruleset_version: str
    policy: AppraisalPolicy
    status: AppraisalStatus
    lines: list[SheetLine]
    returned_reason: str
    opened_by: str
    submitted_by: str
    submitted_at: datetime | None
    approved_by: str
    approved_at: datetime | None
    digest: str
    can_edit: bool
    can_approve: bool
    cap: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def departures(self) -> int:
        return sum(1 for line in self.lines if line.departs)


def stored_inputs(line: AppraisalLine) -> dict[str, str]:
    loaded = json.loads(line.inputs or "{}")
    return {str(key): str(value) for key, value in loaded.items()}


def _account_name(session: Session, account_id: int | None) -> str:
    if account_id is None:
        return ""
    account = session.get(Account, account_id)
    return account.display_name if account else ""


def visible_appraisal(session: Session, actor: Principal, appraisal_id: int) -> Appraisal:
    """The appraisal, to its branch's secretaries and instructors and the office; to
    anyone else (a member of the branch too) it does not exist."""
    appraisal = session.get(Appraisal, appraisal_id)
    if appraisal is None or not oversees(actor, appraisal.branch_id):
        raise NotFound(Message(NOT_FOUND))
    return appraisal


def _lines(session: Session, appraisal_id: int) -> list[tuple[AppraisalLine, Member]]:
    rows = session.execute(
        select(AppraisalLine, Member)
        .join(Member, Member.id == AppraisalLine.member_id)
        .where(AppraisalLine.appraisal_id == appraisal_id)
        .order_by(Member.code, Member.id)
    )
    return [(row[0], row[1]) for row in rows]


def appraisal_sheet(
    session: Session, actor: Principal, rulebook: Rulebook, appraisal_id: int
) -> Sheet:
    appraisal = visible_appraisal(session, actor, appraisal_id)
    ruleset = rulebook.version(appraisal.ruleset_version)
    if ruleset is None or ruleset.appraisal is None:
        raise Conflict(Message(NO_POLICY, {"year": appraisal.year}))
    branch = session.get(Branch, appraisal.branch_id)
    lines = [
        SheetLine(
            id=line.id,
            member_id=member.id,
            code=member.code,
            name=member.name,
            points=line.points,
            stars=line.stars,
            inputs=stored_inputs(line),
            veto=line.veto,
            veto_reason=line.veto_reason,
            score=line.score,
            suggested=line.suggested,
            grade=line.grade,
            departure_reason=line.departure_reason,
        )
        for line, member in _lines(session, appraisal.id)
    ]
    counts = {grade.value: sum(1 for line in lines if line.grade == grade) for grade in Grade}
    return Sheet(
        id=appraisal.id,
        branch_id=appraisal.branch_id,
        branch_name=branch.name if branch else "",
        branch_code=branch.code if branch else "",
        year=appraisal.year,
        ruleset_version=appraisal.ruleset_version,
        policy=ruleset.appraisal,
        status=appraisal.status,
        lines=lines,
        returned_reason=appraisal.returned_reason,
        opened_by=_account_name(session, appraisal.opened_by_id),
        submitted_by=_account_name(session, appraisal.submitted_by_id),
        submitted_at=appraisal.submitted_at,
        approved_by=_account_name(session, appraisal.approved_by_id),
        approved_at=appraisal.approved_at,
        digest=appraisal.digest,
        can_edit=appraisal.status is AppraisalStatus.OPEN
        and is_secretary_of(actor, appraisal.branch_id),
        can_approve=appraisal.status is AppraisalStatus.SUBMITTED
        and is_approver_of(actor, appraisal.branch_id),
        cap=excellent_cap(ruleset.appraisal, len(lines)),
        counts=counts,
    )


# --- computing ---------------------------------------------------------------------------


def _as_grade(value: AppraisalGrade | None) -> Grade | None:
    return None if value is None else Grade(value.value)


def recompute(policy: AppraisalPolicy, lines: Sequence[AppraisalLine]) -> None:
    """Every line's score from its points and inputs, then the sheet's suggestions."""
    for line in lines:
        line.score = appraisal_score(policy, line.points, stored_inputs(line))
    suggested = suggest(
        policy, [ScoredLine(key=line.id, score=line.score, veto=line.veto) for line in lines]
    )
    for line in lines:
        line.suggested = _as_grade(suggested[line.id])


def _year_points(
    session: Session, rulebook: Rulebook, year: int, member_ids: Sequence[int], today: date
) -> dict[int, tuple[Decimal, int]]:
    """Each member's year score (base plus the year's points, as the yearly board shows
    it) and stars."""
    points = dict(
        session.execute(
            select(PointsTotal.member_id, PointsTotal.points).where(
                PointsTotal.period == str(year), PointsTotal.member_id.in_(list(member_ids))
            )
        ).all()
    )
    result: dict[int, tuple[Decimal, int]] = {}
    for member_id in member_ids:
        score = year_score(year, points.get(member_id, Decimal(0)), rulebook, as_of=today)
        result[member_id] = (score.total, score.stars)
    return result


def sheet_digest(appraisal: Appraisal, lines: Sequence[AppraisalLine]) -> str:
    """SHA-256 of the frozen sheet's canonical JSON: the branch, year and rules, and every
    line (by member) with its points, inputs, veto, score, suggestion, grade and reasons."""
    content = {
        "branch_id": appraisal.branch_id,
        "year": appraisal.year,
        "ruleset_version": appraisal.ruleset_version,
        "lines": [
            {
                "member_id": line.member_id,
                "points": str(line.points),
                "stars": line.stars,
                "inputs": stored_inputs(line),
                "veto": line.veto,
                "veto_reason": line.veto_reason,
                "score": None if line.score is None else str(line.score),
                "suggested": None if line.suggested is None else line.suggested.value,
                "grade": None if line.grade is None else line.grade.value,
                "departure_reason": line.departure_reason,
            }
            for line in sorted(lines, key=lambda item: item.member_id)
        ],
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- opening and filling -----------------------------------------------------------------


def open_appraisal(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    *,
    branch_id: int,
    year: int,
    now: datetime,
) -> int:
    """Open the branch's sheet for ``year``: a line per member of the branch on the
    year's last day (or today, if earlier) who is not exempt, with the year's points."""
    require_secretary(actor, branch_id)
    if session.get(Branch, branch_id) is None:
        raise NotFound(Message(NOT_FOUND))
    today = today_of(rulebook, now)
    if not is_year(year) or year < first_year(rulebook):
        raise InvalidInput({"year": Message(BEFORE_RULES, {"year": year})})
    if today < date(year, 12, 1):
        raise InvalidInput({"year": Message(TOO_EARLY, {"year": year})})
    ruleset, policy = appraisal_rules(rulebook, year)
    existing = session.scalar(
        select(Appraisal.id).where(Appraisal.branch_id == branch_id, Appraisal.year == year)
    )
    if existing is not None:
        raise Conflict(Message(ALREADY_OPEN, {"year": year}))
    appraisal = Appraisal(
        branch_id=branch_id,
        year=year,
        ruleset_version=ruleset.version,
        status=AppraisalStatus.OPEN,
        opened_by_id=actor.account_id,
        opened_at=now,
    )
    session.add(appraisal)
    session.flush()
    day = min(date(year, 12, 31), today)
    members = branch_members_on(session, branch_id, day)
    scores = _year_points(session, rulebook, year, members, today)
    lines = [
        AppraisalLine(
            appraisal_id=appraisal.id,
            member_id=member_id,
            points=scores[member_id][0],
            stars=scores[member_id][1],
            inputs="{}",
        )
        for member_id in members
    ]
    session.add_all(lines)
    session.flush()
    recompute(policy, lines)
    session.flush()
    return appraisal.id


def _open_for_secretary(
    session: Session, actor: Principal, rulebook: Rulebook, appraisal_id: int
) -> tuple[Appraisal, AppraisalPolicy, list[AppraisalLine]]:
    appraisal = visible_appraisal(session, actor, appraisal_id)
    require_secretary(actor, appraisal.branch_id)
    if appraisal.status is not AppraisalStatus.OPEN:
        raise Conflict(Message(NOT_OPEN))
    ruleset = rulebook.version(appraisal.ruleset_version)
    if ruleset is None or ruleset.appraisal is None:
        raise Conflict(Message(NO_POLICY, {"year": appraisal.year}))
    lines = [line for line, _member in _lines(session, appraisal.id)]
    return appraisal, ruleset.appraisal, lines


def refresh_points(
    session: Session, actor: Principal, rulebook: Rulebook, appraisal_id: int, *, now: datetime
) -> None:
    """Take the year's points and stars again (while the sheet is open)."""
    appraisal, policy, lines = _open_for_secretary(session, actor, rulebook, appraisal_id)
    today = today_of(rulebook, now)
    scores = _year_points(session, rulebook, appraisal.year, [x.member_id for x in lines], today)
    for line in lines:
        line.points, line.stars = scores[line.member_id]
    recompute(policy, lines)
    session.flush()


@dataclass(frozen=True)
class LineInput:
    """What the sheet's form sends for one line (every value as typed)."""

    inputs: dict[str, str] = field(default_factory=dict)
    veto: bool = False
    veto_reason: str = ""
    grade: str = ""
    departure_reason: str = ""


def _parse_value(policy: AppraisalPolicy, input_id: str, text: str) -> str | Message | None:
    """The value to store (None: left empty), or what is wrong with it."""
    item = policy.input(input_id)
    text = text.strip()
    if item is None or not text:
        return None
    if item.kind is InputKind.GRADE:
        return text if text in {grade.value for grade in Grade} else Message(GRADE_CHOICE)
    problem = Message(NUMBER_RANGE, {"max": item.max})
    try:
        number = Decimal(text)
    except InvalidOperation:
        return problem
    if not number.is_finite() or number < 0 or number > item.max:
        return problem
    if number != number.quantize(Decimal("0.1")):
        return problem
    # "80", never normalize()'s "8E+1"; "85.5" stays as typed.
    return str(number.quantize(Decimal(1)) if number == number.to_integral() else number)


def _check_text(errors: dict[str, Message], key: str, text: str) -> str:
    text = text.strip()
    if len(text) > REASON_MAX:
        errors[key] = Message(TOO_LONG)
    return text


def save_sheet(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    appraisal_id: int,
    values: Mapping[int, LineInput],
) -> None:
    """Store the whole sheet as typed, or nothing: InvalidInput names each field that is
    wrong, keyed ``"{line id}.{field}"`` (an input's field is its id)."""
    _appraisal, policy, lines = _open_for_secretary(session, actor, rulebook, appraisal_id)
    errors: dict[str, Message] = {}
    parsed: dict[int, tuple[dict[str, str], bool, str, Grade | None, str]] = {}
    for line in lines:
        given = values.get(line.id)
        if given is None:
            continue
        inputs: dict[str, str] = {}
        for item in policy.inputs:
            value = _parse_value(policy, item.id, given.inputs.get(item.id, ""))
            if isinstance(value, Message):
                errors[f"{line.id}.{item.id}"] = value
            elif value is not None:
                inputs[item.id] = value
        veto_reason = _check_text(errors, f"{line.id}.veto_reason", given.veto_reason)
        if given.veto and not veto_reason:
            errors[f"{line.id}.veto_reason"] = Message(VETO_REASON)
        grade: Grade | None = None
        if given.grade.strip():
            try:
                grade = Grade(given.grade.strip())
            except ValueError:
                errors[f"{line.id}.grade"] = Message(GRADE_CHOICE)
        reason = _check_text(errors, f"{line.id}.departure_reason", given.departure_reason)
        parsed[line.id] = (inputs, given.veto, veto_reason if given.veto else "", grade, reason)
    if errors:
        raise InvalidInput(errors)
    for line in lines:
        if line.id not in parsed:
            continue
        inputs, veto, veto_reason, grade, reason = parsed[line.id]
        line.inputs = json.dumps(inputs, sort_keys=True, ensure_ascii=False)
        line.veto = veto
        line.veto_reason = veto_reason
        line.grade = grade
        line.departure_reason = reason
    recompute(policy, lines)
    session.flush()


# --- submitting, approving, returning ----------------------------------------------------


def submit_appraisal(
    session: Session, actor: Principal, rulebook: Rulebook, appraisal_id: int, *, now: datetime
) -> None:
    """Submit for approval once every line is decided: InvalidInput names each line's
    problem (``"{line id}.{field}"``) and the 优秀 cap (``"sheet"``)."""
    appraisal, policy, lines = _open_for_secretary(session, actor, rulebook, appraisal_id)
    recompute(policy, lines)
    check = check_sheet(
        policy,
        [
            DecidedLine(
                key=line.id,
                score=line.score,
                suggested=None if line.suggested is None else AppraisalGrade(line.suggested),
                grade=None if line.grade is None else AppraisalGrade(line.grade),
                veto=line.veto,
                departure_reason=line.departure_reason,
            )
            for line in lines
        ],
    )
    if not check.ok:
        fields = {
            Problem.INCOMPLETE: "inputs",
            Problem.UNGRADED: "grade",
            Problem.VETO_FORCES: "grade",
            Problem.NEEDS_REASON: "departure_reason",
        }
        errors = {
            f"{line_id}.{fields[problem]}": Message(PROBLEMS[problem])
            for line_id, problem in check.lines.items()
        }
        if check.too_many_excellent:
            errors["sheet"] = Message(
                TOO_MANY_EXCELLENT,
                {"count": check.excellent, "cap": check.cap, "members": len(lines)},
            )
        session.flush()
        raise InvalidInput(errors)
    appraisal.status = AppraisalStatus.SUBMITTED
    appraisal.submitted_by_id = actor.account_id
    appraisal.submitted_at = now
    session.flush()


def _submitted_for_approver(session: Session, actor: Principal, appraisal_id: int) -> Appraisal:
    appraisal = visible_appraisal(session, actor, appraisal_id)
    require_approver(actor, appraisal.branch_id)
    if appraisal.status is not AppraisalStatus.SUBMITTED:
        raise Conflict(Message(NOT_SUBMITTED))
    return appraisal


def approve_appraisal(
    session: Session, actor: Principal, appraisal_id: int, *, now: datetime
) -> None:
    """Approve: the sheet is frozen and its digest taken."""
    appraisal = _submitted_for_approver(session, actor, appraisal_id)
    appraisal.status = AppraisalStatus.APPROVED
    appraisal.approved_by_id = actor.account_id
    appraisal.approved_at = now
    appraisal.returned_reason = ""
    appraisal.digest = sheet_digest(appraisal, [line for line, _m in _lines(session, appraisal.id)])
    session.flush()


def return_appraisal(session: Session, actor: Principal, appraisal_id: int, reason: str) -> None:
    """Send the sheet back to the branch with what to change (it opens again)."""
    appraisal = _submitted_for_approver(session, actor, appraisal_id)
    reason = reason.strip()
    if not reason:
        raise InvalidInput({"reason": Message(RETURN_REASON)})
    if len(reason) > REASON_MAX:
        raise InvalidInput({"reason": Message(TOO_LONG)})
    appraisal.status = AppraisalStatus.OPEN
    appraisal.returned_reason = reason
    appraisal.submitted_at = None
    appraisal.submitted_by_id = None
    session.flush()
