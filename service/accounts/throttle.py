"""Throttling guesses at secrets: sign-in passwords, the current password of a password
change, API tokens.

Failures live in the database (``login_failure``), not in process memory, so every
worker and every host behind the load balancer counts the same attempts. They are
counted per username *and* client address: a stranger's wrong passwords for
``secretary`` pause that stranger's address for that username, never the secretary
signing in from elsewhere (a throttle per username alone hands anyone a lock-out of
anyone). A username is counted as typed (trimmed, lower-cased) whether or not an
account has it, so the throttle does not reveal which accounts exist.

For one username from one address the first ``per_account`` failures cost nothing;
from then on every further failure doubles the pause before the next attempt (one
minute, two, four ... up to the window), and failures are forgotten a day after they
happened. An attempt made while paused is refused before the secret is checked and is
not counted, so a pause ends on time even under a steady attack.

Across usernames an address may fail ``per_address`` times within the window: one
address trying many usernames is guessing (several people may sign in from one office
network, so this limit is higher).

Counting and checking are one step (``checked``): the address's attempts are
serialised (a transaction-scoped advisory lock on PostgreSQL; SQLite's write
transactions, BEGIN IMMEDIATE, are serialised already), so parallel guesses from one
address see each other's failures and at most the limit of them are checked.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.kernel.config import Settings
from service.persistence.models import LoginFailure

# The width of login_failure.username and .address.
MAX_KEY_LENGTH = 64
# The pause after the limit is reached; each further failure doubles it (up to the window).
FIRST_PAUSE = timedelta(minutes=1)
# Failures older than this no longer count: a typo this morning is forgiven tonight.
FORGET_AFTER = timedelta(days=1)
# The first key of the PostgreSQL advisory lock: "JF", so that other advisory locks
# (none today) keyed by small numbers never wait on a sign-in.
LOCK_CLASS = 0x4A46

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """``per_account``: failures of one username from one address before the pauses
    begin; ``per_address``: failures of one address within ``window``, whatever the
    usernames; ``window`` is also the longest pause."""

    window: timedelta
    per_account: int
    per_address: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            window=timedelta(minutes=settings.login_window_minutes),
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
        )


def username_key(username: str) -> str:
    """The username as the throttle counts it: "Member " and "member" are one account,
    so changing the case or adding spaces does not buy more guesses."""
    return username.strip().lower()[:MAX_KEY_LENGTH]


def address_key(address: str) -> str:
    return address[:MAX_KEY_LENGTH]


def lock_address(session: Session, address: str) -> None:
    """Hold the address's attempts back until this transaction ends, so that counting,
    checking and recording are one step for it. On SQLite the write transaction
    (BEGIN IMMEDIATE) already holds the database's single write lock."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(address_key(address).encode()).digest()
    key = int.from_bytes(digest[:4], "big", signed=True)
    connection.execute(select(func.pg_advisory_xact_lock(LOCK_CLASS, key)))


def record_failure(session: Session, username: str, address: str, *, now: datetime) -> None:
    """Count one failure, and forget the failures too old to count (pruning here keeps
    the table as small as one day's failures)."""
    prune(session, now=now)
    session.add(LoginFailure(username=username_key(username), address=address_key(address), at=now))
    session.flush()


def prune(session: Session, *, now: datetime) -> int:
    """Delete failures too old to count; how many."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.at <= now - FORGET_AFTER))
    return int(getattr(result, "rowcount", 0) or 0)


def clear_failures(session: Session, username: str, address: str) -> None:
    """The right secret forgets the failures of that username from that address (the
    person found their password), and only those: another address's guesses at the
    same username keep their pause, and the address's guesses at other usernames still
    count, so signing in to one's own account between guesses resets nothing."""
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.username == username_key(username),
            LoginFailure.address == address_key(address),
        )
    )


def pause(failures: int, limit: int, window: timedelta) -> timedelta | None:
    """How long one username from one address waits after its latest failure, having
    failed ``failures`` times: nothing below the limit, then one minute, doubling with
    every further failure, at most the window."""
    if limit <= 0 or failures < limit:
        return None
    doublings = min(failures - limit, 20)
    longer: timedelta = FIRST_PAUSE * 2**doublings
    return min(window, longer)


def _pair_free_at(
    session: Session, username: str, address: str, *, now: datetime, limits: Limits
) -> datetime | None:
    failures, latest = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(
            LoginFailure.username == username_key(username),
            LoginFailure.address == address_key(address),
            LoginFailure.at > now - FORGET_AFTER,
        )
    ).one()
    wait = pause(int(failures or 0), limits.per_account, limits.window)
    if wait is None or latest is None:
        return None
    return latest + wait


def _address_free_at(
    session: Session, address: str, *, now: datetime, limits: Limits
) -> datetime | None:
    """When the ``per_address``-th most recent failure of the address leaves the window,
    or None when there are fewer within it."""
    if limits.per_address <= 0:
        return None
    oldest_that_counts = session.scalar(
        select(LoginFailure.at)
        .where(LoginFailure.address == address_key(address), LoginFailure.at > now - limits.window)
        .order_by(LoginFailure.at.desc())
        .offset(limits.per_address - 1)
        .limit(1)
    )
    if oldest_that_counts is None:
        return None
    return oldest_that_counts + limits.window


def retry_after(
    session: Session, username: str, address: str, *, now: datetime, limits: Limits
) -> timedelta | None:
    """How long until this username may be tried again from this address, or None when
    it may be tried now."""
    ends = [
        _pair_free_at(session, username, address, now=now, limits=limits),
        _address_free_at(session, address, now=now, limits=limits),
    ]
    latest = max((end for end in ends if end is not None), default=None)
    if latest is None or latest <= now:
        return None
    return latest - now


@dataclass(frozen=True)
class Checked(Generic[T]):
    """What ``checked`` found: ``wait`` when the attempt was refused unchecked (throttled),
    else ``result``, what the check returned (None or False: the secret was wrong)."""

    result: T | None = None
    wait: timedelta | None = None

    @property
    def throttled(self) -> bool:
        return self.wait is not None


def checked(
    session: Session,
    username: str,
    address: str,
    check: Callable[[], T | None],
    *,
    now: datetime,
    limits: Limits,
) -> Checked[T]:
    """Run ``check`` (which verifies a secret) unless this username from this address is
    paused; count a falsy result as a failure, forget the failures on a truthy one.

    Call it in a write transaction: the address's lock lasts until it ends, so that the
    failure is committed before a parallel attempt from the same address counts.
    """
    lock_address(session, address)
    wait = retry_after(session, username, address, now=now, limits=limits)
    if wait is not None:
        return Checked(wait=wait)
    result = check()
    if result:
        clear_failures(session, username, address)
    else:
        record_failure(session, username, address, now=now)
    return Checked(result=result)


def minutes_to_wait(wait: timedelta) -> int:
    """Whole minutes to tell the person, rounded up: "try again in 0 minutes" would
    invite an attempt that is still refused."""
    return max(1, math.ceil(wait.total_seconds() / 60))
