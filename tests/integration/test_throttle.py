"""The sign-in throttle on a real database: failures per username *and* address, paused
progressively, and per address over a sliding window (service/accounts/throttle.py).
The sign-in page's use of it is tested in tests/functional/test_security_auth.py, and
parallel attempts over real HTTP in tests/integration/test_sign_in_race.py."""

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
AWAY = "192.0.2.1"


def fail(
    database: Database, username: str, address: str = HOME, *, at: datetime | None = None
) -> None:
    with database.transaction() as session:
        throttle.record_failure(session, username, address, now=at or utcnow())


def wait(
    database: Database,
    username: str,
    address: str = HOME,
    *,
    at: datetime | None = None,
    limits: throttle.Limits = LIMITS,
) -> timedelta | None:
    with database.transaction(write=False) as session:
        return throttle.retry_after(session, username, address, now=at or utcnow(), limits=limits)


def failures(database: Database) -> int:
    with database.transaction(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(LoginFailure)) or 0)


def test_a_username_is_paused_at_its_limit_from_that_address_only(database: Database) -> None:
    for _ in range(LIMITS.per_account - 1):
        fail(database, "secretary")
    assert wait(database, "secretary") is None
    fail(database, "secretary")
    assert wait(database, "secretary") is not None
    # The owner elsewhere is not paused: strangers' guesses lock out no one but themselves.
    assert wait(database, "secretary", AWAY) is None
    assert wait(database, "member", HOME) is None


def test_guesses_spread_over_addresses_pause_none_of_them_below_the_limit(
    database: Database,
) -> None:
    for attempt in range(LIMITS.per_account * 3):
        fail(database, "secretary", f"203.0.113.{attempt % 3}")
    for attempt in range(3):
        assert wait(database, "secretary", f"203.0.113.{attempt}") is not None
    assert wait(database, "secretary", AWAY) is None


def test_case_and_spaces_do_not_make_another_username(database: Database) -> None:
    for typed in ("member", "Member", " MEMBER ", "mEmber", "member "):
        fail(database, typed)
    assert wait(database, "MEMBER") is not None


def test_the_pause_doubles_with_every_failure_past_the_limit_up_to_the_window(
    database: Database,
) -> None:
    start = utcnow() - timedelta(hours=2)
    expected = [1, 2, 4, 8, 15, 15]
    for failure in range(LIMITS.per_account - 1):
        fail(database, "member", at=start + timedelta(seconds=failure))
    at = start + timedelta(minutes=1)
    for minutes in expected:
        fail(database, "member", at=at)
        assert wait(database, "member", at=at) == timedelta(minutes=minutes)
        assert wait(database, "member", at=at + timedelta(minutes=minutes)) is None
        at += timedelta(minutes=minutes)
    assert throttle.minutes_to_wait(timedelta(minutes=10)) == 10
    assert throttle.minutes_to_wait(timedelta(seconds=61)) == 2
    assert throttle.minutes_to_wait(timedelta(seconds=1)) == 1


def test_failures_are_forgotten_after_a_day(database: Database) -> None:
    long_ago = utcnow() - throttle.FORGET_AFTER - timedelta(seconds=1)
    for _ in range(LIMITS.per_account + 3):
        fail(database, "member", at=long_ago)
    fail(database, "member")
    assert wait(database, "member") is None


def test_an_address_is_throttled_at_its_limit_whatever_the_usernames(
    database: Database,
) -> None:
    for attempt in range(LIMITS.per_address - 1):
        fail(database, f"guess{attempt}")
    assert wait(database, "another-guess") is None
    fail(database, "guess-last")
    assert wait(database, "another-guess") is not None
    # Another address, trying a username with no failures, is not affected.
    assert wait(database, "another-guess", AWAY) is None


def test_the_address_limit_ends_when_its_oldest_counted_failure_leaves_the_window(
    database: Database,
) -> None:
    limits = throttle.Limits(window=LIMITS.window, per_account=100, per_address=5)
    start = utcnow() - timedelta(minutes=10)
    for minute in range(6):  # at start+0 .. start+5 minutes, six usernames
        fail(database, f"guess{minute}", at=start + timedelta(minutes=minute))
    now = start + timedelta(minutes=6)
    # Six failures, limit five: blocked until the second one (start+1) leaves the window.
    assert wait(database, "member", at=now, limits=limits) == timedelta(minutes=10)
    assert wait(database, "member", at=start + timedelta(minutes=16), limits=limits) is None


def test_an_unknown_username_counts_like_a_known_one(database: Database) -> None:
    # Nothing here knows which accounts exist (there are none): the count is by the
    # username as typed.
    for _ in range(LIMITS.per_account):
        fail(database, "nobody-has-this-name")
    assert wait(database, "nobody-has-this-name") is not None


def test_the_right_secret_forgets_that_usernames_failures_from_that_address_only(
    database: Database,
) -> None:
    for _ in range(5):
        fail(database, "member", HOME)
        fail(database, "member", AWAY)
    with database.transaction() as session:
        throttle.clear_failures(session, " Member", AWAY)
    assert wait(database, "member", AWAY) is None
    # The guesses from elsewhere keep their pause.
    assert wait(database, "member", HOME) is not None

    # An attacker's guesses at other usernames stay counted for the address when the
    # attacker signs in to an own account in between.
    limits = throttle.Limits(window=LIMITS.window, per_account=5, per_address=8)
    for attempt in range(8):
        fail(database, f"victim{attempt}", "203.0.113.9")
    assert wait(database, "eve", "203.0.113.9", limits=limits) is not None
    with database.transaction() as session:
        throttle.clear_failures(session, "eve", "203.0.113.9")
    assert wait(database, "eve", "203.0.113.9", limits=limits) is not None


def test_checked_runs_the_check_only_while_not_paused(database: Database) -> None:
    ran: list[str] = []

    def attempt(right: bool) -> throttle.Checked[bool]:
        with database.transaction() as session:
            return throttle.checked(
                session,
                "member",
                HOME,
                lambda: ran.append("x") or right,
                now=utcnow(),
                limits=LIMITS,
            )

    for _ in range(LIMITS.per_account):
        assert not attempt(False).result
    refused = attempt(True)
    assert refused.throttled and refused.result is None
    assert len(ran) == LIMITS.per_account
    assert failures(database) == LIMITS.per_account


def test_recording_a_failure_prunes_the_ones_too_old_to_count(database: Database) -> None:
    now = utcnow()
    for hours in (30, 25, 23, 1):
        fail(database, "member", at=now - timedelta(hours=hours))
    # Each record pruned what was too old at its own time: -30 and -25 went when -1 was
    # recorded.
    assert failures(database) == 2
    with database.transaction() as session:
        assert throttle.prune(session, now=now + timedelta(days=1)) == 2
    assert failures(database) == 0


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_of_zero_or_less_turns_that_count_off(database: Database, limit: int) -> None:
    limits = throttle.Limits(window=LIMITS.window, per_account=limit, per_address=limit)
    for _ in range(10):
        fail(database, "member")
    assert wait(database, "member", limits=limits) is None


def test_long_usernames_and_addresses_fit_their_columns(database: Database) -> None:
    long_name = "x" * 500
    for _ in range(LIMITS.per_account):
        fail(database, long_name, "2001:db8::" + "f" * 200)
    assert wait(database, long_name, "2001:db8::" + "f" * 200) is not None
