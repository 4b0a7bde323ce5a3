"""Signing in with a username and password: throttled (service/accounts/throttle.py)
and written to the audit log, whatever the outcome.

The audit line names the username as typed (never the password), the client's address
and the outcome; an unknown username gets a line too (someone tried it), with no
account number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts import throttle
from service.accounts.passwords import authenticate
from service.audit.events import (
    SIGN_IN,
    SIGN_IN_FAILURE,
    SIGN_IN_SUCCESS,
    SIGN_IN_THROTTLED,
    record_event,
)
from service.persistence.models import Account, AuditEvent, LoginFailure, Member

# The width of the username column: a longer "username" is no username of ours, and
# the audit line keeps no more of it.
USERNAME_SHOWN = 64


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class SignInResult:
    outcome: Outcome
    account: Account | None = None
    wait: timedelta | None = None  # when throttled: how long until the next attempt


def sign_in(
    session: Session,
    username: str,
    password: str,
    *,
    address: str,
    now: datetime,
    limits: throttle.Limits,
) -> SignInResult:
    """Check the credentials unless this username from this address is paused. An empty
    username or password checks nothing, so it is neither counted nor audited."""
    username = username.strip()
    if not username or not password:
        wait = throttle.retry_after(session, username, address, now=now, limits=limits)
        return SignInResult(Outcome.THROTTLED if wait else Outcome.FAILURE, wait=wait)
    found = throttle.checked(
        session,
        username,
        address,
        lambda: authenticate(session, username, password),
        now=now,
        limits=limits,
    )
    if found.throttled:
        assert found.wait is not None
        if not _refusal_recorded(session, username, address):
            _audit(
                session,
                SIGN_IN_THROTTLED,
                username,
                address,
                actor_id=None,
                after={"wait_minutes": throttle.minutes_to_wait(found.wait)},
            )
        return SignInResult(Outcome.THROTTLED, wait=found.wait)
    account = found.result
    if account is None:
        _audit(session, SIGN_IN_FAILURE, username, address, actor_id=None)
        return SignInResult(Outcome.FAILURE)
    _audit(session, SIGN_IN_SUCCESS, username, address, actor_id=account.id)
    return SignInResult(Outcome.SUCCESS, account=account)


def _refusal_recorded(session: Session, username: str, address: str) -> bool:
    """Whether this pause was logged already: one line says an address was refused for a
    username, not one per refused request (an attacker's burst would flood the log,
    which keeps every line for ever). A pause starts at a failure from the address, so
    a refusal logged since the address's latest failure is this pause's."""
    latest_failure = session.scalar(
        select(func.max(LoginFailure.at)).where(
            LoginFailure.address == throttle.address_key(address)
        )
    )
    if latest_failure is None:
        return False
    logged = session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.kind == SIGN_IN_THROTTLED,
            AuditEvent.at >= latest_failure,
            AuditEvent.ip_address == address[:64],
            func.lower(AuditEvent.summary) == throttle.username_key(username),
        )
        .limit(1)
    )
    return logged is not None


def _audit(
    session: Session,
    kind: str,
    username: str,
    address: str,
    *,
    actor_id: int | None,
    after: dict[str, int] | None = None,
) -> None:
    """One line per attempt, found by the account it was meant for (object id) when the
    username is an account's, and by the username as typed (summary) either way."""
    known = session.execute(
        select(Account.id, Member.branch_id)
        .outerjoin(Member, Member.id == Account.member_id)
        .where(Account.username == username)
    ).first()
    record_event(
        session,
        kind,
        SIGN_IN,
        known.id if known is not None else None,
        summary=username[:USERNAME_SHOWN],
        branch_id=known.branch_id if known is not None else None,
        after=after,
        actor_id=actor_id,
        ip_address=address,
    )
