"""Passwords: argon2id hashing and checking, the rules for a chosen password, and
signing in and changing one's password.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts import throttle
from service.accounts.sessions import end_account_sessions
from service.audit.events import (
    PASSWORD_CHECK_FAILURE,
    PASSWORD_CHECK_THROTTLED,
    record_account_event,
)
from service.kernel.errors import InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.outbox.emit import emit
from service.outbox.facts import local_minute
from service.persistence.models import Account
from service.persistence.types import utcnow

# OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane.
ARGON2_TIME_COST = 2

ARGON2_MEMORY_KIB = 19 * 1024

ARGON2_PARALLELISM = 1


@lru_cache(maxsize=1)
def password_hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
    )


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, username: str, password: str) -> Account | None:
    """The active account with these credentials, or None.

    An unknown username still costs one hash verification so that response time does
    not reveal which usernames exist.
    """
    account = session.scalar(select(Account).where(Account.username == username.strip()))
    if account is None or not account.is_active:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(account.password_hash, password):
        return None
    if password_hasher().check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return account


MIN_PASSWORD_LENGTH = 10

# ASVS asks for at least 64 characters to be accepted; passphrases need the room, and
# argon2 hashes any length in the same time, so the cap only bounds the request.
MAX_PASSWORD_LENGTH = 256

COMMON_PASSWORDS_FILE = "data/common_passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The passwords too common to choose (service/accounts/data/common_passwords.txt, read once
    through the package's resources so that it is found in an installed wheel too)."""
    text = resources.files("service.accounts").joinpath(COMMON_PASSWORDS_FILE).read_text("utf-8")
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def is_common_password(password: str) -> bool:
    """Case-insensitive: "Password123" is guessed as early as "password123"."""
    return password.strip().lower() in common_passwords()


def chosen_password_problem(password: str, *, username: str) -> Message | None:
    """Why a password someone chose for themselves is refused, or None: too short, too
    long, their username, or on the list of common passwords."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return Message(N_("Use at least %(min)s characters."), {"min": MIN_PASSWORD_LENGTH})
    if len(password) > MAX_PASSWORD_LENGTH:
        return Message(N_("This text is too long."))
    if password.strip().lower() == username.strip().lower():
        return Message(N_("Do not use your username as your password."))
    if is_common_password(password):
        return Message(
            N_("This password is one of the most common ones and easily guessed. Choose another.")
        )
    return None


def new_initial_password() -> str:
    """A random initial password to hand over once (12 characters, no look-alikes)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def change_password(
    session: Session,
    account_id: int,
    current: str,
    new: str,
    confirmation: str,
    *,
    address: str,
    now: datetime,
    limits: throttle.Limits,
    keep_session_id: str | None = None,
) -> None:
    """Set a password the person chose: checks the current one, that the new one is long
    enough, not common, not the username, differs from the current one and matches its
    confirmation. Clears the must-change flag and ends the account's other sessions.

    The current password is a secret checked like a sign-in's, through the same throttle
    (a stolen session must not become a way to guess the password it lacks); a wrong or
    refused one is audited. Nothing else is written before every check passed, so the
    caller commits an ``InvalidInput`` as it is: the failure must count.
    """
    account = session.get(Account, account_id)
    if account is None or not account.is_active:
        raise NotFound(Message(N_("No such account.")))
    errors: dict[str, Message] = {}
    password_hash = account.password_hash
    found = throttle.checked(
        session,
        account.username,
        address,
        lambda: verify_password(password_hash, current),
        now=now,
        limits=limits,
    )
    if found.wait is not None:
        errors["current"] = _paused(found.wait)
        record_account_event(session, PASSWORD_CHECK_THROTTLED, account, ip_address=address)
    elif not found.result:
        errors["current"] = Message(N_("This is not your current password."))
        record_account_event(session, PASSWORD_CHECK_FAILURE, account, ip_address=address)
    problem = chosen_password_problem(new, username=account.username)
    if problem is not None:
        errors["new"] = problem
    elif "current" not in errors and new == current:
        errors["new"] = Message(N_("Choose a password different from the current one."))
    if "new" not in errors and new != confirmation:
        errors["confirmation"] = Message(N_("The two new passwords differ."))
    if errors:
        raise InvalidInput(errors)
    account.password_hash = hash_password(new)
    account.must_change_password = False
    end_account_sessions(session, account.id, keep=keep_session_id)
    session.flush()
    tell_password_changed(session, account, now=now)


def tell_password_changed(session: Session, account: Account, *, now: datetime | None) -> None:
    """The account's owner hears that its password changed (mandatory: a change they
    did not make is how they learn of a stolen account)."""
    when = now or utcnow()
    emit(
        session,
        "password_changed",
        params={"username": account.username, "date": local_minute(when)},
        link="/login",
        accounts=[account.id],
        now=when,
    )


def _paused(wait: timedelta) -> Message:
    minutes = throttle.minutes_to_wait(wait)
    if minutes == 1:
        return Message(N_("Too many wrong passwords. Try again in a minute."))
    return Message(N_("Too many wrong passwords. Try again in %(num)s minutes."), {"num": minutes})
