"""Telling a member about their warning case, in the transaction that opens it or
records a talk: private (the member alone; their reviewers and the office see the case
on its page) and mandatory (it cannot be turned off). The talk's notes, the agreed
actions and who talked are never in a notification: the words give the dates only.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from service.outbox.emit import emit, member_accounts
from service.persistence.assessment import WarningCase


def case_link(case_id: int) -> str:
    return f"/warnings/{case_id}"


def warning_opened(session: Session, case: WarningCase, period: str, *, now: datetime) -> None:
    emit(
        session,
        "warning_opened",
        params={"period": period, "deadline": case.deadline.isoformat()},
        link=case_link(case.id),
        accounts=member_accounts(session, [case.member_id]),
        branch_id=case.branch_id,
        now=now,
    )


def warning_talk(
    session: Session, case: WarningCase, talked_on: date, *, now: datetime | None
) -> None:
    emit(
        session,
        "warning_talk",
        params={"date": talked_on.isoformat(), "deadline": case.deadline.isoformat()},
        link=case_link(case.id),
        accounts=member_accounts(session, [case.member_id]),
        branch_id=case.branch_id,
        now=now,
    )
