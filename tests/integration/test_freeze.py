"""A published month never moves: whatever happens afterwards in open months
(approvals that compete for a year's cap, revocations that free it, a new ruleset and a
rescore), the ledger sums of the published month stay what was published, and the
ledger check still agrees. Hypothesis drives the order of events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, revoke_entry
from service.ledger.preview import preview_ruleset, published_months, rescore_ledger
from service.ledger.reconcile import reconcile_member
from service.ledger.verify import verify_ledger
from service.persistence.db import Database
from service.persistence.models import (
    Adjustment,
    Correction,
    Entry,
    LedgerLine,
    Objection,
    PointsSummary,
    Publication,
    PublishedBranchRow,
    PublishedMemberRow,
)
from service.publication.publish import publish_month
from service.publication.state import hold_months
from service.scoring.rules import Rule, Rulebook, Ruleset
from tests.conftest import SmallTown

NOW = datetime(2026, 5, 3, 2, 0, tzinfo=UTC)
TODAY = date(2026, 5, 3)
MARCH = "2026-03"
# theme_day: 2 points, 16 a year; good_deed: 2 points, 10 a month.
DAYS = (date(2026, 2, 10), date(2026, 3, 10), date(2026, 3, 11), date(2026, 4, 10))
RULES = ("theme_day", "theme_day", "good_deed", "study")


def reset(database: Database) -> None:
    with database.transaction() as session:
        for model in (
            Objection,
            Correction,
            PublishedMemberRow,
            PublishedBranchRow,
            Publication,
            PointsSummary,
            LedgerLine,
            Adjustment,
            Entry,
        ):
            session.execute(delete(model))


def month_sums(database: Database, period: str) -> dict[int, Decimal]:
    with database.transaction(write=False) as session:
        return {
            row[0]: row[1]
            for row in session.execute(
                select(LedgerLine.member_id, func.sum(LedgerLine.points))
                .where(LedgerLine.period == period)
                .group_by(LedgerLine.member_id)
            )
        }


class World:
    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.rulebook = rulebook
        self.town = town
        self.admin = town.principal(database, "admin")
        self.members = {name: town.principal(database, name) for name in ("member", "member3")}

    def approve(self, who: str, rule_id: str, day: date) -> int:
        with self.database.transaction() as session:
            entry_id = submit_entry(
                session,
                self.members[who],
                self.rulebook,
                EntryInput(rule_id, day, Decimal(1), "经过"),
                # Declared on the day: the test spans more months than a member may go back.
                today=day,
                now=NOW,
            )
            approve_entry(session, self.admin, self.rulebook, entry_id, now=NOW)
        return entry_id

    def publish(self) -> None:
        with self.database.transaction() as session:
            # Hypothesis may leave March without anything that counts: published anyway.
            publish_month(session, self.admin, self.rulebook, MARCH, now=NOW, confirm_empty=True)


events = st.lists(
    st.tuples(
        st.sampled_from(("member", "member3")),
        st.sampled_from(RULES),
        st.sampled_from(DAYS),
        st.booleans(),  # revoke it again later (open months only)
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=events, after=events)
def test_events_in_open_months_never_move_a_published_month(
    database: Database, town: SmallTown, rulebook: Rulebook, before: Any, after: Any
) -> None:
    reset(database)
    world = World(database, town, rulebook)
    for who, rule_id, day, _revoke in before:
        world.approve(who, rule_id, day)
    world.publish()
    published = month_sums(database, MARCH)

    revocable = []
    for who, rule_id, day, revoke in after:
        if day.strftime("%Y-%m") == MARCH:
            continue  # refused: the month is published (tested elsewhere)
        entry_id = world.approve(who, rule_id, day)
        if revoke:
            revocable.append(entry_id)
    for entry_id in revocable:
        with database.transaction() as session:
            revoke_entry(session, world.admin, rulebook, entry_id, "撤销", now=NOW)
    # Reconciling everybody again (as after a rules change) moves nothing either.
    with database.transaction() as session:
        hold_months(session)  # as every writer of points does first
        for member_id in town.member_ids.values():
            reconcile_member(session, rulebook, member_id, 2026, now=NOW, actor_id=None)

    assert month_sums(database, MARCH) == published
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert report.ok, [d.describe() for d in report.differences]


def _richer_theme_day(rulebook: Rulebook) -> Ruleset:
    """A 2026.2 ruleset from February on: a theme day is worth 5 points, no cap."""
    base = rulebook.in_force(date(2026, 1, 1))
    assert base is not None

    def changed(rule: Rule) -> dict[str, Any]:
        data = rule.model_dump(mode="json", exclude_none=True)
        if rule.id == "theme_day":
            data["points"] = "5"
            data.pop("cap_per_year", None)
        return data

    data = base.model_dump(mode="json", exclude_none=True, by_alias=True)
    data.update(version="2026.2", effective_from="2026-02-01")
    data["rule"] = [changed(rule) for rule in base.rules]
    return Ruleset.model_validate(data)


def test_a_new_ruleset_leaves_published_months_alone(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    world = World(database, town, rulebook)
    for day in DAYS:
        world.approve("member", "theme_day", day)
    world.publish()
    published = month_sums(database, MARCH)
    member = town.member_ids["member"]
    candidate = _richer_theme_day(rulebook)

    with database.transaction(write=False) as session:
        assert published_months(session) == frozenset({MARCH})
        preview = preview_ruleset(session, rulebook, candidate, months=None, today=TODAY)
    assert preview.excluded == (MARCH,)
    assert MARCH not in preview.months
    assert {line.period for line in preview.lines} == {"2026-02", "2026-04"}

    adopted = rulebook.with_candidate(candidate)
    with database.transaction() as session:
        rescore_ledger(session, adopted, years=None, now=NOW)
    assert month_sums(database, MARCH) == published == {member: Decimal("4.0")}
    assert month_sums(database, "2026-02") == {member: Decimal("5.0")}
    assert month_sums(database, "2026-04") == {member: Decimal("5.0")}
    with database.transaction(write=False) as session:
        assert verify_ledger(session, adopted).ok
