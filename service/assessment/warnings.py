"""Warning cases (预警): the follow-up of a yellow band, private to the member, the
branch's secretary and instructor and the office (``service.assessment.access``).

The secretary records talks (谈心谈话: date, who talked, notes for the file, the agreed
actions, optionally a new deadline) and closes the case as improved or not improved;
the member reads their own case (the agreed actions and the deadline, never the notes)
and may write a response while it is open. A case is overdue when it is open and its
deadline (限期改正: the latest talk's new deadline, else the case's) is before today in
the town's time. Every change goes through the ORM, so the audit log records it
(``service.audit.capture``: the private texts are logged as "set"/"changed" only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.access import (
    NOT_FOUND,
    is_secretary_of,
    may_see_private,
    overseen_branch_ids,
    require_private,
)
from service.assessment.notices import warning_talk
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.fields import date_field, required_text
from service.kernel.i18n import N_, Message
from service.persistence.assessment import BandLine, BandRun, CaseStatus, WarningCase, WarningTalk
from service.persistence.models import Branch, Member
from service.persistence.pagination import PAGE_SIZE, Page, fetch_page

TALKED_BY_MAX = 120
NOTES_MAX = 4000
ACTIONS_MAX = 2000
OUTCOME_MAX = 2000
RESPONSE_MAX = 2000


class CaseFilter(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    CLOSED = "closed"
    ALL = "all"


def parse_filter(text: str | None) -> CaseFilter:
    try:
        return CaseFilter(text or CaseFilter.OPEN.value)
    except ValueError:
        return CaseFilter.OPEN


@dataclass(frozen=True)
class CaseRow:
    id: int
    member_code: str
    member_name: str
    branch_name: str
    period: str
    score: Decimal
    deadline: date
    status: CaseStatus
    overdue: bool


def _rows_query() -> Select[WarningCase, str, str, str, str, Decimal]:
    return (
        select(WarningCase, Member.code, Member.name, Branch.name, BandRun.period, BandLine.score)
        .join(Member, Member.id == WarningCase.member_id)
        .join(Branch, Branch.id == WarningCase.branch_id)
        .join(BandLine, BandLine.id == WarningCase.band_line_id)
        .join(BandRun, BandRun.id == BandLine.run_id)
    )


def _row(found: Any, today: date) -> CaseRow:
    case, code, name, branch, period, score = found
    return CaseRow(
        id=case.id,
        member_code=code,
        member_name=name,
        branch_name=branch,
        period=period,
        score=score,
        deadline=case.deadline,
        status=case.status,
        overdue=case.status is CaseStatus.OPEN and case.deadline < today,
    )


def _scoped(statement: Any, actor: Principal) -> Any:
    scope = overseen_branch_ids(actor)
    if scope is None:
        return statement
    own = WarningCase.member_id == actor.member_id if actor.member_id is not None else None
    if scope and own is not None:
        return statement.where(WarningCase.branch_id.in_(sorted(scope)) | own)
    if scope:
        return statement.where(WarningCase.branch_id.in_(sorted(scope)))
    if own is not None:
        return statement.where(own)
    return statement.where(WarningCase.id.is_(None))


def list_cases(
    session: Session,
    actor: Principal,
    *,
    today: date,
    which: CaseFilter = CaseFilter.OPEN,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page[CaseRow]:
    """The cases the actor may see (the office all, a reviewer their branches', a member
    their own), filtered, overdue first then by deadline, paged."""
    statement = _scoped(_rows_query(), actor)
    if which is CaseFilter.OPEN:
        statement = statement.where(WarningCase.status == CaseStatus.OPEN)
    elif which is CaseFilter.OVERDUE:
        statement = statement.where(
            WarningCase.status == CaseStatus.OPEN, WarningCase.deadline < today
        )
    elif which is CaseFilter.CLOSED:
        statement = statement.where(WarningCase.status != CaseStatus.OPEN)
    statement = statement.order_by(WarningCase.deadline, Member.code, WarningCase.id)
    rows, total, page, pages = fetch_page(session, statement, page=page, size=size)
    return Page(
        items=[_row(row, today) for row in rows],
        total=total,
        page=page,
        pages=pages,
        size=size,
    )


def overdue_cases(
    session: Session, actor: Principal, *, today: date, limit: int = 5
) -> tuple[int, list[CaseRow]]:
    """(how many, the first few) open cases past their deadline in the branches the actor
    reviews (home pages); (0, []) for someone who reviews none."""
    if not actor.is_reviewer:
        return 0, []
    scope = overseen_branch_ids(actor)
    statement = _rows_query().where(
        WarningCase.status == CaseStatus.OPEN, WarningCase.deadline < today
    )
    if scope is not None:
        statement = statement.where(WarningCase.branch_id.in_(sorted(scope)))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.execute(statement.order_by(WarningCase.deadline, WarningCase.id).limit(limit))
    return total, [_row(row, today) for row in rows]


def overdue_by_branch(
    session: Session, branch_ids: list[int], *, today: date, limit: int = 3
) -> dict[int, tuple[int, list[CaseRow]]]:
    """Per branch: (how many, the first few) open cases past their deadline. For the home
    page of someone who reviews these branches (the caller checks that)."""
    found: dict[int, tuple[int, list[CaseRow]]] = {}
    if not branch_ids:
        return found
    rows = session.execute(
        _rows_query()
        .where(
            WarningCase.branch_id.in_(sorted(branch_ids)),
            WarningCase.status == CaseStatus.OPEN,
            WarningCase.deadline < today,
        )
        .order_by(WarningCase.branch_id, WarningCase.deadline, WarningCase.id)
    )
    for row in rows:
        count, listed = found.get(row[0].branch_id, (0, []))
        if len(listed) < limit:
            listed.append(_row(row, today))
        found[row[0].branch_id] = (count + 1, listed)
    return found


def own_open_case(session: Session, actor: Principal) -> int | None:
    """The id of the member's own open case, if any (their home page links to it)."""
    if actor.member_id is None:
        return None
    return session.scalar(
        select(WarningCase.id)
        .where(WarningCase.member_id == actor.member_id, WarningCase.status == CaseStatus.OPEN)
        .order_by(WarningCase.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class TalkView:
    talked_on: date
    talked_by: str
    notes: str | None  # None for the member: the notes are for the file
    actions: str
    deadline: date | None


@dataclass(frozen=True)
class CaseView:
    row: CaseRow
    reason: str
    streak: int
    opened_at: datetime
    outcome_note: str
    closed_at: datetime | None
    response: str
    responded_at: datetime | None
    talks: list[TalkView]
    is_member: bool  # the actor is the member the case is about
    may_act: bool  # may record talks and close
    oversees: bool  # sees the notes

    @property
    def is_open(self) -> bool:
        return self.row.status is CaseStatus.OPEN


def _case(session: Session, actor: Principal, case_id: int, *, lock: bool = False) -> WarningCase:
    query = select(WarningCase).where(WarningCase.id == case_id)
    if lock:
        query = query.with_for_update()
    case = session.scalar(query)
    if case is None:
        raise NotFound(Message(NOT_FOUND))
    require_private(actor, member_id=case.member_id, branch_id=case.branch_id)
    return case


def may_act(actor: Principal, case: WarningCase) -> bool:
    """The branch's secretary (not on their own case) or the office."""
    if actor.is_admin:
        return True
    return is_secretary_of(actor, case.branch_id) and actor.member_id != case.member_id


def case_view(session: Session, actor: Principal, case_id: int, *, today: date) -> CaseView:
    case = _case(session, actor, case_id)
    row = session.execute(_rows_query().where(WarningCase.id == case.id)).one()
    line = session.get(BandLine, case.band_line_id)
    assert line is not None
    is_member = actor.member_id == case.member_id
    # The notes are for the file: the reviewers see them, the member (even a secretary
    # whose own case it is) does not.
    sees_notes = actor.is_admin or (
        may_see_private(actor, member_id=None, branch_id=case.branch_id) and not is_member
    )
    talks = [
        TalkView(
            talked_on=talk.talked_on,
            talked_by=talk.talked_by,
            notes=talk.notes if sees_notes else None,
            actions=talk.actions,
            deadline=talk.deadline,
        )
        for talk in session.scalars(
            select(WarningTalk)
            .where(WarningTalk.case_id == case.id)
            .order_by(WarningTalk.talked_on, WarningTalk.id)
        )
    ]
    return CaseView(
        row=_row(row, today),
        reason=line.reason,
        streak=line.streak,
        opened_at=case.opened_at,
        outcome_note=case.outcome_note,
        closed_at=case.closed_at,
        response=case.member_response,
        responded_at=case.responded_at,
        talks=talks,
        is_member=is_member,
        may_act=may_act(actor, case),
        oversees=sees_notes,
    )


def _acting_case(session: Session, actor: Principal, case_id: int) -> WarningCase:
    case = _case(session, actor, case_id, lock=True)
    if not may_act(actor, case):
        raise PermissionDenied(
            Message(N_("Only this branch's secretary or the organisation office does this."))
        )
    if case.status is not CaseStatus.OPEN:
        raise Conflict(Message(N_("This case is closed.")))
    return case


def _optional_text(value: str, limit: int, errors: dict[str, Message], name: str) -> str:
    value = value.strip()
    if len(value) > limit:
        errors[name] = Message(N_("This text is too long."))
    return value


def record_talk(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    talked_on: str,
    talked_by: str,
    notes: str,
    actions: str,
    deadline: str,
    today: date,
    now: datetime | None = None,
) -> WarningTalk:
    """Record a talk on an open case (the branch's secretary or the office). A new
    deadline, when given, becomes the case's. The member is told (``now``: when; none:
    the clock's time), without the talk's notes."""
    case = _acting_case(session, actor, case_id)
    errors: dict[str, Message] = {}
    day = date_field(talked_on, errors, "talked_on")
    if day is None and "talked_on" not in errors:
        errors["talked_on"] = Message(N_("This field is required."))
    elif day is not None and day > today:
        errors["talked_on"] = Message(N_("A talk cannot be dated in the future."))
    who = required_text(talked_by, TALKED_BY_MAX, errors, "talked_by")
    note_text = _optional_text(notes, NOTES_MAX, errors, "notes")
    agreed = required_text(actions, ACTIONS_MAX, errors, "actions")
    new_deadline = date_field(deadline, errors, "deadline")
    if new_deadline is not None and day is not None and new_deadline < day:
        errors["deadline"] = Message(N_("The new deadline cannot be before the talk."))
    if errors:
        raise InvalidInput(errors)
    assert day is not None
    talk = WarningTalk(
        case_id=case.id,
        talked_on=day,
        talked_by=who,
        notes=note_text,
        actions=agreed,
        deadline=new_deadline,
        recorded_by_id=actor.account_id,
    )
    session.add(talk)
    if new_deadline is not None:
        case.deadline = new_deadline
    session.flush()
    warning_talk(session, case, day, now=now)
    return talk


def close_case(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    outcome: str,
    note: str,
    now: datetime,
) -> WarningCase:
    """Close an open case as improved or not improved, with an outcome note."""
    case = _acting_case(session, actor, case_id)
    errors: dict[str, Message] = {}
    try:
        status = CaseStatus(outcome)
    except ValueError:
        status = CaseStatus.OPEN
    if status is CaseStatus.OPEN:
        errors["outcome"] = Message(N_("Choose improved or not improved."))
    text = required_text(note, OUTCOME_MAX, errors, "outcome_note")
    if errors:
        raise InvalidInput(errors)
    if not session.scalar(select(func.count()).where(WarningTalk.case_id == case.id)):
        raise Conflict(Message(N_("Record the talk before closing the case.")))
    case.status = status
    case.outcome_note = text
    case.closed_at = now
    case.closed_by_id = actor.account_id
    session.flush()
    return case


def respond(
    session: Session, actor: Principal, case_id: int, *, text: str, now: datetime
) -> WarningCase:
    """The member's written response to their own open case (replaces the previous)."""
    case = _case(session, actor, case_id, lock=True)
    if actor.member_id != case.member_id:
        raise PermissionDenied(Message(N_("Only the member the case is about responds.")))
    if case.status is not CaseStatus.OPEN:
        raise Conflict(Message(N_("This case is closed.")))
    errors: dict[str, Message] = {}
    value = required_text(text, RESPONSE_MAX, errors, "response")
    if errors:
        raise InvalidInput(errors)
    case.member_response = value
    case.responded_at = now
    session.flush()
    return case


def case_count(session: Session) -> int:
    """Every case (open or closed), for the demo's summary."""
    return session.scalar(select(func.count()).select_from(WarningCase)) or 0
