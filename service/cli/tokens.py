"""`jifen tokens`: API tokens for the JSON API from a terminal (issue, list, revoke).

Each command acts as an office (admin) account (``--by USERNAME``, default: the only
admin account) through service/accounts/api_tokens.py, as the account page does, and
is audited as coming from the command line.
"""

from __future__ import annotations

import click

from service.accounts.api_tokens import MAX_DAYS
from service.cli.common import (
    BY_OPTION,
    acting_office,
    cli_database,
    domain_failure,
    town_time,
)
from service.kernel.i18n import N_
from service.kernel.i18n import terminal_gettext as _


@click.group()
def tokens() -> None:
    """API tokens: bearer credentials for the JSON API, acting as an account."""


@tokens.command("issue")
@click.argument("username")
@click.option("--name", "name", required=True, help="What the token is for (the system using it).")
@click.option(
    "--days",
    type=click.IntRange(1, MAX_DAYS),
    default=None,
    help="Expire after this many days (default: valid until revoked).",
)
@BY_OPTION
def tokens_issue(username: str, name: str, days: int | None, by_username: str | None) -> None:
    """Issue a token acting as USERNAME (with its roles) and print it, once.

    The token itself goes to standard output alone, so it can be piped into a secret
    store; only its SHA-256 is kept, so it cannot be shown again.
    """
    from service.accounts.admin import account_id_by_username
    from service.accounts.api_tokens import issue_token
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow

    try:
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            issued = issue_token(
                session,
                principal,
                account_id_by_username(session, username),
                name,
                days=days,
                now=utcnow(),
            )
    except DomainError as exc:
        raise domain_failure(exc) from exc
    values = {"id": issued.id, "prefix": issued.prefix, "username": username}
    if issued.expires_at:
        values["expiry"] = town_time(issued.expires_at)
        text = _(
            "token #%(id)s (%(prefix)s...) issued to %(username)s, expires: %(expiry)s. "
            "Copy it now, it is not shown again:"
        )
    else:
        text = _(
            "token #%(id)s (%(prefix)s...) issued to %(username)s, expires: never. "
            "Copy it now, it is not shown again:"
        )
    click.echo(text % values, err=True)
    click.echo(issued.secret)


@tokens.command("list")
@click.option("--account", "username", default=None, help="Only this account's tokens.")
@BY_OPTION
def tokens_list(username: str | None, by_username: str | None) -> None:
    """Every token (or one account's), newest first: id, prefix, account, name, state,
    issued, last used, expiry. Never the token itself."""
    from service.accounts.admin import account_id_by_username
    from service.accounts.api_tokens import list_tokens
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow

    try:
        with cli_database().transaction(write=False) as session:
            principal = acting_office(session, by_username)
            account_id = account_id_by_username(session, username) if username else None
            rows = list_tokens(session, principal, account_id=account_id)
    except DomainError as exc:
        raise domain_failure(exc) from exc
    if not rows:
        click.echo(_("no API tokens"))
        return
    now = utcnow()
    line = _(
        "#%(id)s  %(prefix)s...  %(username)s  %(name)s  %(state)s  "
        "issued %(issued)s by %(by)s  last used: %(used)s  expires: %(expires)s"
    )
    for row in rows:
        values = {
            "id": row.id,
            "prefix": row.prefix,
            "username": row.username,
            "name": repr(row.name),
            "state": _(_STATES[row.state(now)]),
            "issued": town_time(row.created_at),
            "by": row.created_by or "-",
            "used": town_time(row.last_used_at) if row.last_used_at else _("never used"),
            "expires": town_time(row.expires_at) if row.expires_at else _("no expiry"),
        }
        click.echo(line % values)


# A token's state as ``jifen tokens list`` shows it: in English the state's own name.
_STATES = {"active": N_("active"), "revoked": N_("revoked"), "expired": N_("expired")}


@tokens.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(1))
@BY_OPTION
def tokens_revoke(token_id: int, by_username: str | None) -> None:
    """Revoke token ID (see 'jifen tokens list'): its next request is refused."""
    from service.accounts.api_tokens import revoke_token
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow

    try:
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            revoke_token(session, principal, token_id, now=utcnow())
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(_("token #%(id)s revoked") % {"id": token_id})
