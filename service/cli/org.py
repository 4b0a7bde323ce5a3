"""`jifen accounts`, `jifen branches`, `jifen organisations`, `jifen members`: the
office's people administration from a terminal.

Each command acts as an office (admin) account (``--by USERNAME``, default: the only
admin account), through the same service functions and checks as the web pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.cli.common import (
    BY_OPTION,
    acting_office,
    cli_database,
    cli_settings,
    domain_failure,
    fail,
)
from service.kernel.i18n import terminal_gettext as _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _parse_role(session: Session, text: str) -> tuple[str, int]:
    from sqlalchemy import select

    from service.persistence.models import Branch

    role, _sep, code = text.partition(":")
    if role not in {"secretary", "instructor"} or not code:
        raise fail(
            _("--role %(value)s: write secretary:BRANCHCODE or instructor:BRANCHCODE")
            % {"value": repr(text)}
        )
    branch_id = session.scalar(select(Branch.id).where(Branch.code == code))
    if branch_id is None:
        raise fail(
            _("--role %(value)s: no branch with code %(code)s")
            % {"value": repr(text), "code": repr(code)}
        )
    return role, branch_id


@click.group()
def accounts() -> None:
    """Sign-in accounts: create, reset a password, disable or enable."""


@accounts.command("create")
@click.argument("username")
@click.option(
    "--name",
    "display_name",
    default=None,
    help="The name shown on pages (default with --member: the member's name).",
)
@click.option(
    "--member", "member_code", default=None, help="Member number of a member's own account."
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE:BRANCHCODE|admin",
    help="secretary:CODE or instructor:CODE (repeatable), or admin.",
)
@BY_OPTION
def accounts_create(
    username: str,
    display_name: str | None,
    member_code: str | None,
    roles: tuple[str, ...],
    by_username: str | None,
) -> None:
    """Create an account and print its initial password (to be changed at first
    sign-in)."""
    from service.accounts.admin import AccountInput, RolesInput, create_account, parse_account
    from service.accounts.passwords import new_initial_password
    from service.kernel.errors import DomainError

    if display_name is None and member_code is None:
        raise fail(_("--name is required unless --member names the account's member"))
    password = new_initial_password()
    try:
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            if display_name is None:
                display_name = _member_name(session, member_code or "")
            secretary: set[int] = set()
            instructor: set[int] = set()
            admin = False
            for text in roles:
                if text == "admin":
                    admin = True
                    continue
                role, branch_id = _parse_role(session, text)
                (secretary if role == "secretary" else instructor).add(branch_id)
            role_input = RolesInput(frozenset(secretary), frozenset(instructor), admin)
            data: AccountInput = parse_account(
                {
                    "username": username,
                    "display_name": display_name,
                    "member_code": member_code or "",
                    "password": password,
                },
                role_input,
            )
            create_account(session, principal, data)
    except DomainError as exc:
        raise domain_failure(exc) from exc
    created = _(
        "account %(username)s created; initial password (must be changed at first sign-in):"
    )
    click.echo(created % {"username": username})
    click.echo(password)


def _member_name(session: Session, member_code: str) -> str:
    from sqlalchemy import select

    from service.persistence.models import Member

    name = session.scalar(select(Member.name).where(Member.code == member_code))
    if name is None:
        raise fail(_("--member: no member with number %(code)s") % {"code": repr(member_code)})
    return name


@accounts.command("create-bulk")
@click.option("--branch", "branch_code", default=None, help="The branch's code.")
@click.option("--all", "whole_town", is_flag=True, help="Every branch of the town.")
@click.option(
    "--sheet",
    "sheet_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The XLSX handout to write (refused if it exists).",
)
@BY_OPTION
def accounts_create_bulk(
    branch_code: str | None, whole_town: bool, sheet_path: Path, by_username: str | None
) -> None:
    """Create accounts for the members of a branch (or the town) who have none, with
    one-time passwords written to an XLSX handout (readable by its owner only)."""
    import os

    from service.accounts.bulk import branch_id_by_code, create_bulk_accounts
    from service.accounts.handout import handout_xlsx
    from service.kernel.errors import DomainError
    from service.kernel.i18n import terminal_render

    if (branch_code is None) == (not whole_town):
        raise fail(_("say which members: --branch CODE or --all"))
    if sheet_path.exists():
        raise fail(
            _("%(path)s exists: choose a new file name (nothing was created)")
            % {"path": sheet_path}
        )
    try:
        # Opened first, before any account exists: a folder that is missing or not
        # writable stops the command with nothing created. 0600: the file holds passwords.
        descriptor = os.open(sheet_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise fail(f"{sheet_path}: {exc.strerror}") from exc
    settings = cli_settings()
    if not settings.public_url:
        click.echo(
            _("note: JIFEN_PUBLIC_URL is not set, so the sheet says only /login as the address"),
            err=True,
        )
    written = False
    try:
        with os.fdopen(descriptor, "wb") as sheet:
            with cli_database().transaction() as session:
                principal = acting_office(session, by_username)
                branch_id = None if whole_town else branch_id_by_code(session, branch_code or "")
                result = create_bulk_accounts(session, principal, branch_id)
                sheet.write(
                    handout_xlsx(
                        result.created,
                        town_name=settings.town_name or "",
                        sign_in_url=sign_in_url(settings.public_url or ""),
                        gettext=_,
                    )
                )
                sheet.flush()
                os.fsync(sheet.fileno())
            written = True
    except DomainError as exc:
        raise domain_failure(exc) from exc
    finally:
        if not written:
            sheet_path.unlink(missing_ok=True)
    click.echo(
        _("%(created)d accounts created, %(skipped)d members skipped; handout: %(path)s")
        % {"created": len(result.created), "skipped": len(result.skipped), "path": sheet_path}
    )
    for skipped in result.skipped:
        reason = terminal_render(skipped.skipped) if skipped.skipped else ""
        click.echo(f"  {skipped.member_code}\t{skipped.member_name}\t{reason}")


def sign_in_url(public_url: str) -> str:
    """Where a member signs in: the public address's /login, or just /login."""
    return public_url.rstrip("/") + "/login"


@accounts.command("reset-password")
@click.argument("username")
@BY_OPTION
def accounts_reset_password(username: str, by_username: str | None) -> None:
    """Give USERNAME a new initial password (printed) and end all its sessions."""
    from service.accounts.admin import account_id_by_username, reset_password
    from service.accounts.passwords import new_initial_password
    from service.kernel.errors import DomainError

    password = new_initial_password()
    try:
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            reset_password(session, principal, account_id_by_username(session, username), password)
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        _("password of %(username)s reset; its sessions ended. New initial password:")
        % {"username": username}
    )
    click.echo(password)


@accounts.command("disable")
@click.argument("username")
@BY_OPTION
def accounts_disable(username: str, by_username: str | None) -> None:
    """Disable USERNAME: it cannot sign in and its sessions end now; its history stays."""
    from service.accounts.admin import account_id_by_username, disable_account
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow

    try:
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            disable_account(
                session, principal, account_id_by_username(session, username), now=utcnow()
            )
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        _("account %(username)s disabled and signed out everywhere") % {"username": username}
    )


@accounts.command("enable")
@click.argument("username")
@BY_OPTION
def accounts_enable(username: str, by_username: str | None) -> None:
    """Enable USERNAME again."""
    from service.accounts.admin import account_id_by_username, enable_account
    from service.kernel.errors import DomainError

    try:
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            enable_account(session, principal, account_id_by_username(session, username))
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(_("account %(username)s enabled") % {"username": username})


@click.group()
def branches() -> None:
    """Party branches."""


@branches.command("list")
@BY_OPTION
def branches_list(by_username: str | None) -> None:
    """Every branch: code, kind, active members, organisations covered, name."""
    from service.kernel.errors import DomainError
    from service.people.branches import list_branches

    try:
        with cli_database().transaction(write=False) as session:
            rows = list_branches(session, acting_office(session, by_username))
    except DomainError as exc:
        raise domain_failure(exc) from exc
    # Tab-separated for scripts: the header and the values stay as they are in any language.
    click.echo("code\tkind\tmembers\torganisations\tname")
    for row in rows:
        click.echo(f"{row.code}\t{row.kind}\t{row.members}\t{len(row.organisations)}\t{row.name}")


@click.group()
def members() -> None:
    """Party members."""


@members.command("list")
@click.option("--branch", "branch_code", default=None, help="Only this branch (its code).")
@BY_OPTION
def members_list(branch_code: str | None, by_username: str | None) -> None:
    """Members by number: code, name, branch, status, active or the day they left."""
    from sqlalchemy import select

    from service.kernel.errors import DomainError
    from service.people.members import search_members
    from service.persistence.models import Branch
    from service.persistence.pagination import PAGE_SIZE

    try:
        with cli_database().transaction(write=False) as session:
            principal = acting_office(session, by_username)
            branch_id = None
            if branch_code is not None:
                branch_id = session.scalar(select(Branch.id).where(Branch.code == branch_code))
                if branch_id is None:
                    raise fail(_("no branch with code %(code)s") % {"code": repr(branch_code)})
            rows = []
            page = 1
            while True:
                result = search_members(session, principal, branch_id=branch_id, page=page)
                rows.extend(result.items)
                if page >= result.pages or len(result.items) < PAGE_SIZE:
                    break
                page += 1
    except DomainError as exc:
        raise domain_failure(exc) from exc
    # Tab-separated for scripts: the header and the values stay as they are in any language.
    click.echo("code\tname\tbranch\tstatus\tstate")
    for row in rows:
        state = "active" if row.active else f"left {row.left_on or ''}".strip()
        click.echo(f"{row.code}\t{row.name}\t{row.branch_name}\t{row.status}\t{state}")


@branches.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--kind", type=click.Choice(["single", "joint"]), required=True)
@BY_OPTION
def branches_create(code: str, name: str, kind: str, by_username: str | None) -> None:
    """Add a branch: single (one organisation) or joint (several)."""
    from service.kernel.errors import DomainError
    from service.people.branches import create_branch, parse_branch

    try:
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            data = parse_branch({"code": code, "name": name, "kind": kind})
            create_branch(session, principal, data)
    except DomainError as exc:
        raise domain_failure(exc) from exc
    # The kind stays the word --kind takes (single, joint).
    click.echo(
        _("branch %(code)s %(name)s (%(kind)s) created")
        % {"code": code, "name": name, "kind": kind}
    )


@click.group()
def organisations() -> None:
    """Enterprises and social organisations with their 五清 facts."""


@organisations.command("list")
@click.option("--search", default="", help="Part of a name, owner, branch name or code.")
@BY_OPTION
def organisations_list(search: str, by_username: str | None) -> None:
    """Organisations: branch, kind, business status, employees, members, owner, name."""
    from service.kernel.errors import DomainError
    from service.people.organisations import list_organisations

    try:
        with cli_database().transaction(write=False) as session:
            principal = acting_office(session, by_username)
            first = list_organisations(session, principal, search)
            rows = list(first.items)
            for number in range(2, first.pages + 1):
                rows += list_organisations(session, principal, search, number).items
    except DomainError as exc:
        raise domain_failure(exc) from exc
    # Tab-separated for scripts: the header and the values stay as they are in any language.
    click.echo("branch\tkind\tstatus\temployees\tmembers\towner\tname")
    for row in rows:
        click.echo(
            f"{row.branch_code}\t{row.kind}\t{row.business_status}\t{row.employee_count}\t"
            f"{row.members}\t{row.owner_name}\t{row.name}"
        )


@organisations.command("create")
@click.argument("name")
@click.option("--branch", "branch_code", required=True, help="The covering branch's code.")
@click.option("--kind", type=click.Choice(["enterprise", "social"]), required=True)
@click.option(
    "--status",
    "business_status",
    type=click.Choice(["operating", "suspended", "closed"]),
    default="operating",
)
@click.option("--employees", "employee_count", type=click.IntRange(min=0), required=True)
@click.option("--owner", "owner_name", required=True, help="The owner or legal representative.")
@BY_OPTION
def organisations_create(
    name: str,
    branch_code: str,
    kind: str,
    business_status: str,
    employee_count: int,
    owner_name: str,
    by_username: str | None,
) -> None:
    """Add an organisation under a branch (a single branch covers exactly one)."""
    from sqlalchemy import select

    from service.kernel.errors import DomainError
    from service.people.organisations import create_organisation, parse_organisation
    from service.persistence.models import Branch

    try:
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            branch_id = session.scalar(select(Branch.id).where(Branch.code == branch_code))
            if branch_id is None:
                raise fail(
                    _("--branch: no branch with code %(code)s") % {"code": repr(branch_code)}
                )
            data = parse_organisation(
                {
                    "name": name,
                    "kind": kind,
                    "branch_id": str(branch_id),
                    "business_status": business_status,
                    "employee_count": str(employee_count),
                    "owner_name": owner_name,
                }
            )
            create_organisation(session, principal, data)
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        _("organisation %(name)s created under %(branch)s") % {"name": name, "branch": branch_code}
    )
