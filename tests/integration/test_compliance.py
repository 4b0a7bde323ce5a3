"""Compliance (组织生活开展情况): meetings held per type against the yearly requirement,
what is due by now, who is behind, the attendance rate, and who may see which branches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from service.kernel.errors import NotFound, PermissionDenied
from service.meetings.compliance import (
    branch_compliance,
    compliance_page,
    compliance_table,
    requirements,
)
from service.persistence.db import Database
from service.persistence.meetings import MeetingStatus, Outcome
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.meeting_rows import add_meeting, add_party_group

MID_2027 = date(2027, 7, 15)  # January to June have ended


def _due(rulebook: Rulebook, year: int, as_of: date) -> dict[str, tuple[int, int]]:
    return {r.kind: (r.due_so_far, r.required) for r in requirements(rulebook, year, as_of=as_of)}


def test_due_so_far_is_the_share_of_the_months_ended(rulebook: Rulebook) -> None:
    due = _due(rulebook, 2027, MID_2027)
    assert due == {
        "congress": (2, 4),
        "committee": (6, 12),
        "group": (6, 12),
        "lecture": (2, 4),
        "theme_day": (6, 12),
    }
    # Nothing is due in January; everything once the year is over.
    assert {
        k: d for k, (d, _r) in _due(rulebook, 2027, date(2027, 1, 31)).items()
    } == dict.fromkeys(due, 0)
    assert _due(rulebook, 2027, date(2028, 2, 1))["congress"] == (4, 4)
    # A quarterly type falls due at the end of each quarter.
    assert _due(rulebook, 2027, date(2027, 3, 31))["congress"] == (0, 4)
    assert _due(rulebook, 2027, date(2027, 4, 1))["congress"] == (1, 4)


def test_the_requirement_in_force_applies_to_the_whole_year(rulebook: Rulebook) -> None:
    # The rules require meetings from 2026-12-01 (ruleset 2026.2); on 7 December 2026
    # that requirement applies to all of 2026: eleven months have ended.
    due = _due(rulebook, 2026, date(2026, 12, 7))
    assert due["theme_day"] == (11, 12)
    assert due["congress"] == (3, 4)
    # Once the year is over, all of it is due (by 31 December's rules).
    after = _due(rulebook, 2026, date(2027, 3, 1))
    assert after["theme_day"] == (12, 12)
    assert after["congress"] == (4, 4)
    # In November 2026 the rules in force (2026.1) required no meetings.
    assert requirements(rulebook, 2026, as_of=date(2026, 11, 30)) == ()
    # Before the rules required any meeting there is nothing to comply with.
    assert requirements(rulebook, 2025, as_of=date(2026, 3, 1)) == ()


def test_only_closed_meetings_with_minutes_count(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    creator = town.account_ids["secretary"]
    with database.transaction() as session:

        def add(**kwargs: Any) -> Any:
            fields = {"branch_id": town.jinwan, "kind": "theme_day", "created_by_id": creator}
            return add_meeting(session, **(fields | kwargs))

        held = add(day=date(2027, 2, 14))
        add(day=date(2027, 3, 14))
        add(day=date(2027, 4, 14), minutes=None)  # closed without minutes
        add(day=date(2027, 4, 15), minutes="   ")  # blank minutes
        add(day=date(2027, 5, 14), status=MeetingStatus.SCHEDULED, minutes=None)
        add(day=date(2027, 5, 15), status=MeetingStatus.CANCELLED, minutes=None)
        add(day=date(2027, 6, 14), makeup_of_id=held.id)  # a make-up session
        add(day=date(2026, 12, 14))  # last year
        add(day=date(2027, 3, 1), kind="committee")
        add(day=date(2027, 3, 2), kind="activity")  # not required, counted in the total
        add(day=date(2027, 3, 3), branch_id=town.baoyuan)
    with database.transaction(write=False) as session:
        row = branch_compliance(session, rulebook, town.jinwan, 2027, as_of=MID_2027)
        other = branch_compliance(session, rulebook, town.baoyuan, 2027, as_of=MID_2027)
        last_year = branch_compliance(session, rulebook, town.jinwan, 2026, as_of=MID_2027)
    theme = row.kind("theme_day")
    assert theme is not None
    assert (theme.held, theme.due_so_far, theme.required) == (2, 6, 12)
    assert row.kind("committee") is not None and row.kind("committee").held == 1  # type: ignore[union-attr]
    assert row.kind("activity") is None
    assert row.held_total == 4
    assert other.kind("theme_day").held == 1  # type: ignore[union-attr]
    assert last_year.kind("theme_day").held == 1  # type: ignore[union-attr]
    # 2026 is over: the whole year was due and one theme day is far short. 金湾 has no
    # party group, so party group meetings do not apply to it.
    assert [k.kind for k in last_year.kinds if k.behind] == [
        "congress",
        "committee",
        "lecture",
        "theme_day",
    ]
    group = last_year.kind("group")
    assert group is not None and not group.applies and not group.behind


def _hold_everything_due(session: Any, town: SmallTown, branch_id: int, *, skip: str = "") -> None:
    creator = town.account_ids["admin"]
    for month in range(1, 7):
        for kind in ("committee", "group", "theme_day"):
            if kind == skip and month == 6:
                continue
            add_meeting(
                session,
                branch_id=branch_id,
                kind=kind,
                day=date(2027, month, 10),
                created_by_id=creator,
            )
    for month in (2, 5):
        for kind in ("congress", "lecture"):
            add_meeting(
                session,
                branch_id=branch_id,
                kind=kind,
                day=date(2027, month, 20),
                created_by_id=creator,
            )


def test_behind_when_any_type_is_short_of_due(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        _hold_everything_due(session, town, town.jinwan)
    with database.transaction(write=False) as session:
        rows = compliance_table(session, admin, rulebook, 2027, as_of=MID_2027)
        behind = compliance_table(session, admin, rulebook, 2027, as_of=MID_2027, behind_only=True)
    by_branch = {row.branch_id: row for row in rows}
    assert not by_branch[town.jinwan].behind
    assert by_branch[town.baoyuan].behind  # held nothing
    assert [row.branch_id for row in behind] == [town.baoyuan]

    # One theme day short in June: behind, on that type alone.
    with database.transaction() as session:
        _hold_everything_due(session, town, town.baoyuan, skip="theme_day")
    with database.transaction(write=False) as session:
        row = branch_compliance(session, rulebook, town.baoyuan, 2027, as_of=MID_2027)
    assert row.behind
    assert [k.kind for k in row.kinds if k.behind] == ["theme_day"]
    # In early June, May's theme day was the last due: not behind yet.
    with database.transaction(write=False) as session:
        june = branch_compliance(session, rulebook, town.baoyuan, 2027, as_of=date(2027, 6, 5))
    assert not june.behind


def test_party_group_meetings_are_required_only_with_a_party_group(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        add_party_group(session, branch_id=town.jinwan)
        _hold_everything_due(session, town, town.jinwan, skip="group")
        _hold_everything_due(session, town, town.baoyuan)  # with six party group meetings
    with database.transaction(write=False) as session:
        grouped = branch_compliance(session, rulebook, town.jinwan, 2027, as_of=MID_2027)
        ungrouped = branch_compliance(session, rulebook, town.baoyuan, 2027, as_of=MID_2027)
    group = grouped.kind("group")
    assert group is not None and group.applies
    assert (group.held, group.due_so_far, group.required) == (5, 6, 12)
    assert grouped.behind and [k.kind for k in grouped.kinds if k.behind] == ["group"]
    # Without a group the type does not apply: nothing due, never behind for it (the
    # meetings it held anyway are still counted).
    other = ungrouped.kind("group")
    assert other is not None and not other.applies
    assert (other.held, other.due_so_far, other.required) == (6, 0, 0)
    assert not ungrouped.behind
    with database.transaction() as session:
        add_party_group(session, branch_id=town.baoyuan)
    with database.transaction(write=False) as session:
        now_grouped = branch_compliance(session, rulebook, town.baoyuan, 2027, as_of=MID_2027)
    assert now_grouped.kind("group").applies  # type: ignore[union-attr]
    assert not now_grouped.behind


def test_attendance_rate_over_the_meetings_held(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    members = town.member_ids
    creator = town.account_ids["secretary"]
    with database.transaction() as session:
        held = add_meeting(
            session,
            branch_id=town.jinwan,
            kind="theme_day",
            day=date(2027, 3, 10),
            created_by_id=creator,
            outcomes={
                members["member"]: Outcome.ATTENDED,
                members["member2"]: Outcome.LEAVE,
                members["secretary"]: Outcome.ATTENDED,
                members["elder"]: Outcome.ABSENT,
            },
        )
        # The make-up session's attendance is not a held meeting's.
        add_meeting(
            session,
            branch_id=town.jinwan,
            kind="theme_day",
            day=date(2027, 3, 20),
            created_by_id=creator,
            makeup_of_id=held.id,
            outcomes={members["member2"]: Outcome.ATTENDED},
        )
        # Nor is a meeting closed without minutes.
        add_meeting(
            session,
            branch_id=town.jinwan,
            kind="committee",
            day=date(2027, 3, 21),
            created_by_id=creator,
            minutes=None,
            outcomes={members["secretary"]: Outcome.ATTENDED},
        )
    with database.transaction(write=False) as session:
        row = branch_compliance(session, rulebook, town.jinwan, 2027, as_of=MID_2027)
        quiet = branch_compliance(session, rulebook, town.baoyuan, 2027, as_of=MID_2027)
    assert (row.attended, row.expected) == (2, 4)
    assert row.attendance_rate == Decimal("50.0")
    assert quiet.attendance_rate is None


def test_who_sees_which_branches(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    def branches(username: str) -> list[int]:
        actor = town.principal(database, username)
        with database.transaction(write=False) as session:
            return [
                r.branch_id
                for r in compliance_table(session, actor, rulebook, 2027, as_of=MID_2027)
            ]

    assert sorted(branches("admin")) == sorted([town.jinwan, town.baoyuan])
    assert branches("instructor") == [town.jinwan]  # assigned 金湾 only
    assert branches("secretary2") == [town.baoyuan]
    member = town.principal(database, "member")
    with database.transaction(write=False) as session, pytest.raises(PermissionDenied):
        compliance_table(session, member, rulebook, 2027, as_of=MID_2027)


def test_an_unknown_branch_is_not_found(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction(write=False) as session, pytest.raises(NotFound):
        branch_compliance(session, rulebook, town.baoyuan + 1000, 2027, as_of=MID_2027)


@contextmanager
def _statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def test_the_town_takes_three_queries(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        _hold_everything_due(session, town, town.jinwan)
        _hold_everything_due(session, town, town.baoyuan)
    with database.transaction(write=False) as session, _statements(database) as seen:
        rows = compliance_table(session, admin, rulebook, 2027, as_of=MID_2027)
    assert len(rows) == 2
    assert len(seen) <= 3, seen


def test_the_page_has_the_same_rows_as_the_table(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    admin = town.principal(database, "admin")
    members = town.member_ids
    with database.transaction() as session:
        _hold_everything_due(session, town, town.jinwan)
        add_meeting(
            session,
            branch_id=town.baoyuan,
            kind="theme_day",
            day=date(2027, 2, 10),
            created_by_id=town.account_ids["admin"],
            outcomes={members["member3"]: Outcome.ATTENDED, members["secretary2"]: Outcome.ABSENT},
        )
    with database.transaction(write=False) as session:
        table = compliance_table(session, admin, rulebook, 2027, as_of=MID_2027)
        with _statements(database) as seen:
            page, behind = compliance_page(session, admin, rulebook, 2027, as_of=MID_2027)
        only, only_behind = compliance_page(
            session, admin, rulebook, 2027, as_of=MID_2027, behind_only=True, page=7
        )
    assert len(seen) <= 3, seen
    assert page.items == table
    assert (page.total, page.page, page.pages, behind) == (2, 1, 1, 1)
    assert page.items[1].attendance_rate == Decimal("50.0")
    # A page past the last is the last; the count of those behind is the same.
    assert [row.branch_id for row in only.items] == [town.baoyuan]
    assert (only.page, only_behind) == (1, 1)
    member = town.principal(database, "member")
    with database.transaction(write=False) as session, pytest.raises(PermissionDenied):
        compliance_page(session, member, rulebook, 2027, as_of=MID_2027)
