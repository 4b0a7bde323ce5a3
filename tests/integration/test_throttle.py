"""The sign-in throttle on a real database: failures per username and per address over a
sliding window (service/accounts/throttle.py). The sign-in page's use of it is tested in
tests/functional/test_security_auth.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.accounts import throttle
from service.persistence.db import Database
from service.persistence.models import LoginFailure
from service.persistence.types import utcnow

LIMITS = throttle.Limits(window=timedelta(minutes=15), per_account=5, per_address=30)
HOME = "198.51.100.7"


def fail(
    database: Database, username: str, address: str = HOME, *, at: datetime | None = None
) -> None:
    with database.transaction() as session:
        throttle.record_failure(
            session, username, address, now=at or utcnow(), window=LIMITS.window
        )


def wait(
    database: Database, username: str, address: str = HOME, *, at: datetime | None = None
) -> timedelta | None:
    with database.transaction(write=False) as session:
        return throttle.retry_after(session, username, address, now=at or utcnow(), limits=LIMITS)


def failures(database: Database) -> int:
    with database.transaction(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(LoginFailure)) or 0)


def test_a_username_is_throttled_at_its_limit_from_any_address(database: Database) -> None:
    for attempt in range(LIMITS.per_account - 1):
        fail(database, "member", f"203.0.113.{attempt}")
    assert wait(database, "member", "192.0.2.1") is None
    fail(database, "member", "203.0.113.99")
    # From yet another address: the account's count does not care where guesses come from.
    assert wait(database, "member", "192.0.2.1") is not None
    assert wait(database, "member2", "192.0.2.1") is None


def test_case_and_spaces_do_not_make_another_username(database: Database) -> None:
    for typed in ("member", "Member", " MEMBER ", "mEmber", "member "):
        fail(database, typed, f"203.0.113.{len(typed)}")
    assert wait(database, "MEMBER", "192.0.2.1") is not None


def test_an_address_is_throttled_at_its_limit_whatever_the_usernames(
    database: Database,
) -> None:
    for attempt in range(LIMITS.per_address - 1):
        fail(database, f"guess{attempt}")
    assert wait(database, "another-guess") is None
    fail(database, "guess-last")
    assert wait(database, "another-guess") is not None
    # Another address, trying a username with no failures, is not affected.
    assert wait(database, "another-guess", "192.0.2.1") is None


def test_an_unknown_username_counts_like_a_known_one(database: Database) -> None:
    # Nothing here knows which accounts exist (there are none): the count is by the
    # username as typed.
    for _ in range(LIMITS.per_account):
        fail(database, "nobody-has-this-name")
    assert wait(database, "nobody-has-this-name") is not None


def test_the_wait_ends_when_the_oldest_counted_failure_leaves_the_window(
    database: Database,
) -> None:
    start = utcnow() - timedelta(minutes=10)
    for minute in range(LIMITS.per_account + 1):  # at start+0 .. start+5 minutes
        fail(database, "member", at=start + timedelta(minutes=minute))
    now = start + timedelta(minutes=6)
    # Six failures, limit five: the block lasts until the second one (start+1) leaves
    # the 15-minute window, when only four are left in it.
    assert wait(database, "member", at=now) == timedelta(minutes=10)
    assert wait(database, "member", at=start + timedelta(minutes=16)) is None
    assert throttle.minutes_to_wait(timedelta(minutes=10)) == 10
    assert throttle.minutes_to_wait(timedelta(seconds=61)) == 2
    assert throttle.minutes_to_wait(timedelta(seconds=1)) == 1


def test_failures_older_than_the_window_do_not_count(database: Database) -> None:
    long_ago = utcnow() - LIMITS.window - timedelta(seconds=1)
    for _ in range(LIMITS.per_account):
        fail(database, "member", at=long_ago)
    assert wait(database, "member") is None


def test_a_success_forgets_that_usernames_failures_only(database: Database) -> None:
    limits = throttle.Limits(window=LIMITS.window, per_account=5, per_address=8)

    def blocked(username: str, address: str) -> bool:
        with database.transaction(write=False) as session:
            found = throttle.retry_after(session, username, address, now=utcnow(), limits=limits)
        return found is not None

    for _ in range(5):
        fail(database, "member", "192.0.2.1")
    assert blocked("member", "192.0.2.50")
    with database.transaction() as session:
        throttle.clear_failures(session, " Member")
    assert not blocked("member", "192.0.2.50")

    # An attacker's guesses at other usernames stay counted for the address when the
    # attacker signs in to an own account in between.
    for attempt in range(8):
        fail(database, f"victim{attempt}")
    assert blocked("eve", HOME)
    with database.transaction() as session:
        throttle.clear_failures(session, "eve")
    assert blocked("eve", HOME)


def test_recording_a_failure_prunes_the_ones_outside_the_window(database: Database) -> None:
    now = utcnow()
    for minutes in (30, 16, 14, 1):
        fail(database, "member", at=now - timedelta(minutes=minutes))
    # Each record pruned what had left the window at its own time: -30 went when -14 was
    # recorded, -16 when -1 was.
    assert failures(database) == 2
    fail(database, "member2", at=now)
    assert failures(database) == 3
    with database.transaction() as session:
        assert throttle.prune(session, now=now + timedelta(minutes=15), window=LIMITS.window) == 3
    assert failures(database) == 0


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_of_zero_or_less_turns_that_count_off(database: Database, limit: int) -> None:
    limits = throttle.Limits(window=LIMITS.window, per_account=limit, per_address=limit)
    for _ in range(10):
        fail(database, "member")
    with database.transaction(write=False) as session:
        assert throttle.retry_after(session, "member", HOME, now=utcnow(), limits=limits) is None


def test_long_usernames_and_addresses_fit_their_columns(database: Database) -> None:
    long_name = "x" * 500
    for _ in range(LIMITS.per_account):
        fail(database, long_name, "2001:db8::" + "f" * 200)
    assert wait(database, long_name, "2001:db8::" + "f" * 200) is not None
