"""Branch ratings (星级支部) on the real database: the office opens a round, the computed
indicators match the branch board, the branch self-scores, the instructor audits, a veto
takes the stars, the office publishes through the chain, and ``verify_ratings``
catches a score changed behind the app's back."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from service.assessment.rating import open_round, publish_round, verify_ratings
from service.assessment.rating_sheet import (
    AuditScore,
    SelfScore,
    audit,
    rating_sheet,
    round_page,
    self_assess,
)
from service.boards.live import branch_board
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.periods import town_today
from service.persistence.assessment import (
    BranchRating,
    RatingRound,
    RatingScore,
    RatingStatus,
    RoundStatus,
)
from service.persistence.db import Database
from service.persistence.models import AuditEvent, PublicationKind
from service.persistence.types import utcnow
from service.publication.chain import verify_chain
from service.publication.results import published_results, result_lines
from service.scoring.policies import BranchRatingPolicy
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

TIMEZONE = "Asia/Shanghai"


def today() -> date:
    return town_today(utcnow(), TIMEZONE)


class Office:
    """Service calls for the small town's people on this year's round (opened as on
    1 December, the first day a year's round may open)."""

    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database, self.town, self.rulebook = database, town, rulebook
        self.year = today().year
        self.now = datetime.now().astimezone()

    @property
    def policy(self) -> BranchRatingPolicy:
        ruleset = self.rulebook.in_force(date(self.year, 12, 31))
        assert ruleset is not None and ruleset.branch_rating is not None
        return ruleset.branch_rating

    def open(self, period: str | None = None, *, who: str = "admin", on: date | None = None) -> int:
        with self.database.transaction() as session:
            return open_round(
                session,
                self.town.principal(self.database, who),
                self.rulebook,
                period or str(self.year),
                today=on or date(self.year, 12, 1),
                timezone=TIMEZONE,
                now=self.now,
            ).id

    def assess(
        self, round_id: int, branch: int, who: str, score: str = "90", *, submit: bool = True
    ) -> None:
        entries = {i.id: SelfScore(score, "支部按月开展三会一课") for i in self.policy.assessed()}
        with self.database.transaction() as session:
            self_assess(
                session, self.town.principal(self.database, who), self.rulebook, round_id,
                branch, entries, submit=submit, store=None, now=self.now,
            )  # fmt: skip

    def audit(
        self,
        round_id: int,
        branch: int,
        who: str = "admin",
        scores: dict[str, AuditScore] | None = None,
        vetoes: dict[str, str] | None = None,
    ) -> None:
        with self.database.transaction() as session:
            audit(
                session, self.town.principal(self.database, who), self.rulebook, round_id,
                branch, scores or {}, vetoes or {}, now=self.now,
            )  # fmt: skip

    def publish(self, round_id: int) -> None:
        with self.database.transaction() as session:
            publish_round(
                session,
                self.town.principal(self.database, "admin"),
                self.rulebook,
                round_id,
                now=self.now,
            )

    def rating(self, round_id: int, branch: int) -> BranchRating:
        with self.database.transaction(write=False) as session:
            found = session.scalar(
                select(BranchRating).where(
                    BranchRating.round_id == round_id, BranchRating.branch_id == branch
                )
            )
            assert found is not None
            return found


@pytest.fixture
def office(database: Database, town: SmallTown, rulebook: Rulebook) -> Office:
    return Office(database, town, rulebook)


def test_opening_a_round_takes_the_branch_boards_figures(
    database: Database, town: SmallTown, rulebook: Rulebook, office: Office
) -> None:
    member = town.principal(database, "member")
    with database.transaction() as session:
        entry_id = submit_entry(
            session, member, rulebook,
            EntryInput(rule_id="volunteer", activity_date=today(), quantity=Decimal(3),
                       description="在西山桥路口指挥交通"),
            today=today(), now=utcnow(),
        )  # fmt: skip
    with database.transaction() as session:
        approve_entry(
            session, town.principal(database, "secretary"), rulebook, entry_id, now=utcnow()
        )
    round_id = office.open()
    with database.transaction(write=False) as session:
        board = {
            line.item.branch_id: line.item
            for line in branch_board(session, str(office.year)).by_total
        }
        sheet = rating_sheet(
            session, town.principal(database, "admin"), rulebook, round_id, town.jinwan
        )
        other = rating_sheet(
            session, town.principal(database, "admin"), rulebook, round_id, town.baoyuan
        )
    jinwan = sheet.computed
    # The same figure the branches board shows: points of non-exempt members ÷ 3.
    assert Decimal(jinwan["points_per_member"]["value"]) == board[town.jinwan].per_member > 0
    assert jinwan["points_per_member"]["members"] == 3
    # One of 金湾's three active, non-exempt members has points (the elder is exempt).
    assert jinwan["participation"] == {"value": "0.3333", "participants": 1, "members": 3}
    assert other.computed["participation"]["value"] == "0"
    # No warning case opened: all (none) closed; no suggestion adopted.
    assert jinwan["warnings_closed"] == {"value": "1", "closed": 0, "opened": 0}
    assert jinwan["suggestions"]["value"] == "0"
    # No meeting held against the year's requirement.
    assert jinwan["meetings"]["held"] == 0
    assert Decimal(jinwan["meetings"]["value"]) == (0 if jinwan["meetings"]["required"] else 1)
    assert sheet.rating.status is RatingStatus.DRAFT
    assert sheet.result.total is None  # the assessed indicators are not scored yet
    assert sheet.may_self_assess is True  # the office may fill a sheet too
    assert sheet.may_audit is False


def test_a_round_is_opened_once_by_the_office_from_december(
    database: Database, town: SmallTown, office: Office
) -> None:
    with pytest.raises(PermissionDenied):
        office.open(who="instructor")
    with pytest.raises(InvalidInput) as early:
        office.open(on=date(office.year, 11, 30))
    assert f"{office.year}-12-01" in str(early.value)
    with pytest.raises(InvalidInput):
        office.open(f"{office.year}-Q3")  # the ruleset rates the year only
    with pytest.raises(InvalidInput):
        office.open("2026-13")
    office.open()
    with pytest.raises(Conflict):
        office.open()
    with database.transaction(write=False) as session:
        assert session.scalars(select(RatingRound.period)).all() == [str(office.year)]


def test_self_assessment_audit_and_publication(
    database: Database, town: SmallTown, rulebook: Rulebook, office: Office
) -> None:
    round_id = office.open()
    assessed = [i.id for i in office.policy.assessed()]
    first = assessed[0]
    # Another branch's secretary does not even see 金湾's sheet.
    with pytest.raises(NotFound):
        office.assess(round_id, town.jinwan, "secretary2")
    with pytest.raises(NotFound):
        office.assess(round_id, town.jinwan, "member")
    # A score out of range, and a submission without notes, name their fields.
    with database.transaction() as session, pytest.raises(InvalidInput) as bad:
        self_assess(
            session, town.principal(database, "secretary"), rulebook, round_id, town.jinwan,
            {first: SelfScore("101", "")}, submit=True, store=None, now=office.now,
        )  # fmt: skip
    assert f"score_{first}" in bad.value.errors
    assert all(f"score_{i}" in bad.value.errors for i in assessed)
    # Saved without submitting: still a draft, the audit cannot start.
    office.assess(round_id, town.jinwan, "secretary", "88.5", submit=False)
    assert office.rating(round_id, town.jinwan).status is RatingStatus.DRAFT
    with pytest.raises(Conflict):
        office.audit(round_id, town.jinwan, "instructor")
    office.assess(round_id, town.jinwan, "secretary", "88.5")
    assert office.rating(round_id, town.jinwan).status is RatingStatus.SUBMITTED
    with pytest.raises(Conflict):  # submitted: the branch no longer changes it
        office.assess(round_id, town.jinwan, "secretary", "99")
    # The secretary does not audit; the instructor of another branch does not see it.
    with pytest.raises(PermissionDenied):
        office.audit(round_id, town.jinwan, "secretary")
    office.assess(round_id, town.baoyuan, "secretary2", "75")
    with pytest.raises(NotFound):
        office.audit(round_id, town.baoyuan, "instructor")
    # A changed score needs its reason.
    with pytest.raises(InvalidInput) as no_reason:
        office.audit(round_id, town.jinwan, "instructor", {first: AuditScore("80")})
    assert set(no_reason.value.errors) == {f"reason_{first}"}
    office.audit(
        round_id, town.jinwan, "instructor", {first: AuditScore("80", "台账缺少两次会议记录")}
    )
    audited = office.rating(round_id, town.jinwan)
    assert audited.status is RatingStatus.AUDITED
    assert audited.total is not None and audited.stars is not None
    with database.transaction(write=False) as session:
        score = session.scalar(
            select(RatingScore).where(
                RatingScore.indicator == first, RatingScore.rating_id == audited.id
            )
        )
        assert score is not None
        assert (score.self_score, score.audited_score) == (Decimal("88.5"), Decimal(80))
        # The reason is private: the audit log says it changed, never what it says.
        logged = " ".join(str(event.after) for event in session.scalars(select(AuditEvent)))
        assert "台账缺少" not in logged
    # Publishing waits for every branch, and says which.
    with pytest.raises(Conflict) as waiting:
        office.publish(round_id)
    assert "宝元鞋厂党支部" in str(waiting.value)
    # A veto: 宝元 keeps its total but has no stars; its reason stays off the list.
    veto = office.policy.vetoes[0].id
    with pytest.raises(InvalidInput):
        office.audit(round_id, town.baoyuan, vetoes={veto: "  "})
    office.audit(round_id, town.baoyuan, vetoes={veto: "三月发生重大安全生产事故"})
    vetoed = office.rating(round_id, town.baoyuan)
    assert vetoed.stars == 0 and vetoed.total is not None and vetoed.total > 0
    office.publish(round_id)
    with database.transaction(write=False) as session:
        rating_round = session.get(RatingRound, round_id)
        assert rating_round is not None and rating_round.status is RoundStatus.PUBLISHED
        listed = published_results(session, PublicationKind.BRANCH_STARS, str(office.year))
        assert listed is not None and listed.id == rating_round.publication_id
        lines = {line.branch_id: line for line in result_lines(session, listed.id)}
        assert lines[town.baoyuan].label == "0"
        assert lines[town.jinwan].label == str(audited.stars)
        assert lines[town.jinwan].value == str(audited.total)
        assert "事故" not in repr(lines)
        assert verify_chain(session).ok
        assert verify_ratings(session, rulebook) == []
    with pytest.raises(Conflict):
        office.publish(round_id)
    with pytest.raises(Conflict):  # published: the sheets are frozen
        office.audit(round_id, town.jinwan, "instructor")


def test_verify_ratings_names_a_score_changed_behind_the_app(
    database: Database, town: SmallTown, rulebook: Rulebook, office: Office
) -> None:
    round_id = office.open()
    for branch, secretary in ((town.jinwan, "secretary"), (town.baoyuan, "secretary2")):
        office.assess(round_id, branch, secretary, "90")
        office.audit(round_id, branch)
    office.publish(round_id)
    with database.transaction() as session:
        rating_id = office.rating(round_id, town.jinwan).id
        session.execute(
            update(RatingScore)
            .where(RatingScore.rating_id == rating_id)
            .values(audited_score=Decimal(40))
        )
    with database.transaction(write=False) as session:
        problems = verify_ratings(session, rulebook)
    assert problems
    assert all("B001" in problem for problem in problems)
    assert any("total" in problem for problem in problems)


def test_the_round_page_shows_each_overseer_their_branches(
    database: Database, town: SmallTown, office: Office
) -> None:
    round_id = office.open()
    office.assess(round_id, town.baoyuan, "secretary2", "70")
    with database.transaction(write=False) as session:
        everything = round_page(session, town.principal(database, "admin"), round_id)
        assert [row.branch_id for row in everything.page.items] == [town.jinwan, town.baoyuan]
        assert everything.counts == {"draft": 1, "submitted": 1}
        mine = round_page(session, town.principal(database, "instructor"), round_id)
        assert [row.branch_id for row in mine.page.items] == [town.jinwan]
        submitted = round_page(
            session,
            town.principal(database, "admin"),
            round_id,
            status=RatingStatus.SUBMITTED,
        )
        assert [row.branch_id for row in submitted.page.items] == [town.baoyuan]
        with pytest.raises(PermissionDenied):
            round_page(session, town.principal(database, "member"), round_id)


def test_the_demo_town_has_its_2025_branch_stars_published(
    demo_town: Database, rulebook: Rulebook
) -> None:
    with demo_town.transaction(write=False) as session:
        rating_round = session.scalar(select(RatingRound).where(RatingRound.period == "2025"))
        assert rating_round is not None
        assert rating_round.status is RoundStatus.PUBLISHED
        assert rating_round.ruleset_version == "2025.1"
        listed = published_results(session, PublicationKind.BRANCH_STARS, "2025")
        assert listed is not None
        lines = result_lines(session, listed.id)
        assert len(lines) == 268
        stars = [int(line.label) for line in lines]
        # A realistic spread: some five stars, most three or four, a few one or two,
        # one branch vetoed.
        assert 0.08 <= stars.count(5) / len(stars) <= 0.25
        assert (stars.count(3) + stars.count(4)) / len(stars) >= 0.5
        assert 0 < stars.count(1) + stars.count(2) < len(stars) * 0.3
        assert stars.count(0) == 1
        changed = session.scalar(
            select(func.count())
            .select_from(RatingScore)
            .where(RatingScore.audited_score != RatingScore.self_score)
        )
        assert changed and changed >= 3
        assert verify_chain(session).ok
        assert verify_ratings(session, rulebook) == []
