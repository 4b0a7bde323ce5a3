"""Server-side sign-in sessions: started at sign-in, rotated, touched, pruned and ended."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal, load_principal
from service.audit.events import record_account_event
from service.kernel.errors import NotFound
from service.kernel.i18n import N_, Message
from service.persistence.models import (
    Account,
    WebSession,
)

# Writing last_seen_at on every request would turn every page view into a write
# transaction; a minute's resolution is plenty for a 30-minute idle timeout.
TOUCH_INTERVAL = timedelta(minutes=1)


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
    require_admin(actor)
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(Message(N_("No such account.")))
    keep = actor.session_id if account.id == actor.account_id else None
    ended = end_account_sessions(session, account.id, keep=keep)
    record_account_event(session, SESSIONS_ENDED_KIND, account, after={"sessions_ended": ended})
    session.flush()
    return ended
