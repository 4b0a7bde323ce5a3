"""API tokens: bearer credentials for the JSON API, issued by the office to an account.

A request bearing a token acts as the token's account with that account's roles, so the
service layer's permission checks apply unchanged. The secret ("jft_" + 43 URL-safe
characters, 256 bits) is returned once, at issue; only its SHA-256 is stored. That is
enough, unlike for passwords: the secret is random, not chosen by a person, so there is
no dictionary to try against a leaked hash, and a fast hash lets every request look the
token up by an index instead of verifying candidates one by one.

A token stops working when it is revoked, when it expires, and while its account is
disabled. Issuing and revoking are audited (service/audit/capture.py: the hash is recorded as
"set", never its value).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from service.accounts import throttle
from service.accounts.permissions import require_admin
from service.accounts.principal import Principal, load_principal
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.fields import typed_int
from service.kernel.i18n import N_, Message
from service.persistence.models import Account, ApiToken

SCHEME_PREFIX = "jft_"
# "jft_" and four characters of the secret: enough to tell an account's tokens apart
# on a page, far too little to help guess one (the rest is 250 random bits).
DISPLAY_PREFIX_LENGTH = len(SCHEME_PREFIX) + 4
SECRET_BYTES = 32
# A token is "jft_" + 43 characters; anything much longer is not one of ours and is
# refused before it is hashed.
SECRET_MAX_LENGTH = 128
NAME_MAX = 80
MAX_DAYS = 3650
# Like sessions (service/accounts/sessions.py TOUCH_INTERVAL): recording every use would make
# every API read a write; a minute's resolution tells the office plenty.
TOUCH_INTERVAL = timedelta(minutes=1)
# The name the throttle counts refused bearer tokens under, per address: not a username
# anyone has (it has spaces and brackets), and a person typing it at the sign-in page
# would share the count of their own address only.
THROTTLE_KEY = "(api token)"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: ``secret`` exists only here, never in the database."""

    id: int
    secret: str
    prefix: str
    name: str
    account_id: int
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenRow:
    """A token as the office sees it (never the secret, never the hash)."""

    id: int
    account_id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """ "revoked", "expired" or "active"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def parse_days(text: str) -> int | None:
    """The form's "expires after N days": empty means never; else 1 to MAX_DAYS."""
    text = text.strip()
    if not text:
        return None
    days = typed_int(text, low=1, high=MAX_DAYS)
    if days is None:
        raise InvalidInput(
            {
                "days": Message(
                    N_("Enter a number of days from 1 to %(max)s, or leave it empty."),
                    {"max": MAX_DAYS},
                )
            }
        )
    return days


def issue_token(
    session: Session,
    actor: Principal,
    account_id: int,
    name: str,
    *,
    days: int | None,
    now: datetime,
) -> IssuedToken:
    """Issue a token acting as ``account_id``; the office only. ``name`` says what it is
    for (e.g. the integration using it); ``days`` how long it lasts (None: until
    revoked)."""
    require_admin(actor)
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(Message(N_("No such account.")))
    errors: dict[str, Message] = {}
    name = name.strip()
    if not name:
        errors["name"] = Message(N_("Say what the token is for, e.g. the system using it."))
    elif len(name) > NAME_MAX:
        errors["name"] = Message(N_("This text is too long."))
    if days is not None and not 1 <= days <= MAX_DAYS:
        errors["days"] = Message(
            N_("Enter a number of days from 1 to %(max)s, or leave it empty."), {"max": MAX_DAYS}
        )
    if errors:
        raise InvalidInput(errors)
    if not account.is_active:
        raise Conflict(Message(N_("The account is disabled: enable it before issuing a token.")))
    secret = SCHEME_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    expires_at = now + timedelta(days=days) if days is not None else None
    token = ApiToken(
        account_id=account.id,
        name=name,
        token_hash=digest(secret),
        prefix=secret[:DISPLAY_PREFIX_LENGTH],
        created_at=now,
        created_by_id=actor.account_id,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return IssuedToken(
        id=token.id,
        secret=secret,
        prefix=token.prefix,
        name=name,
        account_id=account.id,
        expires_at=expires_at,
    )


def list_tokens(
    session: Session, actor: Principal, *, account_id: int | None = None
) -> list[TokenRow]:
    """Tokens of one account (or of all), newest first; the office only."""
    require_admin(actor)
    owner = aliased(Account)
    issuer = aliased(Account)
    query = (
        select(ApiToken, owner.username, issuer.username)
        .join(owner, owner.id == ApiToken.account_id)
        .outerjoin(issuer, issuer.id == ApiToken.created_by_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    if account_id is not None:
        query = query.where(ApiToken.account_id == account_id)
    return [
        TokenRow(
            id=token.id,
            account_id=token.account_id,
            username=username,
            name=token.name,
            prefix=token.prefix,
            created_at=token.created_at,
            created_by=created_by,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )
        for token, username, created_by in session.execute(query)
    ]


def revoke_token(
    session: Session,
    actor: Principal,
    token_id: int,
    *,
    now: datetime,
    account_id: int | None = None,
) -> None:
    """Revoke a token at once (its next request gets 401); the office only.
    ``account_id``: the account page the request came through; the token must be that
    account's."""
    require_admin(actor)
    token = session.scalar(select(ApiToken).where(ApiToken.id == token_id).with_for_update())
    if token is None or (account_id is not None and token.account_id != account_id):
        raise NotFound(Message(N_("No such API token.")))
    if token.revoked_at is not None:
        raise Conflict(Message(N_("This token was revoked already.")))
    token.revoked_at = now
    token.revoked_by_id = actor.account_id
    session.flush()


@dataclass(frozen=True)
class TokenLookup:
    """What a bearer secret stands for: ``principal`` None means refused (unknown,
    revoked, expired, or its account disabled; the caller is not told which)."""

    principal: Principal | None
    token_id: int | None = None
    needs_touch: bool = False


def resolve_token(session: Session, secret: str, *, now: datetime) -> TokenLookup:
    """The principal a bearer secret acts as.

    The token is found by the SHA-256 of the secret, so the lookup time depends on that
    hash and not on how much of a guess matches a real secret; the stored hash is then
    compared in constant time all the same.
    """
    if not secret.startswith(SCHEME_PREFIX) or len(secret) > SECRET_MAX_LENGTH:
        return TokenLookup(None)
    hashed = digest(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hashed))
    if token is None or not hmac.compare_digest(token.token_hash, hashed):
        return TokenLookup(None)
    if token.revoked_at is not None:
        return TokenLookup(None)
    if token.expires_at is not None and token.expires_at <= now:
        return TokenLookup(None)
    principal = load_principal(session, token.account_id)  # None for a disabled account
    if principal is None:
        return TokenLookup(None)
    needs_touch = token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL
    return TokenLookup(principal, token.id, needs_touch)


def token_pause(
    session: Session, address: str, *, now: datetime, limits: throttle.Limits
) -> timedelta | None:
    """How long the address must wait before its bearer tokens are looked at again,
    having sent too many that were refused (the sign-in throttle, under THROTTLE_KEY)."""
    return throttle.retry_after(session, THROTTLE_KEY, address, now=now, limits=limits)


def record_refused_token(session: Session, address: str, *, now: datetime) -> None:
    """Count a refused bearer token of the address, in a write transaction.

    Unlike a password, a token is not checked under the address's lock: every API
    request would become a write transaction holding one lock per client host, and the
    check is one indexed lookup of a 256-bit secret's hash, where a few lookups more in
    a burst change nothing. What a burst cannot do is go on: the failures are counted
    (under the lock, so none is lost) and the pause refuses the next requests unchecked.
    """
    throttle.lock_address(session, address)
    throttle.record_failure(session, THROTTLE_KEY, address, now=now)


def touch_token(session: Session, token_id: int, now: datetime) -> None:
    """Record that the token was used (not audited: see service/audit/capture.py)."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now
        session.flush()
