"""Issue 15, items 2 to 5, at the service level on the real database (SQLite or
PostgreSQL): points change only under the month lock, ``ledger verify`` sees an entry
whose standing and ledger disagree in a published month, the database keeps one open
correction per month, and publishing refuses a month before the first ruleset and asks
for a confirmation when nothing counts in the month.

The races themselves, over real HTTP and between real processes, are in
tests/integration/test_month_races.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from service.entries.adjustments import AdjustmentInput, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, reject_entry, revoke_entry
from service.kernel.errors import Conflict
from service.ledger.reconcile import reconcile_member
from service.ledger.verify import DifferenceKind, verify_ledger
from service.persistence.db import Database
from service.persistence.models import (
    Correction,
    Entry,
    EntryStatus,
    LedgerKind,
    LedgerLine,
    Publication,
)
from service.publication.chain import verify_chain
from service.publication.corrections import open_correction, publish_correction
from service.publication.publish import publish_month, publish_preview
from service.publication.state import (
    EmptyMonth,
    MonthState,
    first_publishable,
    hold_months,
    holds_months,
    lock_months,
    month_activity,
    month_state,
)
from service.scoring.engine import Source
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown, raw_connection

MARCH = "2026-03"
FEBRUARY = "2026-02"
APRIL_2 = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: March has ended
TODAY = date(2026, 4, 2)


def submit(
    database: Database, town: SmallTown, rulebook: Rulebook, day: date, who: str = "member"
) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, who),
            rulebook,
            EntryInput("theme_day", day, Decimal(1), "主题党日"),
            today=TODAY,
            now=APRIL_2,
        )


def approved(database: Database, town: SmallTown, rulebook: Rulebook, day: date) -> int:
    entry_id = submit(database, town, rulebook, day)
    with database.transaction() as session:
        approve_entry(session, town.principal(database, "admin"), rulebook, entry_id, now=APRIL_2)
    return entry_id


def publish(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    period: str = MARCH,
    *,
    confirm_empty: bool = False,
) -> Publication:
    with database.transaction() as session:
        return publish_month(
            session,
            town.principal(database, "admin"),
            rulebook,
            period,
            now=APRIL_2,
            confirm_empty=confirm_empty,
        )


def published_count(database: Database) -> int:
    with database.transaction(write=False) as session:
        return len(session.scalars(select(Publication.id)).all())


def differences(database: Database, rulebook: Rulebook) -> list[tuple[DifferenceKind, str]]:
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    return [(item.kind, item.activity_key or "") for item in report.differences]


# --- item 2: one rule for every write of points ------------------------------------------


def test_reconciling_without_the_month_lock_is_refused(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    member_id = town.member_ids["member"]
    with pytest.raises(RuntimeError, match="month lock"), database.transaction() as session:
        reconcile_member(session, rulebook, member_id, 2026, now=APRIL_2, actor_id=None)
    with database.transaction() as session:
        hold_months(session)
        assert (
            reconcile_member(session, rulebook, member_id, 2026, now=APRIL_2, actor_id=None) == []
        )


def test_no_ledger_line_and_no_approval_reaches_the_database_without_the_month_lock(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """The persistence guard: whatever the code path, a ledger line, or an entry moving
    into or out of "approved" (or getting a suggestion step), is flushed only by a
    transaction that holds the month lock."""
    entry_id = submit(database, town, rulebook, date(2026, 3, 5))
    with pytest.raises(RuntimeError, match="month lock"), database.transaction() as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        entry.status = EntryStatus.APPROVED
        session.flush()
    with pytest.raises(RuntimeError, match="month lock"), database.transaction() as session:
        session.add(
            LedgerLine(
                member_id=town.member_ids["member"],
                branch_id=town.jinwan,
                period=MARCH,
                activity_date=date(2026, 3, 5),
                source=Source.ENTRY,
                activity_key=f"entry:{entry_id}",
                entry_id=entry_id,
                rule_id="theme_day",
                ruleset_version="2026.1",
                kind=LedgerKind.AWARD,
                points=Decimal("2.0"),
                note="",
                created_at=APRIL_2,
                created_by_id=None,
            )
        )
        session.flush()
    # Decisions that move no points need no lock: a rejection.
    with database.transaction() as session:
        reject_entry(session, town.principal(database, "admin"), entry_id, "重复", now=APRIL_2)
        assert not holds_months(session)


def test_the_hold_lasts_until_the_transaction_ends(database: Database) -> None:
    with database.transaction() as session:
        assert not holds_months(session)
        hold_months(session)
        assert holds_months(session)
        session.commit()
        assert not holds_months(session)
        lock_months(session)
        assert holds_months(session)
    with database.transaction() as session:
        assert not holds_months(session)


def test_every_writer_of_points_takes_the_month_lock(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """Submitting, approving, revoking, adjusting and publishing each leave the
    transaction holding the month lock (the guard above would refuse their lines
    otherwise; this names them one by one)."""
    admin = town.principal(database, "admin")
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, "member"),
            rulebook,
            EntryInput("theme_day", date(2026, 3, 5), Decimal(1), "主题党日"),
            today=TODAY,
            now=APRIL_2,
        )
        assert holds_months(session)
    with database.transaction() as session:
        approve_entry(session, admin, rulebook, entry_id, now=APRIL_2)
        assert holds_months(session)
    with database.transaction() as session:
        revoke_entry(session, admin, rulebook, entry_id, "重复申报", now=APRIL_2)
        assert holds_months(session)
    with database.transaction() as session:
        record_adjustment(
            session,
            secretary,
            rulebook,
            AdjustmentInput(
                member_id=town.member_ids["member"],
                rule_id="missed_meeting",
                day=date(2026, 3, 9),
                reason="缺席支部大会",
            ),
            today=TODAY,
            now=APRIL_2,
        )
        assert holds_months(session)
    with database.transaction() as session:
        publish_month(session, admin, rulebook, MARCH, now=APRIL_2)
        assert holds_months(session)
    assert differences(database, rulebook) == []


# --- item 2: verify sees an entry whose standing and ledger disagree -------------------------


def test_verify_finds_a_revoked_entry_that_still_counts_in_a_published_month(
    database: Database, town: SmallTown, rulebook: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a revocation racing the publication left behind on the old code: it checked
    the month open, the publication committed, and reconciling then took the month's
    points as published givens. The entry is "revoked", its points still count on the
    ledger and on the board, which agree with each other; the entry's standing does
    not. (The race is replayed here by letting the revocation's own check answer "open".)"""
    entry_id = approved(database, town, rulebook, date(2026, 3, 5))
    publish(database, town, rulebook)
    assert differences(database, rulebook) == []
    monkeypatch.setattr("service.entries.review.is_frozen", lambda _session, _period: False)
    with database.transaction() as session:
        revoke_entry(
            session, town.principal(database, "admin"), rulebook, entry_id, "重复", now=APRIL_2
        )

    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert [(d.kind, d.activity_key, d.found) for d in report.differences] == [
        (DifferenceKind.STATUS_MISMATCH, f"entry:{entry_id}", Decimal("2.0"))
    ]
    assert "no longer approved, but its lines still count 2.0 points" in (
        report.differences[0].describe()
    )


def test_verify_finds_an_approved_entry_the_ledger_never_recorded_in_a_published_month(
    database: Database, town: SmallTown, rulebook: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race for an approval (an adjustment, a suggestion step): it checked the
    month open, then found it published when it reconciled, and wrote no line."""
    approved(database, town, rulebook, date(2026, 3, 5))
    rejected = submit(database, town, rulebook, date(2026, 3, 6))
    with database.transaction() as session:
        reject_entry(session, town.principal(database, "admin"), rejected, "重复", now=APRIL_2)
    publish(database, town, rulebook)
    with raw_connection(database) as connection:
        connection.execute(
            text("UPDATE entry SET status = 'pending' WHERE id = :id"), {"id": rejected}
        )
    monkeypatch.setattr("service.entries.review.is_frozen", lambda _session, _period: False)
    with database.transaction() as session:
        approve_entry(session, town.principal(database, "admin"), rulebook, rejected, now=APRIL_2)

    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert [(d.kind, d.activity_key) for d in report.differences] == [
        (DifferenceKind.STATUS_MISMATCH, f"entry:{rejected}")
    ]
    assert "approved, but the ledger never recorded it" in report.differences[0].describe()


def test_an_entry_revoked_through_a_correction_agrees_with_its_ledger(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """The legitimate way: its reversal line is in the month, the corrected board too."""
    entry_id = approved(database, town, rulebook, date(2026, 3, 5))
    publish(database, town, rulebook)
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        open_correction(session, admin, MARCH, "重复申报", now=APRIL_2)
    with database.transaction() as session:
        revoke_entry(session, admin, rulebook, entry_id, "重复申报", now=APRIL_2)
    with database.transaction() as session:
        publish_correction(session, admin, rulebook, MARCH, now=APRIL_2)
    assert differences(database, rulebook) == []


# --- item 3: one open correction per month ----------------------------------------------------


def test_the_database_keeps_one_open_correction_per_month(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    approved(database, town, rulebook, date(2026, 3, 5))
    publication = publish(database, town, rulebook)
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        first = open_correction(session, admin, MARCH, "漏报", now=APRIL_2)
        correction = {
            "period": MARCH,
            "reason": "又一次",
            "opened_at": APRIL_2,
            "opened_by_id": admin.account_id,
            "replaces_id": publication.id,
        }
    # Whatever the code path: the database itself refuses a second open one.
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.add(Correction(**correction))
        session.flush()
    with pytest.raises(Conflict, match="already in progress"), database.transaction() as session:
        open_correction(session, admin, MARCH, "又一次", now=APRIL_2)

    with database.transaction() as session:
        publish_correction(session, admin, rulebook, MARCH, now=APRIL_2)
        assert month_state(session, MARCH, APRIL_2) is MonthState.PUBLISHED
    # A closed correction does not count: the month can be corrected again.
    with database.transaction() as session:
        second = open_correction(session, admin, MARCH, "再次更正", now=APRIL_2)
        assert second.id != first.id
        assert month_state(session, MARCH, APRIL_2) is MonthState.CORRECTING


# --- item 5: publishing what should not be published -----------------------------------------


def test_a_month_before_the_first_ruleset_is_never_published(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    assert first_publishable(rulebook) == "2025-01"
    for period in ("2024-06", "2024-12"):
        with pytest.raises(Conflict, match="before the first points rules"):
            publish(database, town, rulebook, period, confirm_empty=True)
    assert published_count(database) == 0


def test_a_month_in_which_nothing_counts_is_published_only_when_confirmed(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    # A revoked entry and a rejected one: nothing of either counts.
    revoked = approved(database, town, rulebook, date(2026, 3, 5))
    rejected = submit(database, town, rulebook, date(2026, 3, 6))
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        revoke_entry(session, admin, rulebook, revoked, "重复申报", now=APRIL_2)
        reject_entry(session, admin, rejected, "重复", now=APRIL_2)
        assert month_activity(session, MARCH) == 0
    with pytest.raises(EmptyMonth, match="Nothing counts in 2026-03"):
        publish(database, town, rulebook)
    assert published_count(database) == 0

    publication = publish(database, town, rulebook, confirm_empty=True)
    assert publication.period == MARCH and published_count(database) == 1
    with database.transaction(write=False) as session:
        assert verify_chain(session).ok
    assert differences(database, rulebook) == []


def test_an_adjustment_or_a_suggestion_step_is_something_that_counts(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        record_adjustment(
            session,
            town.principal(database, "secretary"),
            rulebook,
            AdjustmentInput(
                member_id=town.member_ids["member"],
                rule_id="missed_meeting",
                day=date(2026, 2, 9),
                reason="缺席支部大会",
            ),
            today=TODAY,
            now=APRIL_2,
        )
        assert month_activity(session, FEBRUARY) == 1
        assert month_activity(session, MARCH) == 0
    publish(database, town, rulebook, FEBRUARY)
    assert published_count(database) == 1


def test_the_preview_says_what_publishing_will_freeze(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    approved(database, town, rulebook, date(2026, 3, 5))
    submit(database, town, rulebook, date(2026, 3, 6), who="member3")  # pending
    admin = town.principal(database, "admin")
    with database.transaction(write=False) as session:
        preview = publish_preview(session, admin, rulebook, MARCH, now=APRIL_2)
        # 张伟 ranked, four without points; 赵老 (exempt, no points) is not on the board.
        assert (preview.members, preview.ranked, preview.exempt, preview.unscored) == (5, 1, 0, 4)
        assert [(b.name, b.total) for b in preview.branches] == [
            ("金湾工业园区联合党支部", Decimal("2.0")),
            ("宝元鞋厂党支部", Decimal("0.0")),
        ]
        assert preview.total == Decimal("2.0")
        assert preview.activity == 1 and not preview.empty
        assert [b.name for b in preview.pending] == ["宝元鞋厂党支部"]
        assert preview.refusal is None and not preview.publishable

        before = publish_preview(session, admin, rulebook, "2024-06", now=APRIL_2)
        assert before.refusal is not None and "before the first points rules" in str(before.refusal)
        running = publish_preview(session, admin, rulebook, "2026-04", now=APRIL_2)
        assert running.refusal is not None and "has not ended yet" in str(running.refusal)
