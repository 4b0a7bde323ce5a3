"""`jifen results verify` on the demo town: every banding run, frozen appraisal and
published stars list matches its recomputation; a number changed behind the app's back
is named, whichever of the three it is in."""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from service.cli.app import main
from service.cli.common import CliContext
from service.kernel.config import Settings
from service.persistence.assessment import (
    Appraisal,
    AppraisalLine,
    AppraisalStatus,
    BandLine,
    BranchRating,
    RatingRound,
    RatingScore,
    RoundStatus,
)
from service.persistence.db import Database


def _verify(database: Database) -> Result:
    return CliRunner().invoke(
        main, ["results", "verify"], obj=CliContext(Settings(env="test"), database)
    )


def test_the_demo_towns_results_verify(demo_town: Database) -> None:
    done = _verify(demo_town)
    assert done.exit_code == 0, done.output
    assert (
        "OK: 1 banding runs, 2 frozen appraisals and 1 published rating rounds match" in done.output
    )


@pytest.mark.parametrize("what", ["band", "appraisal", "rating"])
def test_a_number_changed_behind_the_app_is_named(demo_town: Database, what: str) -> None:
    with demo_town.transaction() as session:
        if what == "band":
            line_id = session.scalars(select(BandLine.id).order_by(BandLine.id)).first()
            session.execute(update(BandLine).where(BandLine.id == line_id).values(score=99))
        elif what == "appraisal":
            line_id = session.scalars(
                select(AppraisalLine.id)
                .join(Appraisal, Appraisal.id == AppraisalLine.appraisal_id)
                .where(Appraisal.status == AppraisalStatus.APPROVED)
                .order_by(AppraisalLine.id)
            ).first()
            session.execute(
                update(AppraisalLine)
                .where(AppraisalLine.id == line_id)
                .values(score=Decimal("12.3"))
            )
        else:
            # An audited score of a published round: the stars list no longer follows.
            score_id = session.scalars(
                select(RatingScore.id)
                .join(BranchRating, BranchRating.id == RatingScore.rating_id)
                .join(RatingRound, RatingRound.id == BranchRating.round_id)
                .where(RatingRound.status == RoundStatus.PUBLISHED)
                .order_by(RatingScore.id)
            ).first()
            session.execute(
                update(RatingScore)
                .where(RatingScore.id == score_id)
                .values(self_score=Decimal(0), audited_score=Decimal(0))
            )
    done = _verify(demo_town)
    assert done.exit_code == 1, done.output
    assert "OK" not in done.output
    assert done.output.strip(), "the difference is named"
