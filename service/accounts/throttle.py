"""Sign-in throttling: failed sign-ins counted per username and per client address.

Failures live in the database (``login_failure``), not in process memory, so every
worker and every host behind the load balancer counts the same attempts. A username is
counted as typed (trimmed, lower-cased) whether or not an account has it: an unknown
username is throttled exactly like a known one, so the throttle does not reveal which
accounts exist. An attempt made while throttled is refused before the password is
checked and is not counted again, so the window ends on time even under a steady
attack.

The address limit is higher than the username limit: several people may sign in from
one office network, but one address trying many usernames is guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.kernel.config import Settings
from service.persistence.models import LoginFailure

# The width of login_failure.username and .address.
MAX_KEY_LENGTH = 64


@dataclass(frozen=True)
class Limits:
    """How many failures within ``window`` throttle a username, and an address."""

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


def record_failure(
    session: Session, username: str, address: str, *, now: datetime, window: timedelta
) -> None:
    """Count one failed sign-in, and forget the failures that left the window (pruning
    here keeps the table as small as the attempts of one window)."""
    prune(session, now=now, window=window)
    session.add(
        LoginFailure(username=username_key(username), address=address[:MAX_KEY_LENGTH], at=now)
    )
    session.flush()


def prune(session: Session, *, now: datetime, window: timedelta) -> int:
    """Delete failures older than the window (they no longer count); how many."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.at <= now - window))
    return int(getattr(result, "rowcount", 0) or 0)


def clear_failures(session: Session, username: str) -> None:
    """A successful sign-in forgets the failures typed with that username (the person
    found their password), and only those: the failures an address made with other
    usernames still count, so signing in to one's own account between guesses does not
    reset an attacker's count for the address."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == username_key(username)))


def _blocked_until(
    session: Session,
    criterion: ColumnElement[bool],
    limit: int,
    *,
    now: datetime,
    window: timedelta,
) -> datetime | None:
    """When the ``limit``-th most recent failure in the window leaves it, or None when
    there are fewer than ``limit`` failures (not throttled)."""
    if limit <= 0:
        return None
    oldest_that_counts = session.scalar(
        select(LoginFailure.at)
        .where(criterion, LoginFailure.at > now - window)
        .order_by(LoginFailure.at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if oldest_that_counts is None:
        return None
    return oldest_that_counts + window


def retry_after(
    session: Session, username: str, address: str, *, now: datetime, limits: Limits
) -> timedelta | None:
    """How long until this username and this address may try again, or None when
    neither has reached its limit within the window."""
    ends = [
        _blocked_until(
            session,
            LoginFailure.username == username_key(username),
            limits.per_account,
            now=now,
            window=limits.window,
        ),
        _blocked_until(
            session,
            LoginFailure.address == address[:MAX_KEY_LENGTH],
            limits.per_address,
            now=now,
            window=limits.window,
        ),
    ]
    latest = max((end for end in ends if end is not None), default=None)
    if latest is None or latest <= now:
        return None
    return latest - now


def minutes_to_wait(wait: timedelta) -> int:
    """Whole minutes to tell the person, rounded up: "try again in 0 minutes" would
    invite an attempt that is still refused."""
    return max(1, math.ceil(wait.total_seconds() / 60))
