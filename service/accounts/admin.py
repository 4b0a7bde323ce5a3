"""The office's account administration: accounts with their roles (secretary of a
branch, instructor of branches, office), initial passwords, disabling and enabling.
A disabled account keeps its history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    chosen_password_problem,
    hash_password,
    tell_password_changed,
)
from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.accounts.sessions import end_account_sessions
from service.audit.events import ACCOUNT_SETUP, record_account_event
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.fields import required_text, text_field
from service.kernel.i18n import N_, Message
from service.kernel.numbers import parse_id
from service.persistence.models import (
    Account,
    Branch,
    Member,
    Role,
    RoleGrant,
)
from service.persistence.pagination import PAGE_SIZE, Page, fetch_page, matching

ROLE_LABELS = {
    Role.MEMBER.value: N_("member"),
    Role.SECRETARY.value: N_("secretary"),
    Role.INSTRUCTOR.value: N_("instructor"),
    Role.ADMIN.value: N_("organisation office"),
}

# The advisory lock key of ``create_first_admin`` (PostgreSQL), "jifen setup" in ASCII.
SETUP_LOCK_KEY = 0x6A6966656E5F7375

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")


@dataclass(frozen=True)
class AccountRow:
    id: int
    username: str
    display_name: str
    member_code: str | None
    member_name: str | None
    roles: tuple[tuple[str, str | None], ...]  # (role, branch name)
    is_active: bool
    disabled_at: datetime | None
    must_change_password: bool
    last_login_at: datetime | None


@dataclass(frozen=True)
class RolesInput:
    secretary_of: frozenset[int] = frozenset()
    instructor_of: frozenset[int] = frozenset()
    admin: bool = False


@dataclass(frozen=True)
class AccountInput:
    username: str
    display_name: str
    member_code: str | None
    password: str
    roles: RolesInput = field(default_factory=RolesInput)


def password_problem(password: str) -> Message | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return Message(N_("Use at least %(min)s characters."), {"min": MIN_PASSWORD_LENGTH})
    if len(password) > MAX_PASSWORD_LENGTH:
        return Message(N_("This text is too long."))
    return None


RoleNames = dict[int, list[tuple[str, str | None]]]


def _role_rows(session: Session, account_ids: Iterable[int]) -> RoleNames:
    ids = list(account_ids)
    result: RoleNames = {}
    if not ids:
        return result
    rows = session.execute(
        select(RoleGrant.account_id, RoleGrant.role, Branch.name)
        .outerjoin(Branch, Branch.id == RoleGrant.branch_id)
        .where(RoleGrant.account_id.in_(ids), RoleGrant.role != Role.MEMBER)
        .order_by(RoleGrant.account_id, RoleGrant.role, Branch.code)
    )
    for account_id, role, branch_name in rows:
        result.setdefault(account_id, []).append((role.value, branch_name))
    return result


def list_accounts(
    session: Session, actor: Principal, query: str = "", page: int = 1
) -> Page[AccountRow]:
    require_admin(actor)
    statement = matching(
        select(Account, Member.code, Member.name).outerjoin(Member, Member.id == Account.member_id),
        query,
        Account.username,
        Account.display_name,
        Member.code,
    )
    rows, total, page, pages = fetch_page(
        session, statement.order_by(Account.username, Account.id), page=page
    )
    roles = _role_rows(session, (row[0].id for row in rows))
    return Page(
        items=[
            AccountRow(
                id=account.id,
                username=account.username,
                display_name=account.display_name,
                member_code=code,
                member_name=name,
                roles=tuple(roles.get(account.id, [])),
                is_active=account.is_active,
                disabled_at=account.disabled_at,
                must_change_password=account.must_change_password,
                last_login_at=account.last_login_at,
            )
            for account, code, name in rows
        ],
        total=total,
        page=page,
        pages=pages,
        size=PAGE_SIZE,
    )


def account_for_edit(session: Session, actor: Principal, account_id: int) -> AccountRow:
    require_admin(actor)
    row = session.execute(
        select(Account, Member.code, Member.name)
        .outerjoin(Member, Member.id == Account.member_id)
        .where(Account.id == account_id)
    ).first()
    if row is None:
        raise NotFound(Message(N_("No such account.")))
    account, code, name = row
    return AccountRow(
        id=account.id,
        username=account.username,
        display_name=account.display_name,
        member_code=code,
        member_name=name,
        roles=tuple(_role_rows(session, [account.id]).get(account.id, [])),
        is_active=account.is_active,
        disabled_at=account.disabled_at,
        must_change_password=account.must_change_password,
        last_login_at=account.last_login_at,
    )


def current_roles(session: Session, account_id: int) -> RolesInput:
    grants = list(session.scalars(select(RoleGrant).where(RoleGrant.account_id == account_id)))
    return RolesInput(
        secretary_of=frozenset(
            g.branch_id for g in grants if g.role is Role.SECRETARY and g.branch_id is not None
        ),
        instructor_of=frozenset(
            g.branch_id for g in grants if g.role is Role.INSTRUCTOR and g.branch_id is not None
        ),
        admin=any(g.role is Role.ADMIN for g in grants),
    )


def parse_roles(secretary: Iterable[str], instructor: Iterable[str], admin: bool) -> RolesInput:
    def ids(values: Iterable[str]) -> frozenset[int]:
        parsed = (parse_id(v) for v in values)
        return frozenset(number for number in parsed if number is not None)

    return RolesInput(secretary_of=ids(secretary), instructor_of=ids(instructor), admin=admin)


def _check_roles(session: Session, roles: RolesInput) -> None:
    wanted = roles.secretary_of | roles.instructor_of
    if wanted:
        known = set(session.scalars(select(Branch.id).where(Branch.id.in_(wanted))))
        if known != wanted:
            raise InvalidInput({"roles": Message(N_("Choose branches from the list."))})


def _write_roles(session: Session, account_id: int, roles: RolesInput) -> None:
    """Make the account's secretary, instructor and office grants exactly ``roles``,
    touching only the grants that change (each is a line of the audit log)."""
    wanted: set[tuple[Role, int | None]] = {(Role.SECRETARY, b) for b in roles.secretary_of}
    wanted |= {(Role.INSTRUCTOR, b) for b in roles.instructor_of}
    if roles.admin:
        wanted.add((Role.ADMIN, None))
    held: set[tuple[Role, int | None]] = set()
    for grant in session.scalars(
        select(RoleGrant).where(RoleGrant.account_id == account_id, RoleGrant.role != Role.MEMBER)
    ):
        key = (grant.role, grant.branch_id)
        if key in wanted and key not in held:
            held.add(key)
        else:
            session.delete(grant)
    session.flush()
    for role, branch_id in sorted(wanted - held, key=lambda k: (k[0].value, k[1] or 0)):
        session.add(RoleGrant(account_id=account_id, role=role, branch_id=branch_id))


def parse_account(values: Mapping[str, Any], roles: RolesInput) -> AccountInput:
    errors: dict[str, Message] = {}
    username = text_field(values, "username").strip()
    if not username:
        errors["username"] = Message(N_("This field is required."))
    elif not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = Message(
            N_("Use 2 to 64 letters, digits, dots, dashes or underscores.")
        )
    display_name = required_text(text_field(values, "display_name"), 60, errors, "display_name")
    member_code = text_field(values, "member_code").strip() or None
    password = text_field(values, "password")
    problem = password_problem(password)
    if problem is not None:
        errors["password"] = problem
    if errors:
        raise InvalidInput(errors)
    return AccountInput(
        username=username,
        display_name=display_name,
        member_code=member_code,
        password=password,
        roles=roles,
    )


def create_account(session: Session, actor: Principal, data: AccountInput) -> int:
    """A new account with an initial password its owner must change at first sign-in."""
    require_admin(actor)
    return _new_account(session, data, must_change_password=True).id


def has_admin(session: Session) -> bool:
    """Whether any account holds the office (admin) role."""
    first = select(RoleGrant.id).where(RoleGrant.role == Role.ADMIN).limit(1)
    return session.scalar(first) is not None


def create_first_admin(session: Session, data: AccountInput) -> int:
    """The instance's first office (admin) account (``jifen setup``). Nobody can act as
    an office account before one exists, so this is the one creation without an actor,
    and it is refused (Conflict) once any admin account exists. The password is the
    operator's own choice, checked by the rules of a chosen password (as a password
    change is), so no change is forced at first sign-in. Audited as ``account.setup``
    besides the hook's lines."""
    # Two setups at once: on PostgreSQL the second waits here, then finds the first's
    # admin; on SQLite the write transaction (BEGIN IMMEDIATE) already serialises them.
    if session.connection().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(SETUP_LOCK_KEY)))
    if has_admin(session):
        raise Conflict(
            Message(N_("An office account exists already; it creates further accounts."))
        )
    problem = chosen_password_problem(data.password, username=data.username)
    if problem is not None:
        raise InvalidInput({"password": problem})
    account = _new_account(
        session, replace(data, roles=RolesInput(admin=True)), must_change_password=False
    )
    record_account_event(session, ACCOUNT_SETUP, account)
    return account.id


def _new_account(session: Session, data: AccountInput, *, must_change_password: bool) -> Account:
    errors: dict[str, Message] = {}
    if session.scalar(select(Account.id).where(Account.username == data.username)) is not None:
        errors["username"] = Message(N_("This username is taken."))
    member_id = None
    if data.member_code is not None:
        member = session.scalar(select(Member).where(Member.code == data.member_code))
        if member is None:
            errors["member_code"] = Message(N_("No member has this member number."))
        elif session.scalar(select(Account.id).where(Account.member_id == member.id)):
            errors["member_code"] = Message(N_("This member already has an account."))
        else:
            member_id = member.id
    if errors:
        raise InvalidInput(errors)
    _check_roles(session, data.roles)
    account = Account(
        username=data.username,
        display_name=data.display_name,
        member_id=member_id,
        password_hash=hash_password(data.password),
        is_active=True,
        must_change_password=must_change_password,
    )
    session.add(account)
    session.flush()
    _write_roles(session, account.id, data.roles)
    session.flush()
    return account


def _account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(Message(N_("No such account.")))
    return account


def set_roles(session: Session, actor: Principal, account_id: int, roles: RolesInput) -> None:
    require_admin(actor)
    account = _account(session, account_id)
    if account.id == actor.account_id and not roles.admin:
        raise Conflict(Message(N_("You cannot take the office role from your own account.")))
    _check_roles(session, roles)
    _write_roles(session, account.id, roles)
    session.flush()


def reset_password(
    session: Session,
    actor: Principal,
    account_id: int,
    password: str,
    *,
    now: datetime | None = None,
) -> None:
    """A new initial password: its owner must change it at next sign-in, and every
    session of the account ends now. The owner is told (a reset they did not ask for
    is worth a question to the office)."""
    require_admin(actor)
    account = _account(session, account_id)
    problem = password_problem(password)
    if problem is not None:
        raise InvalidInput({"password": problem})
    account.password_hash = hash_password(password)
    account.must_change_password = True
    end_account_sessions(session, account.id)
    session.flush()
    tell_password_changed(session, account, now=now)


def disable_account(session: Session, actor: Principal, account_id: int, *, now: datetime) -> None:
    """The account can no longer sign in and its sessions end at once; its entries,
    reviews and points stay."""
    require_admin(actor)
    account = _account(session, account_id)
    if account.id == actor.account_id:
        raise Conflict(Message(N_("You cannot disable your own account.")))
    if not account.is_active:
        raise Conflict(Message(N_("This account is already disabled.")))
    account.is_active = False
    account.disabled_at = now
    end_account_sessions(session, account.id)
    session.flush()


def enable_account(session: Session, actor: Principal, account_id: int) -> None:
    require_admin(actor)
    account = _account(session, account_id)
    if account.is_active:
        raise Conflict(Message(N_("This account is already enabled.")))
    account.is_active = True
    account.disabled_at = None
    session.flush()


def account_id_by_username(session: Session, username: str) -> int:
    account_id = session.scalar(select(Account.id).where(Account.username == username))
    if account_id is None:
        raise NotFound(Message(N_("No account has this username.")))
    return account_id
