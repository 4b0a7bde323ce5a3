"""Publishing a month (公示): refusals, stored rows, the digest chain, the freeze,
corrections and objections, on the real (migrated) database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from service.accounts.principal import Principal
from service.boards.live import branch_board, member_board
from service.entries.adjustments import AdjustmentInput, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, revoke_entry
from service.entries.suggestions import Step, mark_step
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.ledger.verify import DifferenceKind, verify_ledger
from service.persistence.db import Database
from service.persistence.models import (
    Entry,
    EntryStatus,
    LedgerLine,
    Objection,
    Publication,
    PublishedMemberRow,
    Resolution,
)
from service.publication.chain import BreakKind, verify_chain
from service.publication.corrections import open_correction, publish_correction
from service.publication.diff import diff_revisions
from service.publication.objections import LineRef, raise_objection, resolve_objection
from service.publication.publish import publish_month
from service.publication.state import MonthState, PendingEntries, month_state
from service.publication.stored import published_month, published_revision
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown, raw_connection

MARCH = "2026-03"
# 10:00 on 2 April in Shanghai: March has ended.
APRIL_2 = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)
TODAY = date(2026, 4, 2)


class Town:
    """Service calls on behalf of the small town's people, one transaction each."""

    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook
        self._principals: dict[str, Principal] = {}

    def who(self, username: str) -> Principal:
        if username not in self._principals:
            self._principals[username] = self.town.principal(self.database, username)
        return self._principals[username]

    def submit(self, username: str, day: date, rule_id: str = "theme_day") -> int:
        with self.database.transaction() as session:
            return submit_entry(
                session,
                self.who(username),
                self.rulebook,
                EntryInput(rule_id, day, Decimal(1), f"{rule_id} 的经过"),
                # Declared on the day: the test spans more months than a member may go back.
                today=day,
                now=APRIL_2,
            )

    def approve(self, entry_id: int, reviewer: str = "admin") -> Decimal:
        with self.database.transaction() as session:
            return approve_entry(session, self.who(reviewer), self.rulebook, entry_id, now=APRIL_2)

    def approved(self, username: str, day: date, rule_id: str = "theme_day") -> int:
        entry_id = self.submit(username, day, rule_id)
        self.approve(entry_id)
        return entry_id

    def publish(
        self,
        period: str = MARCH,
        now: datetime = APRIL_2,
        who: str = "admin",
        *,
        confirm_empty: bool = False,
    ) -> int:
        with self.database.transaction() as session:
            return publish_month(
                session, self.who(who), self.rulebook, period, now=now, confirm_empty=confirm_empty
            ).id

    def month_points(self, period: str) -> dict[int, Decimal]:
        with self.database.transaction(write=False) as session:
            return {
                row[0]: row[1]
                for row in session.execute(
                    select(LedgerLine.member_id, func.sum(LedgerLine.points))
                    .where(LedgerLine.period == period)
                    .group_by(LedgerLine.member_id)
                )
            }

    def count(self, model: Any) -> int:
        with self.database.transaction(write=False) as session:
            return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def people(database: Database, town: SmallTown, rulebook: Rulebook) -> Town:
    return Town(database, town, rulebook)


# --- publishing -----------------------------------------------------------------------------


def test_publish_refuses_while_entries_are_pending_and_names_the_branches(
    people: Town,
) -> None:
    people.submit("member", date(2026, 3, 5))
    people.submit("member3", date(2026, 3, 6))
    people.submit("member3", date(2026, 3, 7), "study")
    people.submit("member2", date(2026, 4, 1))  # April: does not hold up March

    with pytest.raises(PendingEntries) as refused:
        people.publish()

    message = str(refused.value.message)
    assert "金湾工业园区联合党支部 (1)" in message
    assert "宝元鞋厂党支部 (2)" in message
    assert [(b.name, b.count) for b in refused.value.branches] == [
        ("宝元鞋厂党支部", 2),
        ("金湾工业园区联合党支部", 1),
    ]
    assert people.count(Publication) == 0


def test_the_current_month_cannot_be_published_before_it_ends_in_the_towns_timezone(
    people: Town,
) -> None:
    # 23:00 on 31 March in Shanghai (15:00 UTC): March is still running there.
    with pytest.raises(Conflict, match="has not ended yet"):
        people.publish(now=datetime(2026, 3, 31, 15, 0, tzinfo=UTC))
    # 01:00 on 1 April in Shanghai, still 31 March in UTC: March is over in the town.
    people.publish(now=datetime(2026, 3, 31, 17, 0, tzinfo=UTC), confirm_empty=True)
    assert people.count(Publication) == 1


def test_publish_stores_the_live_boards_and_refuses_a_second_time(
    people: Town, database: Database
) -> None:
    people.approved("member", date(2026, 3, 3))
    people.approved("member", date(2026, 3, 4), "study")
    people.approved("member2", date(2026, 3, 4))
    people.approved("member3", date(2026, 3, 9), "good_deed")
    with database.transaction(write=False) as session:
        live_members = member_board(session, MARCH)
        live_branches = branch_board(session, MARCH)

    people.publish()

    with database.transaction(write=False) as session:
        published = published_month(session, MARCH, now=APRIL_2)
        assert published is not None
        assert published.members == live_members
        assert published.branches == live_branches
        assert published.branches.by_participation == live_branches.by_participation
        assert published.revision == 1
        assert published.intact and not published.final
        assert published.window_ends_at == published.published_at + timedelta(days=7)
        assert len(published.digest) == 64
        publication = session.get(Publication, published.publication_id)
        assert publication is not None and publication.previous_digest == ""
        assert month_state(session, MARCH, APRIL_2) is MonthState.PUBLISHED
        assert month_state(session, MARCH, APRIL_2 + timedelta(days=8)) is MonthState.FINAL
        assert month_state(session, "2026-02", APRIL_2) is MonthState.OPEN
        ranks = {
            row.member_code: (row.town_rank, row.branch_rank)
            for row in session.scalars(select(PublishedMemberRow))
        }
    # 张伟 4 points, 宝元's 刘洋 2 (good deed), 李娜 2: town ranks 1, 2, 2; in 金湾 1, 2.
    assert ranks["M001"] == (1, 1)
    assert ranks["M002"] == (2, 2)
    assert ranks["M004"] == (2, 1)
    assert ranks["M003"] == (None, None)  # no points: listed apart, unranked

    with pytest.raises(Conflict, match="already published"):
        people.publish()


def test_only_the_office_publishes(people: Town) -> None:
    for username in ("member", "secretary", "instructor"):
        with pytest.raises(PermissionDenied):
            people.publish(who=username)
    assert people.count(Publication) == 0


# --- the chain --------------------------------------------------------------------------------


def test_the_chain_links_every_publication_and_detects_a_tampered_row(
    people: Town, database: Database
) -> None:
    people.approved("member", date(2026, 2, 10))
    people.approved("member", date(2026, 3, 10))
    february = people.publish("2026-02")
    march = people.publish()
    with database.transaction(write=False) as session:
        first = session.get(Publication, february)
        second = session.get(Publication, march)
        assert first is not None and second is not None
        assert second.previous_digest == first.digest
        report = verify_chain(session)
    assert report.ok and report.publications == 2

    with raw_connection(database) as connection:
        connection.execute(
            text(
                "UPDATE published_member_row SET points = points + 100 "
                "WHERE publication_id = :id AND member_id = :member"
            ),
            {"id": march, "member": people.town.member_ids["member"]},
        )

    with database.transaction(write=False) as session:
        report = verify_chain(session)
        assert not report.ok
        assert [(b.publication_id, b.kind) for b in report.breaks] == [(march, BreakKind.CONTENT)]
        assert "2026-03 revision 1" in report.breaks[0].describe()
        tampered = published_month(session, MARCH, now=APRIL_2)
        untouched = published_month(session, "2026-02", now=APRIL_2)
        assert tampered is not None and not tampered.intact
        assert untouched is not None and untouched.intact
        # The ledger check sees it too: the ledger no longer matches the published board.
        ledger = verify_ledger(session, people.rulebook)
    kinds = {d.kind for d in ledger.differences}
    assert kinds == {DifferenceKind.PUBLISHED_MISMATCH}


def test_a_broken_link_is_reported(people: Town, database: Database) -> None:
    people.publish("2026-02", confirm_empty=True)  # empty months: the chain is the point
    march = people.publish(confirm_empty=True)
    with raw_connection(database) as connection:
        connection.execute(
            text("UPDATE publication SET previous_digest = :d WHERE id = :id"),
            {"d": "0" * 64, "id": march},
        )
    with database.transaction(write=False) as session:
        report = verify_chain(session)
    assert BreakKind.LINK in {b.kind for b in report.breaks}
    assert march in report.broken_ids()


# --- the freeze -----------------------------------------------------------------------------


def test_nothing_dated_in_a_published_month_can_change(people: Town, database: Database) -> None:
    suggestion = people.approved("member", date(2026, 3, 2), "suggestion")
    deed = people.approved("member2", date(2026, 3, 3), "good_deed")
    people.publish()
    # An entry that slipped in without the form (e.g. an import) while the month was
    # being published: still pending, but dated in the published month.
    with database.transaction() as session:
        stray = Entry(
            member_id=people.town.member_ids["member2"],
            branch_id=people.town.jinwan,
            rule_id="study",
            ruleset_version="2026.1",
            activity_date=date(2026, 3, 20),
            period=MARCH,
            quantity=Decimal(1),
            description="导入",
            status=EntryStatus.PENDING,
            submitted_at=APRIL_2,
            submitted_by_id=people.town.account_ids["member2"],
        )
        session.add(stray)
        session.flush()
        stray_id = stray.id
    lines_before = people.count(LedgerLine)

    with pytest.raises(InvalidInput) as submitted:
        people.submit("member", date(2026, 3, 20))
    assert "2026-03 is published" in str(submitted.value.errors["activity_date"])

    with pytest.raises(Conflict, match="can no longer be approved"):
        people.approve(stray_id)

    with pytest.raises(Conflict, match="can no longer be revoked"), database.transaction() as s:
        revoke_entry(s, people.who("secretary"), people.rulebook, deed, "错了", now=APRIL_2)

    with pytest.raises(InvalidInput) as adjusted, database.transaction() as session:
        record_adjustment(
            session,
            people.who("secretary"),
            people.rulebook,
            AdjustmentInput(
                member_id=people.town.member_ids["member2"],
                rule_id="missed_meeting",
                day=date(2026, 3, 25),
                reason="支委会决定",
            ),
            today=TODAY,
            now=APRIL_2,
        )
    assert "2026-03 is published" in str(adjusted.value.errors["day"])

    with pytest.raises(InvalidInput) as stepped, database.transaction() as session:
        mark_step(
            session,
            people.who("secretary"),
            people.rulebook,
            suggestion,
            Step.ADOPTED,
            day=date(2026, 3, 28),
            today=TODAY,
            now=APRIL_2,
        )
    assert "suggestion step" in str(stepped.value.errors["day"])

    assert people.count(LedgerLine) == lines_before
    with database.transaction(write=False) as session:
        statuses = {e.id: e.status for e in session.scalars(select(Entry))}
    assert statuses[stray_id] is EntryStatus.PENDING
    assert statuses[deed] is EntryStatus.APPROVED

    # April is open: a step dated there is fine, and counts in April.
    with database.transaction() as session:
        mark_step(
            session,
            people.who("secretary"),
            people.rulebook,
            suggestion,
            Step.ADOPTED,
            day=date(2026, 4, 1),
            today=TODAY,
            now=APRIL_2,
        )
    assert people.month_points("2026-04")[people.town.member_ids["member"]] > 0


def test_an_earlier_open_month_never_takes_cap_room_from_a_published_month(
    people: Town, database: Database
) -> None:
    # theme_day: 2 points, at most 16 a year. Eight in March fill the year's cap.
    for day in range(2, 10):
        people.approved("member", date(2026, 3, day))
    people.approved("member", date(2026, 3, 12), "study")
    people.publish()
    published = people.month_points(MARCH)
    member = people.town.member_ids["member"]
    assert published[member] == Decimal("18.0")

    # February is still open. Dated earlier, its theme days would take the year's room
    # first; the published March keeps what it was published with instead.
    for day in (3, 4):
        assert people.approve(people.submit("member", date(2026, 2, day))) == Decimal("0.0")
    february_study = people.approved("member", date(2026, 2, 5), "study")

    assert people.month_points(MARCH) == published
    assert people.month_points("2026-02")[member] == Decimal("2.0")
    with database.transaction(write=False) as session:
        assert verify_ledger(session, people.rulebook).ok
        board = published_month(session, MARCH, now=APRIL_2)
        assert board is not None and board.intact

    # Revoking in the open month frees nothing for the published one either.
    with database.transaction() as session:
        revoke_entry(
            session, people.who("secretary"), people.rulebook, february_study, "重复", now=APRIL_2
        )
    assert people.month_points(MARCH) == published
    with database.transaction(write=False) as session:
        assert verify_ledger(session, people.rulebook).ok


# --- corrections ---------------------------------------------------------------------------


def test_a_correction_publishes_a_linked_revision_with_its_reason_and_what_changed(
    people: Town, database: Database
) -> None:
    people.approved("member", date(2026, 3, 3))
    people.approved("member2", date(2026, 3, 3), "study")
    first = people.publish()
    admin = people.who("admin")

    with pytest.raises(InvalidInput), database.transaction() as session:
        open_correction(session, admin, MARCH, "  ", now=APRIL_2)
    with pytest.raises(PermissionDenied), database.transaction() as session:
        open_correction(session, people.who("secretary"), MARCH, "漏报", now=APRIL_2)
    with pytest.raises(Conflict, match="No correction"), database.transaction() as session:
        publish_correction(session, admin, people.rulebook, MARCH, now=APRIL_2)

    with database.transaction() as session:
        open_correction(session, admin, MARCH, "李娜的主题党日漏报", now=APRIL_2)
        assert month_state(session, MARCH, APRIL_2) is MonthState.CORRECTING
    with pytest.raises(Conflict, match="already in progress"), database.transaction() as s:
        open_correction(s, admin, MARCH, "again", now=APRIL_2)

    # While correcting, the month takes changes again.
    people.approved("member2", date(2026, 3, 20))
    later = APRIL_2 + timedelta(days=1)
    with database.transaction() as session:
        second = publish_correction(session, admin, people.rulebook, MARCH, now=later)
        second_id, second_revision = second.id, second.revision
        assert second.replaces_id == first
        assert second.reason == "李娜的主题党日漏报"
        first_row = session.get(Publication, first)
        assert first_row is not None
        assert second.previous_digest == first_row.digest

    assert second_revision == 2
    with database.transaction(write=False) as session:
        assert month_state(session, MARCH, later) is MonthState.PUBLISHED
        newest = published_month(session, MARCH, now=later)
        old = published_revision(session, MARCH, 1, now=later)
        assert newest is not None and old is not None
        assert newest.publication_id == second_id and newest.reason == "李娜的主题党日漏报"
        assert [r.revision for r in newest.revisions] == [1, 2]
        assert newest.revisions[1].replaces_revision == 1
        assert newest.members == member_board(session, MARCH)
        # The first revision still reads as it was published.
        assert old.members.standing(people.town.member_ids["member2"]).item.points == Decimal(  # type: ignore[union-attr]
            "2.0"
        )
        diff = diff_revisions(session, MARCH, 1, 2)
        assert verify_chain(session).ok
    changed = {c.member_code: c for c in diff.members}
    assert changed["M002"].points_before == Decimal("2.0")
    assert changed["M002"].points_after == Decimal("4.0")
    assert changed["M002"].rank_before == 1 and changed["M002"].rank_after == 1
    assert {c.code for c in diff.branches} == {"B001"}
    assert diff.reason == "李娜的主题党日漏报"

    # Published again: frozen again.
    with pytest.raises(InvalidInput):
        people.submit("member", date(2026, 3, 21))


def test_a_final_month_cannot_be_corrected(people: Town, database: Database) -> None:
    people.publish(confirm_empty=True)
    after_window = APRIL_2 + timedelta(days=7, seconds=1)
    with pytest.raises(Conflict, match="final"), database.transaction() as session:
        open_correction(session, people.who("admin"), MARCH, "太晚了", now=after_window)
    with pytest.raises(Conflict, match="not published"), database.transaction() as session:
        open_correction(session, people.who("admin"), "2026-02", "还没公示", now=APRIL_2)


# --- objections ------------------------------------------------------------------------------


def test_objections_during_the_window_are_taken_and_answered(
    people: Town, database: Database
) -> None:
    people.approved("member", date(2026, 3, 3))
    people.publish()
    member2 = people.who("member2")
    line = LineRef(member_id=people.town.member_ids["member"])
    in_window = APRIL_2 + timedelta(days=1)

    with pytest.raises(InvalidInput), database.transaction() as session:
        raise_objection(session, member2, MARCH, line, "   ", now=in_window)
    with pytest.raises(NotFound), database.transaction() as session:
        raise_objection(session, member2, "2026-02", line, "没公示", now=in_window)
    with pytest.raises(NotFound), database.transaction() as session:
        raise_objection(session, member2, MARCH, LineRef(member_id=999_999), "谁", now=in_window)
    with database.transaction() as session:
        first = raise_objection(session, member2, MARCH, line, "他那天不在", now=in_window)
        branch = raise_objection(
            session,
            member2,
            MARCH,
            LineRef(branch_id=people.town.baoyuan),
            "人数不对",
            now=in_window,
        )
    with (
        pytest.raises(Conflict, match="already have an open objection"),
        database.transaction() as s,
    ):
        raise_objection(s, member2, MARCH, line, "再说一次", now=in_window)

    # After the window: refused, with the reason.
    with (
        pytest.raises(Conflict, match="notice window of 2026-03 has closed"),
        database.transaction() as s,
    ):
        raise_objection(s, member2, MARCH, line, "晚了", now=APRIL_2 + timedelta(days=8))

    with pytest.raises(PermissionDenied), database.transaction() as session:
        resolve_objection(
            session, people.who("secretary"), first, "查过了", "no_change", now=in_window
        )
    with pytest.raises(InvalidInput), database.transaction() as session:
        resolve_objection(session, people.who("admin"), first, "", "no_change", now=in_window)
    with database.transaction() as session:
        resolve_objection(
            session, people.who("admin"), first, "签到表上有他的名字", "no_change", now=in_window
        )
    with pytest.raises(Conflict, match="already resolved"), database.transaction() as session:
        resolve_objection(session, people.who("admin"), first, "again", "no_change", now=in_window)

    # "Corrected" needs a correction published after the objection.
    with pytest.raises(Conflict, match="No correction of 2026-03"), database.transaction() as s:
        resolve_objection(s, people.who("admin"), branch, "已更正", "corrected", now=in_window)
    with database.transaction() as session:
        open_correction(session, people.who("admin"), MARCH, "人数更正", now=in_window)
    with pytest.raises(Conflict, match="No correction of 2026-03"), database.transaction() as s:
        resolve_objection(s, people.who("admin"), branch, "已更正", "corrected", now=in_window)
    corrected_at = in_window + timedelta(hours=1)
    with database.transaction() as session:
        correction = publish_correction(
            session, people.who("admin"), people.rulebook, MARCH, now=corrected_at
        )
        correction_id = correction.id
        resolve_objection(
            session, people.who("admin"), branch, "已更正人数", "corrected", now=corrected_at
        )

    with database.transaction(write=False) as session:
        stored = {o.id: o for o in session.scalars(select(Objection))}
    assert stored[first].resolution is Resolution.NO_CHANGE
    assert stored[first].answer == "签到表上有他的名字"
    assert stored[branch].resolution is Resolution.CORRECTED
    assert stored[branch].correction_publication_id == correction_id


def test_only_members_object(people: Town, database: Database) -> None:
    people.publish(confirm_empty=True)
    with pytest.raises(PermissionDenied), database.transaction() as session:
        raise_objection(
            session,
            people.who("admin"),
            MARCH,
            LineRef(branch_id=people.town.jinwan),
            "不对",
            now=APRIL_2,
        )
