"""Warning cases for the permission, CSRF, XSS and object-access suites: the quarter
before this one banded under the shipped rules with a yellow line at 3 points (in the
small town nobody has points then, so every banded member is yellow and has a case),
and a talk on 李娜's case so it can be closed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from service.assessment.bands import run_banding
from service.assessment.warnings import record_talk
from service.boards.board import SpanKind, board_period
from service.kernel.periods import period_of, town_today
from service.persistence.assessment import WarningCase, WarningTalk
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.policies import BandPolicy
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

# Yellow below 3 points, no red list: every member of the small town is yellow.
WORLD_POLICY = BandPolicy(yellow_below=Decimal(3), deadline_days=30)


def world_rulebook(rulebook: Rulebook) -> Rulebook:
    """The shipped rules with ``WORLD_POLICY`` as their bands."""
    return Rulebook.of([r.model_copy(update={"bands": WORLD_POLICY}) for r in rulebook.rulesets])


def add_warning_cases(
    database: Database, town: SmallTown, rulebook: Rulebook, *, talk_notes: str = "家访一次"
) -> dict[str, Any]:
    today = town_today(utcnow(), "Asia/Shanghai")
    quarter = board_period(period_of(today), SpanKind.QUARTER).shift(-1)
    with database.transaction() as session:
        run_banding(
            session, town.principal(database, "admin"), world_rulebook(rulebook), quarter.key,
            utcnow(),
        )  # fmt: skip
    with database.transaction() as session:
        cases = {
            member_id: case_id
            for case_id, member_id in session.execute(select(WarningCase.id, WarningCase.member_id))
        }
    ids: dict[str, Any] = {"band_period": quarter.key, "free_period": quarter.shift(-1).key}
    for person in ("member", "member2", "secretary", "member3", "secretary2"):
        ids[f"case_{person}"] = cases[town.member_ids[person]]
    with database.transaction() as session:
        record_talk(
            session,
            town.principal(database, "secretary"),
            ids["case_member2"],
            talked_on=today.isoformat(),
            talked_by="王书记",
            notes=talk_notes,
            actions="每月参加一次志愿服务",
            deadline="",
            today=today,
        )
    return ids


def talk_on_every_case(database: Database, town: SmallTown) -> None:
    """A talk on each case that has none, so that each can be closed."""
    today = town_today(utcnow(), "Asia/Shanghai")
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        talked = set(session.scalars(select(WarningTalk.case_id)))
        for case_id in session.scalars(select(WarningCase.id).order_by(WarningCase.id)):
            if case_id in talked:
                continue
            record_talk(
                session, admin, case_id, talked_on=today.isoformat(), talked_by="组织办",
                notes="", actions="按时参加组织生活", deadline="", today=today,
            )  # fmt: skip
