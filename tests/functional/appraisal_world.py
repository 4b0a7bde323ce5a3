"""Appraisals for the page tests and the matrices: 金湾's 2025 sheet filled and submitted
(waiting for the instructor), 宝元's 2025 sheet open and empty."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from service.assessment.appraisal import LineInput, open_appraisal, save_sheet, submit_appraisal
from service.persistence.assessment import AppraisalLine
from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

# Any moment after 1 December 2025 opens the 2025 appraisal; a fixed one keeps it so.
OPENED = datetime(2025, 12, 20, 2, 0, tzinfo=UTC)

INPUTS = {
    "member": ("95", "96", "excellent", "excellent", ""),
    "member2": ("85", "80", "qualified", "basic", "全年三次无故缺席主题党日"),
    "secretary": ("88", "84", "qualified", "qualified", ""),
}


def line_ids(database: Database, town: SmallTown, appraisal_id: int) -> dict[str, int]:
    names = {member_id: name for name, member_id in town.member_ids.items()}
    with database.transaction(write=False) as session:
        rows = session.execute(
            select(AppraisalLine.member_id, AppraisalLine.id).where(
                AppraisalLine.appraisal_id == appraisal_id
            )
        )
        return {names[member_id]: line_id for member_id, line_id in rows}


def fill_jinwan(database: Database, town: SmallTown, rulebook: Rulebook, appraisal_id: int) -> None:
    lines = line_ids(database, town, appraisal_id)
    with database.transaction() as session:
        save_sheet(
            session,
            town.principal(database, "secretary"),
            rulebook,
            appraisal_id,
            {
                lines[name]: LineInput(
                    inputs={"self_review": s, "mutual_review": m, "branch_grade": g},
                    grade=decided,
                    departure_reason=reason,
                )
                for name, (s, m, g, decided, reason) in INPUTS.items()
            },
        )


def add_appraisals(database: Database, town: SmallTown, rulebook: Rulebook) -> dict[str, int]:
    with database.transaction() as session:
        jinwan = open_appraisal(
            session,
            town.principal(database, "secretary"),
            rulebook,
            branch_id=town.jinwan,
            year=2025,
            now=OPENED,
        )
        baoyuan = open_appraisal(
            session,
            town.principal(database, "secretary2"),
            rulebook,
            branch_id=town.baoyuan,
            year=2025,
            now=OPENED,
        )
    fill_jinwan(database, town, rulebook, jinwan)
    with database.transaction() as session:
        submit_appraisal(
            session, town.principal(database, "secretary"), rulebook, jinwan, now=OPENED
        )
    return {"appraisal_jinwan": jinwan, "appraisal_baoyuan": baoyuan}
