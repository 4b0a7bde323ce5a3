"""Member accounts in bulk: one step gives every member of a branch (or of the whole
town) who has no account yet an account with a one-time initial password, to be handed
out on a printed sheet.

Decisions:

* The username is the member number (``Member.code``): unique in the town, already on
  the roster and every sheet the office keeps, stable when the member moves branch, and
  typed without an input method. A member number a username cannot hold (spaces,
  Chinese characters) gives ``m`` + the member's record id instead. A username already
  taken by another account is not guessed around: the member is skipped with the reason,
  and the office creates that one account by hand.
* Skipped, each with its reason: members who already have an account, and members who
  left (a ``left_on`` date: transferred out of the town or no longer a member).
* The office acts for any branch or the whole town; a branch's secretary for their own
  branch only. Instructors oversee and create nothing.
* Every account gets role member (the informative grant of its branch) and must change
  its password at first sign-in. The passwords exist in plain text only in the value
  returned here: the caller prints them once and forgets them.
* All accounts of a batch are written in the caller's one transaction; each is one line
  of the audit log (the session hook records the new account, its password hash masked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.admin import USERNAME_PATTERN
from service.accounts.passwords import hash_password, new_initial_password
from service.accounts.principal import Principal
from service.kernel.errors import NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.persistence.models import Account, Branch, Member, Role, RoleGrant

BULK_CREATORS_ONLY = N_(
    "Only the organisation office, or a branch's secretary for their own branch, "
    "creates members' accounts."
)
DISPLAY_NAME_MAX = 60


def can_create_bulk_accounts(actor: Principal, branch_id: int | None) -> bool:
    """The office for any branch or the town (``branch_id`` None); a secretary for the
    branches they are secretary of."""
    if actor.is_admin:
        return True
    return branch_id is not None and branch_id in actor.branches_with_secretary


def require_bulk_creator(actor: Principal, branch_id: int | None) -> None:
    if not can_create_bulk_accounts(actor, branch_id):
        raise PermissionDenied(Message(BULK_CREATORS_ONLY))


def member_username(member_code: str, member_id: int) -> str:
    """The username a member's account gets: the member number when a username can
    hold it, else ``m`` + the record id (stable: both never change)."""
    if USERNAME_PATTERN.fullmatch(member_code):
        return member_code
    return f"m{member_id}"


@dataclass(frozen=True)
class PlannedAccount:
    """A member of the batch: the username they get, or why they are skipped."""

    member_id: int
    member_code: str
    member_name: str
    branch_id: int
    branch_name: str
    username: str
    skipped: Message | None = None


@dataclass(frozen=True)
class BulkPlan:
    branch_id: int | None
    scope_name: str | None  # the branch's name; None for the whole town
    create: tuple[PlannedAccount, ...]
    skip: tuple[PlannedAccount, ...]


@dataclass(frozen=True)
class IssuedAccount:
    """One created account with its initial password (plain text: print, then forget)."""

    account_id: int
    member_code: str
    member_name: str
    branch_name: str
    username: str
    password: str


@dataclass(frozen=True)
class BulkResult:
    branch_id: int | None
    scope_name: str | None
    created: tuple[IssuedAccount, ...]
    skipped: tuple[PlannedAccount, ...]


def plan_bulk_accounts(session: Session, actor: Principal, branch_id: int | None) -> BulkPlan:
    """Who would get an account and who is skipped (and why), without changing anything:
    the confirmation page shows it before anything is created."""
    require_bulk_creator(actor, branch_id)
    scope_name = None
    if branch_id is not None:
        scope_name = session.scalar(select(Branch.name).where(Branch.id == branch_id))
        if scope_name is None:
            raise NotFound(Message(N_("No such branch.")))
    query = (
        select(Member, Branch.name, Account.id)
        .join(Branch, Branch.id == Member.branch_id)
        .outerjoin(Account, Account.member_id == Member.id)
        .order_by(Branch.code, Member.code, Member.id)
    )
    if branch_id is not None:
        query = query.where(Member.branch_id == branch_id)
    rows = session.execute(query).all()
    wanted = {member_username(member.code, member.id) for member, _name, _id in rows}
    taken = set(session.scalars(select(Account.username).where(Account.username.in_(wanted))))
    create: list[PlannedAccount] = []
    skip: list[PlannedAccount] = []
    for member, branch_name, account_id in rows:
        username = member_username(member.code, member.id)
        reason: Message | None = None
        if account_id is not None:
            reason = Message(N_("already has an account"))
        elif not member.active or member.left_on is not None:
            reason = Message(N_("left on %(date)s"), {"date": str(member.left_on or "")})
        elif username in taken:
            reason = Message(
                N_("the username %(username)s is taken by another account"),
                {"username": username},
            )
        planned = PlannedAccount(
            member_id=member.id,
            member_code=member.code,
            member_name=member.name,
            branch_id=member.branch_id,
            branch_name=branch_name,
            username=username,
            skipped=reason,
        )
        (create if reason is None else skip).append(planned)
    return BulkPlan(
        branch_id=branch_id, scope_name=scope_name, create=tuple(create), skip=tuple(skip)
    )


def create_bulk_accounts(
    session: Session,
    actor: Principal,
    branch_id: int | None,
    *,
    new_password: Callable[[], str] = new_initial_password,
) -> BulkResult:
    """Create the accounts ``plan_bulk_accounts`` lists, in the caller's transaction.
    Hashing (argon2id, about 40 ms each) is the whole cost; the rows go in one flush."""
    plan = plan_bulk_accounts(session, actor, branch_id)
    issued: list[tuple[PlannedAccount, Account, str]] = []
    for planned in plan.create:
        password = new_password()
        account = Account(
            username=planned.username,
            display_name=planned.member_name[:DISPLAY_NAME_MAX],
            member_id=planned.member_id,
            password_hash=hash_password(password),
            is_active=True,
            must_change_password=True,
        )
        session.add(account)
        issued.append((planned, account, password))
    session.flush()
    for planned, account, _password in issued:
        session.add(
            RoleGrant(
                account_id=account.id,
                role=Role.MEMBER,
                branch_id=planned.branch_id,
            )
        )
    session.flush()
    return BulkResult(
        branch_id=branch_id,
        scope_name=plan.scope_name,
        created=tuple(
            IssuedAccount(
                account_id=account.id,
                member_code=planned.member_code,
                member_name=planned.member_name,
                branch_name=planned.branch_name,
                username=planned.username,
                password=password,
            )
            for planned, account, password in issued
        ),
        skipped=plan.skip,
    )


def branch_id_by_code(session: Session, code: str) -> int:
    branch_id = session.scalar(select(Branch.id).where(Branch.code == code))
    if branch_id is None:
        raise NotFound(Message(N_("No branch has this code.")))
    return branch_id
