"""Accounts, passwords and server-side sign-in sessions."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from service.audit import capture as audit
from service.kernel.errors import InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.persistence.models import (
    Account,
    AuditEvent,
    Branch,
    Member,
    Role,
    RoleGrant,
    WebSession,
)

# OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
# Writing last_seen_at on every request would turn every page view into a write
# transaction; a minute's resolution is plenty for a 30-minute idle timeout.
TOUCH_INTERVAL = timedelta(minutes=1)


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


@dataclass(frozen=True)
class Principal:
    """Who is acting: an account with its roles and, when it has one, its member record."""

    account_id: int
    username: str
    display_name: str
    member_id: int | None
    member_branch_id: int | None
    member_branch_name: str | None
    grants: frozenset[tuple[Role, int | None]]
    session_id: str | None = None
    # Signed in with an initial or reset password: nothing but choosing a new one is
    # allowed until it is changed (see ``resolve_session``).
    must_change_password: bool = False

    @property
    def is_admin(self) -> bool:
        return any(role is Role.ADMIN for role, _ in self.grants)

    def branches_with(self, *roles: Role) -> frozenset[int]:
        return frozenset(b for role, b in self.grants if role in roles and b is not None)

    @property
    def branches_with_secretary(self) -> frozenset[int]:
        return self.branches_with(Role.SECRETARY)

    @property
    def reviewer_branch_ids(self) -> frozenset[int]:
        return self.branches_with(Role.SECRETARY, Role.INSTRUCTOR)

    @property
    def is_reviewer(self) -> bool:
        return self.is_admin or bool(self.reviewer_branch_ids)

    def can_review_branch(self, branch_id: int) -> bool:
        return self.is_admin or branch_id in self.reviewer_branch_ids

    @property
    def role_names(self) -> list[str]:
        return sorted({role.value for role, _ in self.grants})


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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: Session,
    account: Account,
    *,
    now: datetime,
    ip_address: str = "",
    user_agent: str = "",
    replaces_token: str | None = None,
) -> str:
    """Create a new session for ``account`` and return its cookie token.

    Any session the browser held before signing in is ended, so a token planted before
    sign-in is worthless afterwards (session fixation).
    """
    if replaces_token:
        session.execute(delete(WebSession).where(WebSession.id == _digest(replaces_token)))
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=_digest(token),
            account_id=account.id,
            created_at=now,
            last_seen_at=now,
            ip_address=ip_address[:64],
            user_agent=user_agent[:255],
        )
    )
    account.last_login_at = now
    session.flush()
    return token


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == _digest(token)))


def prune_sessions(session: Session, *, now: datetime, idle: timedelta, absolute: timedelta) -> int:
    """Delete every session past its idle or absolute timeout; how many.

    ``resolve_session`` already refuses them; this only keeps abandoned sessions (a
    browser never opened again) from piling up in the table.
    """
    result = session.execute(
        delete(WebSession).where(
            or_(WebSession.last_seen_at < now - idle, WebSession.created_at < now - absolute)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class SessionLookup:
    """What a cookie token stands for.

    ``principal`` is the signed-in person every page sees. A session whose account must
    change its password (an initial or reset password) has no ``principal``: it grants
    nothing but the password change page, which reads it from ``password_change``. So
    every other page treats the browser as signed out and sends it to /login, which
    forwards it to /account/password.
    """

    principal: Principal | None
    needs_touch: bool = False
    expired: bool = False
    password_change: Principal | None = None


def resolve_session(
    session: Session, token: str, *, now: datetime, idle: timedelta, absolute: timedelta
) -> SessionLookup:
    """The principal behind a cookie token, enforcing idle and absolute timeouts."""
    record = session.get(WebSession, _digest(token))
    if record is None:
        return SessionLookup(None)
    if now - record.last_seen_at > idle or now - record.created_at > absolute:
        return SessionLookup(None, expired=True)
    principal = load_principal(session, record.account_id, session_id=record.id)
    if principal is None:
        return SessionLookup(None, expired=True)
    needs_touch = now - record.last_seen_at > TOUCH_INTERVAL
    if principal.must_change_password:
        return SessionLookup(None, needs_touch=needs_touch, password_change=principal)
    return SessionLookup(principal, needs_touch=needs_touch)


def touch_session(session: Session, token: str, now: datetime) -> None:
    record = session.get(WebSession, _digest(token))
    if record is not None:
        record.last_seen_at = now


def load_principal(
    session: Session, account_id: int, *, session_id: str | None = None
) -> Principal | None:
    account = session.get(Account, account_id)
    if account is None or not account.is_active:
        return None
    grants = frozenset(
        (grant.role, grant.branch_id)
        for grant in session.scalars(select(RoleGrant).where(RoleGrant.account_id == account_id))
    )
    branch_id = branch_name = None
    if account.member_id is not None:
        row = session.execute(
            select(Member.branch_id, Branch.name)
            .join(Branch, Branch.id == Member.branch_id)
            .where(Member.id == account.member_id)
        ).one()
        branch_id, branch_name = row.branch_id, row.name
    return Principal(
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        member_id=account.member_id,
        member_branch_id=branch_id,
        member_branch_name=branch_name,
        grants=grants,
        session_id=session_id,
        must_change_password=account.must_change_password,
    )


# --- passwords chosen by people, and the office's account actions -----------------------

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


def end_account_sessions(session: Session, account_id: int, *, keep: str | None = None) -> int:
    """End every session of the account (but ``keep``, a session id); how many ended."""
    query = delete(WebSession).where(WebSession.account_id == account_id)
    if keep is not None:
        query = query.where(WebSession.id != keep)
    result = session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


def session_id_of(token: str) -> str:
    return _digest(token)


SESSIONS_ENDED_KIND = "account.end_sessions"


def end_sessions_by_office(session: Session, actor: Principal, account_id: int) -> int:
    """The office ends every session of an account at once (a lost phone, a shared
    computer left signed in); how many ended. The account stays enabled: its owner
    simply signs in again. Acting on its own account, the office keeps the session it
    acts from, so the office is not thrown out mid-action.

    Ending sessions changes no audited record (sessions are not), so the audit line is
    written here, with the same who and from where as the session hook's lines.
    """
    if not actor.is_admin:
        raise PermissionDenied(Message(N_("Only the organisation office may do this.")))
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(Message(N_("No such account.")))
    keep = actor.session_id if account.id == actor.account_id else None
    ended = end_account_sessions(session, account.id, keep=keep)
    if not audit.is_suspended():
        context = audit.current_context()
        branch_id = (
            session.scalar(select(Member.branch_id).where(Member.id == account.member_id))
            if account.member_id is not None
            else None
        )
        session.add(
            AuditEvent(
                actor_id=context.actor_id,
                ip_address=context.ip_address,
                kind=SESSIONS_ENDED_KIND,
                object_type="account",
                object_id=str(account.id),
                branch_id=branch_id,
                summary=account.username,
                before=None,
                after=json.dumps({"sessions_ended": ended}),
            )
        )
    session.flush()
    return ended


def change_password(
    session: Session,
    account_id: int,
    current: str,
    new: str,
    confirmation: str,
    *,
    keep_session_id: str | None = None,
) -> None:
    """Set a password the person chose: checks the current one, that the new one is long
    enough, not common, not the username, differs from the current one and matches its
    confirmation. Clears the must-change flag and ends the account's other sessions."""
    account = session.get(Account, account_id)
    if account is None or not account.is_active:
        raise NotFound(Message(N_("No such account.")))
    errors: dict[str, Message] = {}
    if not verify_password(account.password_hash, current):
        errors["current"] = Message(N_("This is not your current password."))
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
