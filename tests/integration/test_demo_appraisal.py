"""The demo town's 2025 appraisal: 金湾's and 宝元鞋厂's sheets approved through the
services (verify finds nothing to say), one departure with its reason, the 优秀 list
published in the chain, and 金湾's 2026 appraisal left to open."""

from __future__ import annotations

from sqlalchemy import select

from service.accounts.principal import load_principal
from service.assessment.appraisal import appraisal_sheet
from service.assessment.appraisal_lists import verify_appraisals
from service.persistence.assessment import Appraisal, AppraisalStatus, Grade
from service.persistence.db import Database
from service.persistence.models import Account, Branch, PublicationKind
from service.publication.chain import verify_chain
from service.publication.results import published_results, result_lines
from service.scoring.rules import Rulebook

BRANCHES = ("金湾工业园区联合党支部", "宝元鞋厂党支部")


def test_the_demo_holds_a_finished_2025_appraisal(demo_town: Database, rulebook: Rulebook) -> None:
    with demo_town.transaction(write=False) as session:
        admin_id = session.scalar(select(Account.id).where(Account.username == "admin"))
        assert admin_id is not None
        admin = load_principal(session, admin_id)
        assert admin is not None
        rows = session.execute(
            select(Branch.name, Appraisal.id, Appraisal.year, Appraisal.status)
            .join(Branch, Branch.id == Appraisal.branch_id)
            .order_by(Appraisal.id)
        ).all()
        assert [(name, year, status) for name, _id, year, status in rows] == [
            (name, 2025, AppraisalStatus.APPROVED) for name in BRANCHES
        ]
        sheets = [appraisal_sheet(session, admin, rulebook, row[1]) for row in rows]
        for sheet in sheets:
            assert sheet.ruleset_version == "2025.1"
            assert len(sheet.lines) >= 10
            assert all(line.grade is not None and line.score is not None for line in sheet.lines)
            assert 0 < sheet.counts["excellent"] <= sheet.cap
            assert not any(line.veto for line in sheet.lines)
        departures = [line for sheet in sheets for line in sheet.lines if line.departs]
        assert len(departures) == 1 and departures[0].grade is Grade.BASIC
        assert "主题党日" in departures[0].departure_reason
        assert verify_appraisals(session, rulebook) == []
        listed = published_results(session, PublicationKind.EXCELLENT, "2025")
        assert listed is not None
        lines = result_lines(session, listed.id)
        assert len(lines) == sum(sheet.counts["excellent"] for sheet in sheets)
        assert {line.branch_name for line in lines} == set(BRANCHES)
        assert verify_chain(session).ok
