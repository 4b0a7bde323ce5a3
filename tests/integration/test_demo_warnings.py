"""The demo town's red and yellow lists and warning cases: the ended quarter banded
through the services, a handful of open and closed cases, and 金湾's secretary with one
open, overdue case that has one talk (the one the browser journey closes)."""

from __future__ import annotations

from sqlalchemy import func, select

from service.accounts.principal import load_principal
from service.assessment.bands import verify_bands
from service.assessment.warnings import overdue_cases
from service.persistence.assessment import BandRun, CaseStatus, WarningCase, WarningTalk
from service.persistence.db import Database
from service.persistence.models import Account, Branch
from service.scoring.rules import Rulebook
from tests.conftest import DEMO_UNTIL


def test_the_demo_bands_its_ended_quarter_and_follows_up(
    demo_town: Database, rulebook: Rulebook
) -> None:
    with demo_town.transaction(write=False) as session:
        assert list(session.scalars(select(BandRun.period))) == ["2026-Q3"]
        statuses: dict[CaseStatus, int] = {
            row[0]: row[1]
            for row in session.execute(
                select(WarningCase.status, func.count()).group_by(WarningCase.status)
            )
        }
        # 25 on 7 December (September's points alone); 52 here, from August and September.
        assert 5 <= sum(statuses.values()) <= 60
        assert statuses.get(CaseStatus.OPEN) and statuses.get(CaseStatus.IMPROVED)
        assert verify_bands(session, rulebook) == []


def test_the_demo_secretary_has_one_open_overdue_case_with_one_talk(demo_town: Database) -> None:
    with demo_town.transaction(write=False) as session:
        jinwan = session.scalar(select(Branch.id).where(Branch.code == "B001"))
        open_cases = list(
            session.scalars(
                select(WarningCase).where(
                    WarningCase.branch_id == jinwan, WarningCase.status == CaseStatus.OPEN
                )
            )
        )
        assert len(open_cases) == 1
        case = open_cases[0]
        assert case.deadline < DEMO_UNTIL
        talks = session.scalar(select(func.count()).where(WarningTalk.case_id == case.id))
        assert talks == 1
        account_id = session.scalar(select(Account.id).where(Account.username == "secretary"))
        assert account_id is not None
        secretary = load_principal(session, account_id)
        assert secretary is not None
        count, rows = overdue_cases(session, secretary, today=DEMO_UNTIL)
        assert count >= 1 and case.id in {row.id for row in rows}
