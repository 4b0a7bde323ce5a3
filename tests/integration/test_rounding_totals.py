"""Rounding a day's total (issue 15, item 6): splitting an activity into many small
entries must not score more than declaring it once, on the real database, through
approval, revocation, the ledger and ``ledger verify``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from service.accounts.principal import Principal
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approval_previews, approve_entry, revoke_entry
from service.entries.review import review_queue as queue_of
from service.ledger.verify import verify_ledger
from service.persistence.db import Database
from service.persistence.models import LedgerKind, LedgerLine
from service.scoring.rules import Rulebook, Ruleset
from tests.conftest import SmallTown

DAY = date(2026, 9, 8)
NOW = datetime(2026, 9, 8, 10, 0, tzinfo=UTC)


def day_rounding(rulebook: Rulebook) -> Rulebook:
    """The town's rules plus a version from September 2026 whose volunteer hours are
    rounded on the day's total, as a rule file would state it."""
    base = rulebook.in_force(DAY)
    assert base is not None
    data = base.model_dump(mode="json", exclude_none=True, by_alias=True)
    data["version"] = "2026.9-day"
    data["effective_from"] = "2026-09-01"
    data["rule"] = [
        {**rule, "rounding_per": "day"} if rule["id"] == "volunteer" else rule
        for rule in data["rule"]
    ]
    return rulebook.with_candidate(Ruleset.model_validate(data))


class Desk:
    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook
        self.secretary = town.principal(database, "secretary")

    def who(self, username: str) -> Principal:
        return self.town.principal(self.database, username)

    def declare(self, username: str, hours: str, day: date = DAY) -> int:
        with self.database.transaction() as session:
            return submit_entry(
                session,
                self.who(username),
                self.rulebook,
                EntryInput("volunteer", day, Decimal(hours), "在105国道公园入口值守"),
                today=day,
                now=NOW,
            )

    def approve(self, entry_id: int) -> None:
        with self.database.transaction() as session:
            approve_entry(session, self.secretary, self.rulebook, entry_id, now=NOW)

    def revoke(self, entry_id: int) -> None:
        with self.database.transaction() as session:
            revoke_entry(session, self.secretary, self.rulebook, entry_id, "记录有误", now=NOW)

    def points(self, username: str) -> Decimal:
        member_id = self.town.member_ids[username]
        with self.database.transaction(write=False) as session:
            total = session.scalar(
                select(func.sum(LedgerLine.points)).where(LedgerLine.member_id == member_id)
            )
        return total or Decimal("0.0")

    def lines(self, entry_id: int) -> list[LedgerLine]:
        with self.database.transaction(write=False) as session:
            return list(
                session.scalars(
                    select(LedgerLine)
                    .where(LedgerLine.entry_id == entry_id)
                    .order_by(LedgerLine.id)
                )
            )

    def verify_clean(self) -> None:
        with self.database.transaction(write=False) as session:
            report = verify_ledger(session, self.rulebook)
        assert report.ok, [d.describe() for d in report.differences]


def test_half_hour_entries_score_like_one_entry_of_the_same_hours(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """Regression: eight half-hour entries scored 24 points (each rounded up to an hour)
    where one 4-hour entry scored 12."""
    desk = Desk(database, town, day_rounding(rulebook))
    halves = [desk.declare("member", "0.5") for _ in range(8)]
    # Approved in another order than declared: the shares follow the entries, not the
    # order of approval.
    for entry_id in reversed(halves):
        desk.approve(entry_id)
    desk.approve(desk.declare("member2", "4"))
    assert desk.points("member") == desk.points("member2") == Decimal(12)

    # Every line says which entry, rule and version produced it, and that its points
    # are a share of the day's rounded total.
    for entry_id in halves:
        for line in desk.lines(entry_id):
            assert (line.rule_id, line.ruleset_version) == ("volunteer", "2026.9-day")
            assert "rounding_per_day" in line.note
    shares = [sum(line.points for line in desk.lines(entry_id)) for entry_id in halves]
    assert shares == [Decimal(3), Decimal(0)] * 4
    desk.verify_clean()


def test_revoking_an_entry_re_shares_the_day_and_verify_agrees(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    desk = Desk(database, town, day_rounding(rulebook))
    first, second, third = (desk.declare("member", "0.5") for _ in range(3))
    for entry_id in (first, second, third):
        desk.approve(entry_id)
    assert desk.points("member") == Decimal(6)  # 1.5 hours round to 2

    # The entry that carried the first hour goes: 1 hour is left, 3 points, and the
    # second entry now carries it, through a line of its own (the ledger never edits).
    desk.revoke(first)
    assert desk.points("member") == Decimal(3)
    moved = desk.lines(second)
    assert [line.kind for line in moved] == [LedgerKind.AWARD, LedgerKind.CAP]
    assert [line.points for line in moved] == [Decimal(0), Decimal(3)]
    assert "rounding_per_day" in moved[-1].note
    desk.verify_clean()

    desk.revoke(second)
    assert desk.points("member") == Decimal(3)  # 0.5 hours still round to 1
    desk.revoke(third)
    assert desk.points("member") == Decimal(0)
    desk.verify_clean()


def test_the_review_queue_does_not_call_a_zero_share_limited(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """A half hour joining a day whose half hour already rounded up adds nothing, and
    that is rounding, not a cap: the preview says it adds 0 and is not "limited"."""
    day_rules = day_rounding(rulebook)
    desk = Desk(database, town, day_rules)
    desk.approve(desk.declare("member", "0.5"))
    pending = desk.declare("member", "0.5")
    with database.transaction(write=False) as session:
        queue = queue_of(session, desk.secretary)
        views = [view for view in queue.entries if view.id == pending]
        preview = approval_previews(session, day_rules, views)[pending]
    assert (preview.change, preview.limited) == (Decimal(0), False)


def test_files_without_the_field_still_round_each_entry(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """The shipped versions say nothing about it: they keep scoring as they always did,
    so months already scored and published with them stay reproducible."""
    desk = Desk(database, town, rulebook)
    for entry_id in [desk.declare("member", "0.5") for _ in range(2)]:
        desk.approve(entry_id)
    assert desk.points("member") == Decimal(6)
    desk.verify_clean()
