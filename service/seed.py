"""The demo town (``jifen seed demo``): branches, organisations, members, demo accounts
and a few months of reviewed activity, generated from ``seeds/town.toml``.

Everything is generated in memory first and written with one bulk INSERT per table.
Ids are assigned here rather than by the database, so ledger lines can point at their
entries without reading anything back.
"""

from __future__ import annotations

import calendar
import random
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

from faker import Faker
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from service.accounts import hash_password
from service.ledger import bulk_insert_summary
from service.models import (
    Account,
    Base,
    Branch,
    BranchKind,
    Entry,
    EntryStatus,
    LedgerKind,
    LedgerLine,
    Member,
    MemberStatus,
    Organisation,
    OrganisationKind,
    Role,
    RoleGrant,
)
from service.periods import period_of, shift_period
from service.scoring.engine import (
    Activity as ScoringActivity,
)
from service.scoring.engine import (
    Source,
    entry_points,
    quantity_problem,
    score_activities,
)
from service.scoring.rules import Rule, Rulebook, RuleGroup, Ruleset

TOWN_FILE = "town.toml"
MONTHS_BEFORE = 3
OPERATING = "operating"
SUSPENDED = "suspended"
# Office hours in the town's zone, in minutes after midnight, for submissions and reviews.
DAY_OPENS = 8 * 60
DAY_CLOSES = 21 * 60
# How often a named branch's own wording is used over the town-wide lists.
OWN_WORDING_SHARE = 0.75
STEPS = ("branches", "organisations", "members", "accounts", "activity", "ledger")

SummaryKey = tuple[int, str, int, str]


class DemoRefused(Exception):
    """The demo town may not be loaded here: production, a database holding data, or a
    day no ruleset covers."""


# --- the town file ------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Spread(_Strict):
    """A whole number drawn from a triangular distribution between ``low`` and ``high``."""

    low: int = Field(ge=0)
    high: int
    mode: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        mode = self.low if self.mode is None else self.mode
        if not self.low <= mode <= self.high:
            raise ValueError("need low <= mode <= high")
        return self

    def draw(self, rng: random.Random) -> int:
        mode = (self.low + self.high) / 2 if self.mode is None else self.mode
        return round(rng.triangular(self.low, self.high, mode))


class TownInfo(_Strict):
    name: str
    committee: str


class Targets(_Strict):
    branches_single: int = Field(ge=1)
    branches_joint: int = Field(ge=1)
    organisations: int = Field(ge=1)
    members: int = Field(ge=1)


class StatusShares(_Strict):
    probationary: float = Field(ge=0, le=1)
    mobile: float = Field(ge=0, le=1)
    exempt: float = Field(ge=0, le=1)


class Shape(_Strict):
    single_branch_members: Spread
    joint_branch_members: Spread
    joint_branch_organisations: Spread
    single_enterprise_employees: Spread
    small_enterprise_employees: Spread
    social_employees: Spread
    suspended_share: float = Field(ge=0, le=1)
    social_share: float = Field(ge=0, le=1)
    status_shares: StatusShares


class OtherJointBranches(_Strict):
    mixed: list[str]
    social: list[str] = Field(default_factory=list)


class NamedOrganisation(_Strict):
    name: str
    kind: OrganisationKind = OrganisationKind.ENTERPRISE
    employees: int = Field(ge=1)
    owner: str | None = None


class NamedBranch(_Strict):
    name: str
    kind: BranchKind
    organisations: int = Field(ge=1)
    members: int = Field(ge=1)
    endings: list[str] = Field(default_factory=list)
    employees: Spread | None = None
    active_share: float | None = Field(default=None, ge=0, le=1)
    rule_weights: dict[str, int] | None = None
    named_organisations: list[NamedOrganisation] = Field(default_factory=list, alias="organisation")
    descriptions: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind is BranchKind.SINGLE and self.organisations != 1:
            raise ValueError(f"{self.name}: a single branch covers exactly one organisation")
        if len(self.named_organisations) > self.organisations:
            raise ValueError(f"{self.name}: more named organisations than organisations")
        if (
            self.organisations > len(self.named_organisations)
            and not self.endings
            and (self.kind is BranchKind.SINGLE)
        ):
            raise ValueError(f"{self.name}: name its organisation")
        return self


class Names(_Strict):
    stems: list[str] = Field(min_length=1)
    enterprise_endings: list[str] = Field(min_length=1)
    places: list[str] = Field(min_length=1)
    social_endings: list[str] = Field(min_length=1)


class Activity(_Strict):
    active_share: float = Field(ge=0, le=1)
    mobile_factor: float = Field(ge=0, le=1)
    entries_per_member: dict[int, int] = Field(min_length=1)
    unit_quantities: list[Decimal] = Field(min_length=1)
    meetings_per_month: dict[str, int] = Field(default_factory=dict)
    submit_delay_days: Spread
    decide_delay_days: Spread
    pending_share_current_month: float = Field(ge=0, le=1)
    rejected_share: float = Field(ge=0, le=1)
    withdrawn_share: float = Field(ge=0, le=1)
    review_queue: int = Field(ge=0)
    own_pending: int = Field(ge=0)
    rule_weights: dict[str, int] = Field(min_length=1)


class Review(_Strict):
    rejection_reasons: list[str] = Field(min_length=1)


class Grant(_Strict):
    role: Role
    branch: str | None = None


class DemoAccount(_Strict):
    username: str
    display_name: str | None = None
    member_of: str | None = None
    grants: list[Grant] = Field(min_length=1)


class Demo(_Strict):
    password: str = Field(min_length=8)
    accounts: list[DemoAccount] = Field(alias="account", min_length=1)


class TownFile(_Strict):
    seed: int
    timezone: str
    town: TownInfo
    targets: Targets
    shape: Shape
    other_joint_branches: OtherJointBranches
    named_branches: list[NamedBranch] = Field(alias="named_branch")
    names: Names
    activity: Activity
    descriptions: dict[str, list[str]]
    review: Review
    demo: Demo

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        named_joint = sum(b.kind is BranchKind.JOINT for b in self.named_branches)
        named_single = len(self.named_branches) - named_joint
        joint_names = len(self.other_joint_branches.mixed) + len(self.other_joint_branches.social)
        if named_joint + joint_names != self.targets.branches_joint:
            problems.append(
                f"{named_joint} named and {joint_names} other joint branches do not make "
                f"the {self.targets.branches_joint} joint branches"
            )
        if named_single > self.targets.branches_single:
            problems.append("more named single branches than single branches")
        branch_names = [b.name for b in self.named_branches]
        branch_names += self.other_joint_branches.mixed + self.other_joint_branches.social
        if len(set(branch_names)) != len(branch_names):
            problems.append("a branch name is used twice")
        known = set(branch_names)
        for account in self.demo.accounts:
            wanted = [account.member_of] + [g.branch for g in account.grants]
            for name in wanted:
                if name is not None and name not in known:
                    problems.append(f"account '{account.username}': unknown branch '{name}'")
        if not any(g.role is Role.ADMIN for a in self.demo.accounts for g in a.grants):
            problems.append("one demo account must be an admin")
        weighted = set(self.activity.rule_weights)
        for branch in self.named_branches:
            weighted |= set(branch.rule_weights or {})
        for rule_id in sorted(weighted - set(self.descriptions)):
            problems.append(f"rule '{rule_id}' has weight but no [descriptions] list")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def read_town_file(seeds_dir: Path) -> TownFile:
    path = seeds_dir / TOWN_FILE
    return TownFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))


# --- plans held in memory until they are written --------------------------------------


@dataclass(frozen=True)
class _Profile:
    """How a branch's members behave: how many take part, and in what."""

    active_share: float
    rule_ids: tuple[str, ...]
    weights: tuple[int, ...]
    descriptions: Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class _MemberPlan:
    id: int
    branch_id: int
    status: MemberStatus


@dataclass
class _BranchPlan:
    id: int
    name: str
    kind: BranchKind
    profile: _Profile
    organisation_count: int
    member_count: int = 0
    named: NamedBranch | None = None
    social_only: bool = False
    organisation_ids: list[int] = field(default_factory=list)
    members: list[_MemberPlan] = field(default_factory=list)


@dataclass
class _Draft:
    seq: int
    member: _MemberPlan
    rule_id: str
    ruleset_version: str
    day: date
    quantity: Decimal
    points: Decimal
    description: str
    status: EntryStatus


@dataclass(frozen=True)
class _Month:
    period: str
    days: tuple[date, ...]
    elapsed: float  # share of the month that lies on or before ``until``
    current: bool


# --- progress -------------------------------------------------------------------------


@contextmanager
def _steps(console: Console | None) -> Iterator[Callable[[str], None]]:
    """Yield ``start(step)``; each call marks the previous step done."""
    if console is None:
        yield lambda _step: None
        return
    columns = (
        TextColumn("demo town: {task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(STEPS[0], total=len(STEPS))
        started = False

        def start(step: str) -> None:
            nonlocal started
            progress.update(task, description=step, advance=1 if started else 0)
            started = True

        yield start
        progress.update(task, description="done", completed=len(STEPS))


# --- the loader -----------------------------------------------------------------------


def load_demo_town(
    session: Session,
    rulebook: Rulebook,
    seeds_dir: Path,
    *,
    until: date,
    env: str,
    console: Console | None = None,
) -> str:
    """Fill an empty database with the demo town and activity up to ``until``.

    Deterministic for a given ``until``. Refused in production, on a database that
    already holds data and when no ruleset is in force on ``until``. Flushes only; the
    caller commits.
    """
    if env == "production":
        raise DemoRefused(
            "the demo town is not loaded in production (JIFEN_ENV=production): it creates "
            "accounts with a published password"
        )
    town = read_town_file(seeds_dir)
    if rulebook.in_force(until) is None:
        raise DemoRefused(
            f"no points ruleset is in force on {until.isoformat()}, so there would be no "
            "activity to show; choose a later --until"
        )
    _refuse_unless_empty(session)
    with _steps(console) as start:
        return _TownBuilder(session, rulebook, town, until).build(start)


def _refuse_unless_empty(session: Session) -> None:
    # Ids are assigned here, so rows already present would collide (or worse, be joined
    # to the demo town's rows).
    for model in (Branch, Organisation, Member, Account, Entry):
        if session.scalar(select(func.count()).select_from(model)):
            raise DemoRefused(
                f"the database already holds data (table '{model.__tablename__}'); "
                "load the demo town into an empty database"
            )


class _TownBuilder:
    def __init__(self, session: Session, rulebook: Rulebook, town: TownFile, until: date):
        self.session = session
        self.rulebook = rulebook
        self.town = town
        self.until = until
        self.zone = ZoneInfo(town.timezone)
        self.rng = random.Random(town.seed)
        self.faker = Faker("zh_CN")
        self.faker.seed_instance(town.seed)
        self.branches: list[_BranchPlan] = []
        self.branch_by_name: dict[str, _BranchPlan] = {}
        self.used_names: set[str] = set()
        self.account_of_member: dict[int, int] = {}
        self.admin_id = 0
        self.secretary_of: dict[int, int] = {}
        self.instructor_of: dict[int, int] = {}
        self.rulesets: dict[date, Ruleset | None] = {}
        self.attended: set[tuple[int, str, date]] = set()
        self.meetings: dict[tuple[int, str], dict[str, list[date]]] = {}
        self.drafts: list[_Draft] = []
        self.single_org_names: dict[int, str] = {}
        self.member_names: dict[int, str] = {}
        self.counts: dict[str, int] = {}

    def build(self, start: Callable[[str], None]) -> str:
        start("branches")
        self._branches()
        start("organisations")
        self._organisations()
        start("members")
        self._members()
        start("accounts")
        self._accounts()
        start("activity")
        months = self._months()
        self._activity(months)
        self._demo_guarantees(months)
        entries = self._entries()
        start("ledger")
        self._ledger(entries)
        self._advance_sequences()
        self.session.flush()
        pending = sum(row["status"] is EntryStatus.PENDING for row, _ in entries)
        joint = sum(b.kind is BranchKind.JOINT for b in self.branches)
        usernames = " / ".join(a.username for a in self.town.demo.accounts)
        return (
            f"demo town {self.town.town.name} loaded: {len(self.branches)} branches "
            f"({joint} joint), {self.counts['organisations']} organisations, "
            f"{self.counts['members']} members, {len(entries)} entries ({pending} pending) "
            f"up to {self.until.isoformat()}; accounts {usernames}, "
            f"password {self.town.demo.password}"
        )

    # branches and organisations

    def _profile(self, named: NamedBranch | None) -> _Profile:
        activity = self.town.activity
        weights = (named.rule_weights if named else None) or activity.rule_weights
        share = named.active_share if named and named.active_share is not None else None
        return _Profile(
            active_share=activity.active_share if share is None else share,
            rule_ids=tuple(weights),
            weights=tuple(weights.values()),
            descriptions=named.descriptions if named else {},
        )

    def _add_branch(
        self,
        name: str,
        kind: BranchKind,
        organisation_count: int,
        *,
        named: NamedBranch | None = None,
        social_only: bool = False,
    ) -> _BranchPlan:
        if name in self.branch_by_name:
            raise ValueError(f"seeds/town.toml: two branches would be called {name}")
        plan = _BranchPlan(
            id=len(self.branches) + 1,
            name=name,
            kind=kind,
            profile=self._profile(named),
            organisation_count=organisation_count,
            member_count=named.members if named else 0,
            named=named,
            social_only=social_only,
        )
        self.branches.append(plan)
        self.branch_by_name[name] = plan
        return plan

    def _branches(self) -> None:
        town, shape, rng = self.town, self.town.shape, self.rng
        for named in town.named_branches:
            self._add_branch(named.name, named.kind, named.organisations, named=named)
            self.used_names.update(o.name for o in named.named_organisations)

        # The joint branches share what the single branches and named ones leave over.
        others = [(name, False) for name in town.other_joint_branches.mixed]
        others += [(name, True) for name in town.other_joint_branches.social]
        singles_left = town.targets.branches_single - sum(
            b.kind is BranchKind.SINGLE for b in self.branches
        )
        spread = shape.joint_branch_organisations
        organisations_left = (
            town.targets.organisations
            - singles_left
            - sum(b.organisation_count for b in self.branches)
        )
        counts = _fit(
            [spread.draw(rng) for _ in others],
            [(spread.low, spread.high)] * len(others),
            organisations_left,
            rng,
            what="organisations of joint branches",
        )
        for (name, social), count in zip(others, counts, strict=True):
            self._add_branch(name, BranchKind.JOINT, count, social_only=social)

        # A single branch is named after the one organisation it covers.
        for _ in range(singles_left):
            social = rng.random() < shape.social_share
            org_name = self._social_name() if social else self._enterprise_name()
            branch = self._add_branch(f"{org_name}党支部", BranchKind.SINGLE, 1)
            branch.social_only = social
            self.single_org_names[branch.id] = org_name

        created_at = self._at(self._first_day(), DAY_OPENS)
        self.session.execute(
            insert(Branch),
            [
                {
                    "id": b.id,
                    "code": f"B{b.id:03d}",
                    "name": b.name,
                    "kind": b.kind,
                    "created_at": created_at,
                }
                for b in self.branches
            ],
        )

    def _enterprise_name(self, endings: Sequence[str] | None = None) -> str:
        names = self.town.names
        return self._unique(
            lambda: (
                self.rng.choice(names.stems) + self.rng.choice(endings or names.enterprise_endings)
            )
        )

    def _social_name(self) -> str:
        names = self.town.names
        return self._unique(
            lambda: self.rng.choice(names.places) + self.rng.choice(names.social_endings)
        )

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            name = make()
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        raise ValueError("seeds/town.toml: too few name parts for unique organisation names")

    def _organisations(self) -> None:
        shape, rng = self.town.shape, self.rng
        rows: list[dict[str, Any]] = []

        def add(
            branch: _BranchPlan,
            name: str,
            kind: OrganisationKind,
            employees: int,
            owner: str | None = None,
            operating: bool | None = None,
        ) -> None:
            org_id = len(rows) + 1
            if operating is None:
                operating = rng.random() >= shape.suspended_share
            rows.append(
                {
                    "id": org_id,
                    "branch_id": branch.id,
                    "name": name,
                    "kind": kind,
                    "business_status": OPERATING if operating else SUSPENDED,
                    "employee_count": employees,
                    "owner_name": owner or str(self.faker.name()),
                }
            )
            branch.organisation_ids.append(org_id)

        for branch in self.branches:
            named = branch.named
            if named is not None:
                for org in named.named_organisations:
                    add(branch, org.name, org.kind, org.employees, org.owner, operating=True)
            while len(branch.organisation_ids) < branch.organisation_count:
                if branch.kind is BranchKind.SINGLE:
                    name = self.single_org_names[branch.id]
                    social = branch.social_only
                    spread = shape.social_employees if social else shape.single_enterprise_employees
                elif named is not None and named.endings:
                    name, social = self._enterprise_name(named.endings), False
                    spread = named.employees or shape.small_enterprise_employees
                else:
                    social = branch.social_only or rng.random() < shape.social_share
                    name = self._social_name() if social else self._enterprise_name()
                    spread = shape.social_employees if social else shape.small_enterprise_employees
                kind = OrganisationKind.SOCIAL if social else OrganisationKind.ENTERPRISE
                add(branch, name, kind, max(1, spread.draw(rng)))
        self.session.execute(insert(Organisation), rows)
        self.counts["organisations"] = len(rows)

    # members and accounts

    def _members(self) -> None:
        town, shape, rng = self.town, self.town.shape, self.rng
        unnamed = [b for b in self.branches if b.named is None]
        spreads = [
            shape.single_branch_members
            if b.kind is BranchKind.SINGLE
            else shape.joint_branch_members
            for b in unnamed
        ]
        counts = _fit(
            [s.draw(rng) for s in spreads],
            [(s.low, s.high) for s in spreads],
            town.targets.members - sum(b.member_count for b in self.branches),
            rng,
            what="members",
        )
        for branch, count in zip(unnamed, counts, strict=True):
            branch.member_count = count

        shares = shape.status_shares
        rows: list[dict[str, Any]] = []
        for branch in self.branches:
            for _ in range(branch.member_count):
                member_id = len(rows) + 1
                roll = rng.random()
                if roll < shares.probationary:
                    status = MemberStatus.PROBATIONARY
                elif roll < shares.probationary + shares.mobile:
                    status = MemberStatus.MOBILE
                elif roll < shares.probationary + shares.mobile + shares.exempt:
                    status = MemberStatus.EXEMPT
                else:
                    status = MemberStatus.FULL
                branch.members.append(_MemberPlan(member_id, branch.id, status))
                rows.append(
                    {
                        "id": member_id,
                        "code": f"M{member_id:04d}",
                        "name": str(self.faker.name()),
                        "branch_id": branch.id,
                        "organisation_id": rng.choice(branch.organisation_ids),
                        "status": status,
                        "joined_party_on": self._joined_on(status),
                        "active": True,
                    }
                )
        self.session.execute(insert(Member), rows)
        self.counts["members"] = len(rows)
        self.member_names = {row["id"]: row["name"] for row in rows}

    def _joined_on(self, status: MemberStatus) -> date:
        rng = self.rng
        if status is MemberStatus.PROBATIONARY:
            # A probationary member joined within the last year (the probation period).
            return self.until - timedelta(days=rng.randint(30, 360))
        if status is MemberStatus.EXEMPT:
            # Exemption is mostly for old age: these joined decades ago.
            return date(rng.randint(1962, 1990), rng.randint(1, 12), rng.randint(1, 28))
        # Workers in these organisations are mostly young, so recent years are likelier.
        years = rng.triangular(1.1, 40, 6)
        return self.until - timedelta(days=round(years * 365.25))

    def _accounts(self) -> None:
        demo = self.town.demo
        # One hash for all: the demo accounts share a password and argon2 is slow on purpose.
        password_hash = hash_password(demo.password)
        created_at = self._at(self._first_day(), DAY_OPENS)
        accounts: list[dict[str, Any]] = []
        grants: list[dict[str, Any]] = []
        for spec in demo.accounts:
            account_id = len(accounts) + 1
            member_id: int | None = None
            if spec.member_of is not None:
                member_id = self._pick_account_member(self.branch_by_name[spec.member_of])
                self.account_of_member[member_id] = account_id
                display_name = self.member_names[member_id]
            else:
                display_name = spec.display_name or str(self.faker.name())
            accounts.append(
                {
                    "id": account_id,
                    "username": spec.username,
                    "password_hash": password_hash,
                    "display_name": display_name,
                    "member_id": member_id,
                    "is_active": True,
                    "created_at": created_at,
                    "last_login_at": None,
                }
            )
            for grant in spec.grants:
                branch_id = self.branch_by_name[grant.branch].id if grant.branch else None
                grants.append(
                    {
                        "id": len(grants) + 1,
                        "account_id": account_id,
                        "role": grant.role,
                        "branch_id": branch_id,
                    }
                )
                if grant.role is Role.ADMIN and not self.admin_id:
                    self.admin_id = account_id
                elif grant.role is Role.SECRETARY and branch_id is not None:
                    self.secretary_of.setdefault(branch_id, account_id)
                elif grant.role is Role.INSTRUCTOR and branch_id is not None:
                    self.instructor_of.setdefault(branch_id, account_id)
        self.session.execute(insert(Account), accounts)
        self.session.execute(insert(RoleGrant), grants)

    def _pick_account_member(self, branch: _BranchPlan) -> int:
        candidates = [
            m.id
            for m in branch.members
            if m.status is MemberStatus.FULL and m.id not in self.account_of_member
        ]
        if not candidates:
            raise ValueError(f"{branch.name} has no full member left for a demo account")
        return self.rng.choice(candidates)

    # activity

    def _months(self) -> list[_Month]:
        current = period_of(self.until)
        months = []
        for offset in range(-MONTHS_BEFORE, 1):
            period = shift_period(current, offset)
            year, month = int(period[:4]), int(period[5:7])
            length = calendar.monthrange(year, month)[1]
            last = self.until.day if offset == 0 else length
            days = tuple(date(year, month, day) for day in range(1, last + 1))
            months.append(_Month(period, days, last / length, offset == 0))
        return months

    def _ruleset_on(self, day: date) -> Ruleset | None:
        if day not in self.rulesets:
            self.rulesets[day] = self.rulebook.in_force(day)
        return self.rulesets[day]

    def _activity(self, months: list[_Month]) -> None:
        activity, rng = self.town.activity, self.rng
        counts = tuple(activity.entries_per_member)
        count_weights = tuple(activity.entries_per_member.values())
        for month in months:
            for branch in self.branches:
                meetings = {
                    rule_id: sorted(rng.sample(month.days, min(n, len(month.days))))
                    for rule_id, n in activity.meetings_per_month.items()
                }
                self.meetings[(branch.id, month.period)] = meetings
                for member in branch.members:
                    if member.status is MemberStatus.EXEMPT:
                        continue
                    share = branch.profile.active_share * month.elapsed
                    if member.status is MemberStatus.MOBILE:
                        share *= activity.mobile_factor
                    # The demo members take part every month so their pages are never empty.
                    demo = member.id in self.account_of_member
                    if not demo and rng.random() >= share:
                        continue
                    count = rng.choices(counts, count_weights)[0]
                    for _ in range(max(count, 2) if demo else count):
                        self._draft(branch, member, month, meetings, self._status(month))

    def _status(self, month: _Month) -> EntryStatus:
        activity, rng = self.town.activity, self.rng
        if month.current and rng.random() < activity.pending_share_current_month:
            return EntryStatus.PENDING
        roll = rng.random()
        if roll < activity.rejected_share:
            return EntryStatus.REJECTED
        if roll < activity.rejected_share + activity.withdrawn_share:
            return EntryStatus.WITHDRAWN
        return EntryStatus.APPROVED

    def _draft(
        self,
        branch: _BranchPlan,
        member: _MemberPlan,
        month: _Month,
        meetings: Mapping[str, Sequence[date]],
        status: EntryStatus,
    ) -> _Draft | None:
        rng, profile = self.rng, branch.profile
        for _ in range(8):
            rule_id = rng.choices(profile.rule_ids, profile.weights)[0]
            if rule_id in meetings:
                # A member attends each branch meeting at most once.
                options = [
                    d for d in meetings[rule_id] if (member.id, rule_id, d) not in self.attended
                ]
                if not options:
                    continue
                day = rng.choice(options)
            else:
                day = rng.choice(month.days)
            ruleset = self._ruleset_on(day)
            rule = ruleset.rule(rule_id) if ruleset else None
            if ruleset is None or rule is None or rule.group is RuleGroup.DEDUCTION:
                continue
            quantity = self._quantity(rule)
            if quantity is None:
                continue
            if rule_id in meetings:
                self.attended.add((member.id, rule_id, day))
            draft = _Draft(
                seq=len(self.drafts),
                member=member,
                rule_id=rule_id,
                ruleset_version=ruleset.version,
                day=day,
                quantity=quantity,
                points=entry_points(rule, quantity),
                description=self._description(profile, rule),
                status=status,
            )
            self.drafts.append(draft)
            return draft
        return None

    def _quantity(self, rule: Rule) -> Decimal | None:
        if not rule.per_unit:
            return Decimal(1)
        options = [
            q for q in self.town.activity.unit_quantities if quantity_problem(rule, q) is None
        ]
        return self.rng.choice(options) if options else None

    def _description(self, profile: _Profile, rule: Rule) -> str:
        own = profile.descriptions.get(rule.id)
        if own and self.rng.random() < OWN_WORDING_SHARE:
            return self.rng.choice(own)
        general = self.town.descriptions.get(rule.id)
        return self.rng.choice(general) if general else rule.name_zh

    def _demo_guarantees(self, months: list[_Month]) -> None:
        """Make sure the demo shows every state: the generated data is random, the tour
        through the demo accounts must not be."""
        activity = self.town.activity
        current, past = months[-1], months[:-1]
        branch_of = {b.id: b for b in self.branches}
        member_of = {m.id: m for b in self.branches for m in b.members}

        def add(member: _MemberPlan, month: _Month, status: EntryStatus) -> bool:
            branch = branch_of[member.branch_id]
            meetings = self.meetings[(branch.id, month.period)]
            return self._draft(branch, member, month, meetings, status) is not None

        for member_id in self.account_of_member:
            member = member_of[member_id]
            mine = [d for d in self.drafts if d.member.id == member_id]
            for status in (EntryStatus.APPROVED, EntryStatus.REJECTED, EntryStatus.WITHDRAWN):
                if not any(d.status is status and d.day < current.days[0] for d in mine):
                    # Early months may predate the first ruleset; any past month will do.
                    for month in self.rng.sample(past, len(past)):
                        if add(member, month, status):
                            break
            # Exactly ``own_pending``, so a secretary's own queue at the instructor is short.
            pending = [d for d in mine if d.status is EntryStatus.PENDING]
            for extra in pending[activity.own_pending :]:
                extra.status = EntryStatus.APPROVED
            for _ in range(activity.own_pending - len(pending)):
                add(member, current, EntryStatus.PENDING)

        # A secretary's queue holds entries of the other members; their own entries go to
        # the instructor, so they do not count here.
        for branch_id, secretary_id in self.secretary_of.items():
            branch = branch_of[branch_id]
            others = [
                m
                for m in branch.members
                if m.status is not MemberStatus.EXEMPT
                and self.account_of_member.get(m.id) != secretary_id
            ]
            other_ids = {m.id for m in others}
            queued = sum(
                d.status is EntryStatus.PENDING and d.member.id in other_ids for d in self.drafts
            )
            for _ in range(4 * activity.review_queue):
                if queued >= activity.review_queue or not others:
                    break
                queued += add(self.rng.choice(others), current, EntryStatus.PENDING)

    def _entries(self) -> list[tuple[dict[str, Any], Decimal]]:
        rng = self.rng
        activity = self.town.activity
        reasons = self.town.review.rejection_reasons
        timed: list[tuple[datetime, int, _Draft, dict[str, Any]]] = []
        for draft in self.drafts:
            own_account = self.account_of_member.get(draft.member.id)
            # Most members have no account: their entries stand for declarations the
            # town office keyed in on their behalf.
            submitter = own_account or self.admin_id
            delay = activity.submit_delay_days.draw(rng)
            submitted_day = min(draft.day + timedelta(days=delay), self.until)
            submitted_at = self._at(submitted_day, rng.randint(DAY_OPENS, DAY_CLOSES))
            decided_at: datetime | None = None
            decided_by: int | None = None
            reason: str | None = None
            if draft.status is not EntryStatus.PENDING:
                days = activity.decide_delay_days.draw(rng)
                decided_day = min(submitted_day + timedelta(days=days), self.until)
                decided_at = self._at(decided_day, rng.randint(DAY_OPENS, DAY_CLOSES))
                if decided_at <= submitted_at:
                    decided_at = submitted_at + timedelta(minutes=rng.randint(10, 90))
                if draft.status is EntryStatus.WITHDRAWN:
                    decided_by = submitter
                else:
                    decided_by = self._reviewer(draft.member.branch_id, own_account)
                if draft.status is EntryStatus.REJECTED:
                    reason = rng.choice(reasons)
            row = {
                "member_id": draft.member.id,
                "branch_id": draft.member.branch_id,
                "rule_id": draft.rule_id,
                "ruleset_version": draft.ruleset_version,
                "activity_date": draft.day,
                "period": period_of(draft.day),
                "quantity": draft.quantity,
                "description": draft.description,
                "status": draft.status,
                "submitted_at": submitted_at,
                "submitted_by_id": submitter,
                "decided_at": decided_at,
                "decided_by_id": decided_by,
                "decision_reason": reason,
            }
            timed.append((submitted_at, draft.seq, draft, row))
        # Ids follow submission order, as they would have had the entries come in live.
        timed.sort(key=lambda item: (item[0], item[1]))
        entries = []
        for entry_id, (_, _, draft, row) in enumerate(timed, start=1):
            row["id"] = entry_id
            entries.append((row, draft.points))
        if entries:
            self.session.execute(insert(Entry), [row for row, _ in entries])
        return entries

    def _reviewer(self, branch_id: int, own_account: int | None) -> int:
        """The branch's secretary; their own entries go to an instructor, else the admin."""
        for reviewer in (self.secretary_of.get(branch_id), self.instructor_of.get(branch_id)):
            if reviewer is not None and reviewer != own_account:
                return reviewer
        return self.admin_id

    def _ledger(self, entries: list[tuple[dict[str, Any], Decimal]]) -> None:
        """Score every member's approved entries with the engine (caps included), so the
        demo ledger is exactly what approving them one by one would have written."""
        by_member_year: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for entry, _ in entries:
            if entry["status"] is EntryStatus.APPROVED:
                key = (entry["member_id"], entry["activity_date"].year)
                by_member_year.setdefault(key, []).append(entry)
        lines: list[dict[str, Any]] = []
        deltas: dict[SummaryKey, tuple[Decimal, int]] = {}
        for (member_id, _year), approved in sorted(by_member_year.items()):
            by_id = {entry["id"]: entry for entry in approved}
            activities = [
                ScoringActivity(
                    source=Source.ENTRY,
                    source_id=entry["id"],
                    rule_id=entry["rule_id"],
                    day=entry["activity_date"],
                    branch_id=entry["branch_id"],
                    quantity=entry["quantity"],
                )
                for entry in approved
            ]
            for scored in score_activities(activities, self.rulebook):
                entry = by_id[scored.activity.source_id]
                lines.append(
                    {
                        "id": len(lines) + 1,
                        "member_id": member_id,
                        "branch_id": entry["branch_id"],
                        "period": entry["period"],
                        "activity_date": entry["activity_date"],
                        "source": Source.ENTRY,
                        "activity_key": scored.activity.key,
                        "entry_id": entry["id"],
                        "adjustment_id": None,
                        "rule_id": entry["rule_id"],
                        "ruleset_version": scored.ruleset_version,
                        "kind": LedgerKind.AWARD,
                        "points": scored.counted,
                        "note": ", ".join(scored.clipped_by),
                        "created_at": entry["decided_at"],
                        "created_by_id": entry["decided_by_id"],
                    }
                )
                summary_key: SummaryKey = (
                    member_id,
                    entry["period"],
                    entry["branch_id"],
                    entry["rule_id"],
                )
                total, count = deltas.get(summary_key, (Decimal(0), 0))
                deltas[summary_key] = (total + scored.counted, count + 1)
        if lines:
            self.session.execute(insert(LedgerLine), lines)
        bulk_insert_summary(self.session, deltas)

    def _advance_sequences(self) -> None:
        # Explicit ids leave PostgreSQL's sequences at 1; the app's next insert would
        # collide with a demo row.
        if self.session.get_bind().dialect.name != "postgresql":
            return
        models: tuple[type[Base], ...] = (
            Branch,
            Organisation,
            Member,
            Account,
            RoleGrant,
            Entry,
            LedgerLine,
        )
        for model in models:
            table = model.__tablename__
            self.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT MAX(id) FROM {table}))"
                )
            )

    # time

    def _first_day(self) -> date:
        return date.fromisoformat(shift_period(period_of(self.until), -MONTHS_BEFORE) + "-01")

    def _at(self, day: date, minute: int) -> datetime:
        """``minute`` after midnight of ``day`` in the town's zone, as an aware UTC time."""
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(UTC)


def _fit(
    values: list[int],
    bounds: list[tuple[int, int]],
    total: int,
    rng: random.Random,
    *,
    what: str,
) -> list[int]:
    """Nudge random draws one at a time until they add up to ``total`` exactly."""
    low = sum(b[0] for b in bounds)
    high = sum(b[1] for b in bounds)
    if not low <= total <= high:
        raise ValueError(f"seeds/town.toml: {total} {what} do not fit between {low} and {high}")
    values = [min(max(v, lo), hi) for v, (lo, hi) in zip(values, bounds, strict=True)]
    gap = total - sum(values)
    while gap:
        i = rng.randrange(len(values))
        if gap > 0 and values[i] < bounds[i][1]:
            values[i] += 1
            gap -= 1
        elif gap < 0 and values[i] > bounds[i][0]:
            values[i] -= 1
            gap += 1
    return values
