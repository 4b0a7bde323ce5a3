"""Instructors (党建指导员) assigned to several branches: they see those branches'
entries, members and pages, and review what a secretary cannot (the secretary's own
entries); nothing of a branch they are not assigned to; no deductions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from service.accounts.permissions import (
    can_record_in_branch,
    can_view_branch,
    can_view_points,
    viewable_branch_ids,
)
from service.accounts.principal import Principal
from service.entries.adjustments import AdjustmentInput, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, reject_entry, review_queue
from service.entries.suggestions import branch_suggestions, mark_step, reviewer_branches
from service.kernel.errors import PermissionDenied
from service.kernel.periods import town_today
from service.ledger.explain import explain_for
from service.people.members import branch_members
from service.persistence.db import Database
from service.persistence.models import (
    Branch,
    BranchKind,
    Entry,
    EntryStatus,
    Member,
    MemberStatus,
    Role,
    RoleGrant,
)
from service.persistence.types import utcnow
from service.scoring.engine import MANUAL_RULE_ID
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


class Town:
    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook
        with database.transaction() as session:
            # The instructor of 金湾 is assigned 宝元 too; 西岭 is a third branch.
            session.add(
                RoleGrant(
                    account_id=town.account_ids["instructor"],
                    role=Role.INSTRUCTOR,
                    branch_id=town.baoyuan,
                )
            )
            third = Branch(code="B003", name="西岭村联合党支部", kind=BranchKind.JOINT)
            session.add(third)
            session.flush()
            stranger = Member(
                code="M099", name="周远", branch_id=third.id, status=MemberStatus.FULL
            )
            session.add(stranger)
            session.flush()
            self.xiling, self.stranger = third.id, stranger.id

    def who(self, username: str) -> Principal:
        return self.town.principal(self.database, username)

    def submit(self, username: str, rule_id: str = "volunteer") -> int:
        with self.database.transaction() as session:
            return submit_entry(
                session,
                self.who(username),
                self.rulebook,
                EntryInput(rule_id, today(), Decimal(1), "为职工子女联系入学"),
                today=today(),
                now=utcnow(),
            )

    def entry(self, entry_id: int) -> Entry:
        with self.database.transaction(write=False) as session:
            found = session.get(Entry, entry_id)
            assert found is not None
            return found


@pytest.fixture
def world(database: Database, town: SmallTown, rulebook: Rulebook) -> Town:
    return Town(database, town, rulebook)


def test_the_instructor_sees_both_branches_and_not_a_third(world: Town) -> None:
    instructor = world.who("instructor")
    jinwan, baoyuan = world.town.jinwan, world.town.baoyuan
    assert instructor.reviewer_branch_ids == {jinwan, baoyuan}
    assert viewable_branch_ids(instructor) == {jinwan, baoyuan}
    assert viewable_branch_ids(world.who("admin")) is None
    assert can_view_branch(instructor, jinwan) and can_view_branch(instructor, baoyuan)
    assert not can_view_branch(instructor, world.xiling)
    assert not can_view_branch(world.who("secretary"), baoyuan)
    with world.database.transaction(write=False) as session:
        assert [b.code for b in reviewer_branches(session, instructor)] == ["B001", "B002"]
        names = {m.name for m in branch_members(session, instructor, baoyuan)}
        assert names == {"刘洋", "陈书记"}
        assert {m.name for m in branch_members(session, instructor, jinwan)} >= {"张伟", "王书记"}
        with pytest.raises(PermissionDenied):
            branch_members(session, instructor, world.xiling)
        # Points of members of both branches, with the deductions they hold.
        for username in ("member", "member3", "secretary2"):
            member_id = world.town.member_ids[username]
            explain_for(session, instructor, world.rulebook, member_id, today().year, as_of=today())
        with pytest.raises(PermissionDenied):
            explain_for(
                session, instructor, world.rulebook, world.stranger, today().year, as_of=today()
            )
    assert can_view_points(instructor, world.town.member_ids["member3"], baoyuan)
    assert not can_view_points(instructor, world.stranger, world.xiling)


def test_the_instructor_reviews_what_the_secretaries_cannot(world: Town) -> None:
    own_jinwan = world.submit("secretary")
    own_baoyuan = world.submit("secretary2")
    members = [world.submit("member"), world.submit("member3")]
    instructor = world.who("instructor")
    with world.database.transaction(write=False) as session:
        queue = review_queue(session, instructor)
        assert {e.id for e in queue.entries} == {own_jinwan, own_baoyuan, *members}
        # Each secretary's queue holds the branch's entries but not their own.
        secretary_queue = review_queue(session, world.who("secretary"))
        assert own_jinwan not in {e.id for e in secretary_queue.entries}
        assert secretary_queue.own_pending == 1
        assert {e.id for e in review_queue(session, world.who("secretary2")).entries} == {
            members[1]
        }

    for secretary, entry_id in (("secretary", own_jinwan), ("secretary2", own_baoyuan)):
        with pytest.raises(PermissionDenied), world.database.transaction() as session:
            approve_entry(session, world.who(secretary), world.rulebook, entry_id, now=utcnow())
    with world.database.transaction() as session:
        approve_entry(session, instructor, world.rulebook, own_jinwan, now=utcnow())
        reject_entry(session, instructor, own_baoyuan, "请补充活动照片", now=utcnow())
    assert world.entry(own_jinwan).status is EntryStatus.APPROVED
    assert world.entry(own_jinwan).decided_by_id == world.town.account_ids["instructor"]
    assert world.entry(own_baoyuan).status is EntryStatus.REJECTED


def test_the_instructor_cannot_review_a_third_branch(world: Town, database: Database) -> None:
    with database.transaction() as session:
        entry = Entry(
            member_id=world.stranger,
            branch_id=world.xiling,
            rule_id="volunteer",
            ruleset_version="x",
            activity_date=today(),
            period=today().strftime("%Y-%m"),
            quantity=Decimal(1),
            description="路灯报修",
            submitted_at=utcnow(),
            submitted_by_id=world.town.account_ids["admin"],
        )
        session.add(entry)
        session.flush()
        entry_id = entry.id
    instructor = world.who("instructor")
    with database.transaction(write=False) as session:
        assert entry_id not in {e.id for e in review_queue(session, instructor).entries}
    with pytest.raises(PermissionDenied), database.transaction() as session:
        approve_entry(session, instructor, world.rulebook, entry_id, now=utcnow())


def test_the_instructor_marks_suggestions_but_records_no_deductions(world: Town) -> None:
    suggestion = world.submit("member3", "suggestion")
    instructor = world.who("instructor")
    with world.database.transaction() as session:
        approve_entry(session, instructor, world.rulebook, suggestion, now=utcnow())
    with world.database.transaction() as session:
        views = branch_suggestions(session, instructor, world.rulebook, world.town.baoyuan)
        assert [v.entry_id for v in views] == [suggestion]
        mark_step(
            session,
            instructor,
            world.rulebook,
            suggestion,
            "adopted",
            day=today(),
            today=today(),
            now=utcnow(),
            branch_id=world.town.baoyuan,
        )
    assert world.entry(suggestion).adopted_on == today()

    assert not can_record_in_branch(instructor, world.town.baoyuan)
    data: dict[str, Any] = {
        "member_id": world.town.member_ids["member3"],
        "rule_id": MANUAL_RULE_ID,
        "day": today(),
        "reason": "无故缺席组织生活",
        "quantity": Decimal(1),
        "points": Decimal("-1.0"),
    }
    with pytest.raises(PermissionDenied), world.database.transaction() as session:
        record_adjustment(
            session,
            instructor,
            world.rulebook,
            AdjustmentInput(**data),
            today=today(),
            now=utcnow(),
        )


def test_instructor_pages_over_http(world: Town, make_browser: Any) -> None:
    browser = make_browser()
    browser.login("instructor")
    for branch_id in (world.town.jinwan, world.town.baoyuan):
        assert browser.client.get(f"/branches/{branch_id}").status_code == 200
    assert browser.client.get(f"/branches/{world.xiling}").status_code == 403
    member3 = world.town.member_ids["member3"]
    assert browser.client.get(f"/members/{member3}/points").status_code == 200
    assert browser.client.get(f"/members/{world.stranger}/points").status_code == 403
    own = world.submit("secretary2")
    page = browser.client.get("/review")
    assert page.status_code == 200 and f"/review/{own}/approve" in page.text
    token = browser.csrf_token("/review")
    approved = browser.client.post(
        f"/review/{own}/approve", data={"_csrf_token": token}, follow_redirects=False
    )
    assert approved.status_code == 303
    assert world.entry(own).status is EntryStatus.APPROVED
