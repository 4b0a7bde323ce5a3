"""The demo town (``jifen seed demo``): branches, organisations, members, demo accounts
and a few months of reviewed activity, generated from ``seeds/town.toml``; the complete
months are then published (公示) through ``service.publication.publish`` at times derived from
``until``: the older ones final, one of them corrected after an objection, the last one
still on notice with objections.

Everything is generated in memory first and written with one bulk INSERT per table.
Ids are assigned here rather than by the database, so ledger lines can point at their
entries without reading anything back.

What the loader says (its progress, its refusals, the summary it returns) is in the
terminal's language (service.kernel.i18n): ``jifen seed demo`` prints it as it is.
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
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo

from faker import Faker
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from service.accounts.passwords import hash_password
from service.accounts.principal import Principal, load_principal
from service.audit.capture import suspended as audit_suspended
from service.kernel.i18n import N_
from service.kernel.i18n import terminal_gettext as gettext
from service.kernel.i18n import terminal_ngettext as ngettext
from service.kernel.periods import period_of, shift_period
from service.ledger.reconcile import bulk_insert_summary, upsert_summary
from service.persistence.models import (
    Account,
    Adjustment,
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
    Resolution,
    Role,
    RoleGrant,
)
from service.publication.corrections import open_correction, publish_correction
from service.publication.objections import LineRef, raise_objection, resolve_objection
from service.publication.publish import publish_month
from service.publication.state import DEFAULT_NOTICE_DAYS
from service.scoring.engine import (
    MANUAL_RULE_ID,
    Scored,
    Source,
    entry_points,
    quantity_problem,
    score_activities,
)
from service.scoring.engine import (
    Activity as ScoringActivity,
)
from service.scoring.points import TENTH
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
STEPS = ("branches", "organisations", "members", "accounts", "activity", "ledger", "publication")
# The words the progress bar shows for each step (and when it is done).
STEP_LABELS = {
    "branches": N_("branches"),
    "organisations": N_("organisations"),
    "members": N_("members"),
    "accounts": N_("accounts"),
    "activity": N_("activity"),
    "ledger": N_("ledger"),
    "publication": N_("publication"),
    "done": N_("done"),
}

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


class Busy(_Strict):
    members: int = Field(ge=0)
    demo_accounts: list[str] = Field(default_factory=list)
    month_rule: str
    month_entries: Spread
    day_rule: str
    day_quantities: list[Decimal] = Field(default_factory=list)


class Suggestions(_Strict):
    adopted_share: float = Field(ge=0, le=1)
    implemented_share: float = Field(ge=0, le=1)
    adopt_delay_days: Spread
    implement_delay_days: Spread
    demo_accounts: list[str] = Field(default_factory=list)


class Deductions(_Strict):
    monthly_share: float = Field(ge=0, le=1)
    on_meeting_days: list[str] = Field(default_factory=list)
    record_delay_days: Spread
    reminders: list[Decimal] = Field(min_length=1)
    demo_accounts: list[str] = Field(default_factory=list)
    rule_weights: dict[str, int] = Field(min_length=1)
    reasons: dict[str, list[str]]


class ManualAdjustment(_Strict):
    branch: str
    points: Decimal
    reason: str = Field(min_length=1, max_length=500)


class Revocations(_Strict):
    count: int = Field(ge=0)
    delay_days: Spread
    reasons: list[str] = Field(min_length=1)


class CorrectionStory(_Strict):
    """An older month corrected after an objection: the texts, with ``{name}``,
    ``{month}`` and ``{rule}`` filled in."""

    objector: str
    rule: str
    objection: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    revoke_reason: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class TownObjection(_Strict):
    """An objection to the last published month; with an ``answer`` it is resolved with
    no change. ``{month}`` and ``{count}`` are filled in."""

    account: str
    line: Literal["own", "branch"]
    text: str = Field(min_length=1)
    answer: str | None = None


class Publishing(_Strict):
    day: int = Field(ge=1, le=28)
    at: time = Field(alias="time")
    open_days: int = Field(ge=0)
    correction: CorrectionStory | None = None
    objections: list[TownObjection] = Field(default_factory=list, alias="objection")


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
    busy: Busy
    suggestions: Suggestions
    deductions: Deductions
    manual_adjustments: list[ManualAdjustment] = Field(
        default_factory=list, alias="manual_adjustment"
    )
    revocations: Revocations
    publication: Publishing | None = None
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
        weighted |= {self.busy.month_rule, self.busy.day_rule}
        for rule_id in sorted(weighted - set(self.descriptions)):
            problems.append(f"rule '{rule_id}' has weight but no [descriptions] list")
        deductions = self.deductions
        for rule_id in sorted(set(deductions.rule_weights) - set(deductions.reasons)):
            problems.append(f"deduction '{rule_id}' has weight but no [deductions.reasons] list")
        for rule_id, reasons in deductions.reasons.items():
            if not reasons or any(not r.strip() or len(r) > 500 for r in reasons):
                problems.append(f"deduction '{rule_id}': reasons must be 1 to 500 characters")
        usernames = {a.username for a in self.demo.accounts if a.member_of is not None}
        for section, names in (
            ("busy", self.busy.demo_accounts),
            ("suggestions", self.suggestions.demo_accounts),
            ("deductions", self.deductions.demo_accounts),
        ):
            for name in sorted(set(names) - usernames):
                problems.append(f"[{section}] demo account '{name}' is not a member's account")
        if self.publication is not None:
            story = self.publication.correction
            speakers = [story.objector] if story else []
            speakers += [o.account for o in self.publication.objections]
            for name in sorted(set(speakers) - usernames):
                problems.append(f"[publication] demo account '{name}' is not a member's account")
        for adjustment in self.manual_adjustments:
            if adjustment.branch not in known:
                problems.append(f"manual adjustment: unknown branch '{adjustment.branch}'")
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


@dataclass(frozen=True)
class _Event:
    """Something a service did to a member's points at ``at``: approve an entry, mark a
    suggestion step, record an adjustment (``add``), or revoke an approval (``remove``,
    with reversal lines for ``reversed_keys``). ``years`` are the years the service
    reconciles afterwards."""

    at: datetime
    member_id: int
    actor_id: int
    years: tuple[int, ...]
    add: tuple[ScoringActivity, ...] = ()
    remove: frozenset[str] = frozenset()
    reversed_keys: frozenset[str] = frozenset()
    note: str = ""


@dataclass(frozen=True)
class _CorrectionPlan:
    """An older month corrected during its notice window: a member objects to a
    colleague's line, the office opens a correction, the reviewer revokes the entry,
    the office publishes revision 2 and resolves the objection."""

    period: str
    member_id: int  # whose line is objected to
    fill: Mapping[str, Any]  # for the texts' placeholders
    objected_at: datetime
    opened_at: datetime
    event: _Event  # the revocation
    republished_at: datetime
    resolved_at: datetime


@dataclass
class _Held:
    """What the ledger holds for one activity (``service.ledger.reconcile.LedgerState``)."""

    points: Decimal
    rule_id: str
    branch_id: int
    day: date
    ruleset_version: str


class _Replay:
    """One member's ledger, written in memory the way ``reconcile_member`` writes it."""

    def __init__(self, rulebook: Rulebook, member_id: int) -> None:
        self.rulebook = rulebook
        self.member_id = member_id
        self.activities: dict[str, ScoringActivity] = {}
        self.held: dict[int, dict[str, _Held]] = {}
        self.last: dict[int, list[Scored]] = {}

    def apply(self, event: _Event) -> list[dict[str, Any]]:
        for activity in event.add:
            self.activities[activity.key] = activity
        for key in event.remove:
            self.activities.pop(key, None)
        lines: list[dict[str, Any]] = []
        for year in sorted(set(event.years)):
            lines += self._reconcile(year, event)
        return lines

    def clipped(self) -> int:
        """Activities whose counted points a cap reduced, after the last event."""
        return sum(s.counted < s.raw for scored in self.last.values() for s in scored)

    def _reconcile(self, year: int, event: _Event) -> list[dict[str, Any]]:
        scored_list = score_activities(
            (a for a in self.activities.values() if a.day.year == year), self.rulebook
        )
        self.last[year] = scored_list
        scored = {s.activity.key: s for s in scored_list}
        held = self.held.setdefault(year, {})
        lines = []
        for key in sorted(scored.keys() | held.keys()):
            fresh, state = scored.get(key), held.get(key)
            expected = fresh.counted if fresh else Decimal("0.0")
            if state is None:
                assert fresh is not None
                why = ", ".join(fresh.clipped_by) or ("missing rule" if fresh.missing_rule else "")
                kind, delta = LedgerKind.AWARD, expected
            else:
                delta = expected - state.points
                if delta == 0:
                    continue
                kind = LedgerKind.REVERSAL if key in event.reversed_keys else LedgerKind.CAP
                why = event.note
            if fresh is not None:
                activity = fresh.activity
                where = _Held(
                    delta,
                    activity.rule_id,
                    activity.branch_id,
                    activity.day,
                    fresh.ruleset_version,
                )
            else:
                assert state is not None
                where = _Held(
                    delta, state.rule_id, state.branch_id, state.day, state.ruleset_version
                )
            if state is None:
                held[key] = where
            else:
                state.points += delta
            source, _, source_id = key.partition(":")
            lines.append(
                {
                    "member_id": self.member_id,
                    "branch_id": where.branch_id,
                    "period": period_of(where.day),
                    "activity_date": where.day,
                    "source": Source(source),
                    "activity_key": key,
                    "entry_id": None if source == Source.ADJUSTMENT else int(source_id),
                    "adjustment_id": int(source_id) if source == Source.ADJUSTMENT else None,
                    "rule_id": where.rule_id,
                    "ruleset_version": where.ruleset_version,
                    "kind": kind,
                    "points": delta,
                    "note": why,
                    "created_at": event.at,
                    "created_by_id": event.actor_id,
                }
            )
        return lines


def _entry_activity(row: Mapping[str, Any], source: Source, day: date) -> ScoringActivity:
    return ScoringActivity(
        source=source,
        source_id=row["id"],
        rule_id=row["rule_id"],
        day=day,
        branch_id=row["branch_id"],
        quantity=row["quantity"],
    )


# --- progress -------------------------------------------------------------------------


@contextmanager
def _steps(console: Console | None) -> Iterator[Callable[[str], None]]:
    """Yield ``start(step)``; each call marks the previous step done."""
    if console is None:
        yield lambda _step: None
        return
    columns = (
        TextColumn(gettext("demo town:") + " {task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(gettext(STEP_LABELS[STEPS[0]]), total=len(STEPS))
        started = False

        def start(step: str) -> None:
            nonlocal started
            label = gettext(STEP_LABELS[step])
            progress.update(task, description=label, advance=1 if started else 0)
            started = True

        yield start
        progress.update(task, description=gettext(STEP_LABELS["done"]), completed=len(STEPS))


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
            gettext(
                "the demo town is not loaded in production (JIFEN_ENV=production): it "
                "creates accounts with a published password"
            )
        )
    town = read_town_file(seeds_dir)
    if rulebook.in_force(until) is None:
        raise DemoRefused(
            gettext(
                "no points ruleset is in force on %(day)s, so there would be no activity "
                "to show; choose a later --until"
            )
            % {"day": until.isoformat()}
        )
    _refuse_unless_empty(session)
    with _steps(console) as start, audit_suspended():  # a bulk load, not people's changes
        return _TownBuilder(session, rulebook, town, until).build(start)


def _refuse_unless_empty(session: Session) -> None:
    # Ids are assigned here, so rows already present would collide (or worse, be joined
    # to the demo town's rows).
    for model in (Branch, Organisation, Member, Account, Entry):
        if session.scalar(select(func.count()).select_from(model)):
            raise DemoRefused(
                gettext(
                    "the database already holds data (table '%(table)s'); load the demo "
                    "town into an empty database"
                )
                % {"table": model.__tablename__}
            )


def _counted(text: str, count: int) -> str:
    """``text`` (an ngettext form with ``%(count)s``) for ``count``."""
    return text % {"count": count}


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
        # (member, rule, period) where a busy member declared more than the cap counts.
        self.busy_windows: list[tuple[int, str, str]] = []
        # Drafts (by seq) of the demo members' suggestions that are adopted and implemented.
        self.demo_suggestions: set[int] = set()
        # When the office publishes each complete month (UTC), oldest first.
        self.publish_at: dict[str, datetime] = {}
        # The older month corrected after an objection, with the revocation it makes;
        # the revocation's summary deltas wait until the correction is opened.
        self.correction: _CorrectionPlan | None = None
        self.correction_deltas: dict[SummaryKey, tuple[Decimal, int]] = {}

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
        self._plan_publications(months)
        self._activity(months)
        self._demo_guarantees(months)
        self._busy_members(months)
        self._demo_suggestions(months)
        entries = self._entries()
        events = self._approvals(entries)
        events += self._suggestion_steps(entries, months)
        events += self._revocations(entries, months)
        events += self._correction_revocation(entries)
        self._insert_entries(entries)
        adjustments = self._deductions(months) + self._manual_adjustments(months)
        events += self._insert_adjustments(adjustments)
        start("ledger")
        self._ledger(events)
        self._advance_sequences()
        self.session.flush()
        start("publication")
        published = self._publish(entries)
        pending = sum(row["status"] is EntryStatus.PENDING for row in entries)
        joint = sum(b.kind is BranchKind.JOINT for b in self.branches)
        usernames = " / ".join(a.username for a in self.town.demo.accounts)
        counts = self.counts
        branches, organisations = len(self.branches), counts["organisations"]
        members, adopted = counts["members"], counts["adopted"]
        deductions, manual = counts["deductions"], counts["manual"]
        revoked, lines = counts["revoked"], counts["ledger_lines"]
        summary = gettext(
            "demo town %(town)s loaded: %(branches)s (%(joint)d joint), %(organisations)s, "
            "%(members)s, %(entries)s (%(pending)d pending) up to %(until)s; %(adopted)s "
            "(%(implemented)d implemented), %(deductions)s, %(adjustments)s, %(revoked)s, "
            "%(ledger_lines)s (%(clipped)d clipped by caps); %(published)s; "
            "accounts %(accounts)s, password %(password)s"
        )
        return summary % {
            "town": self.town.town.name,
            "branches": _counted(
                ngettext("%(count)s branch", "%(count)s branches", branches), branches
            ),
            "joint": joint,
            "organisations": _counted(
                ngettext("%(count)s organisation", "%(count)s organisations", organisations),
                organisations,
            ),
            "members": _counted(
                ngettext("%(count)s member", "%(count)s members", members), members
            ),
            "entries": _counted(
                ngettext("%(count)s entry", "%(count)s entries", len(entries)), len(entries)
            ),
            "pending": pending,
            "until": self.until.isoformat(),
            "adopted": _counted(
                ngettext("%(count)s suggestion adopted", "%(count)s suggestions adopted", adopted),
                adopted,
            ),
            "implemented": counts["implemented"],
            "deductions": _counted(
                ngettext("%(count)s deduction", "%(count)s deductions", deductions), deductions
            ),
            "adjustments": _counted(
                ngettext("%(count)s manual adjustment", "%(count)s manual adjustments", manual),
                manual,
            ),
            "revoked": _counted(
                ngettext("%(count)s approval revoked", "%(count)s approvals revoked", revoked),
                revoked,
            ),
            "ledger_lines": _counted(
                ngettext("%(count)s ledger line", "%(count)s ledger lines", lines), lines
            ),
            "clipped": counts["clipped"],
            "published": published,
            "accounts": usernames,
            "password": self.town.demo.password,
        }

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
        *,
        rule_id: str | None = None,
        day: date | None = None,
        quantity: Decimal | None = None,
    ) -> _Draft | None:
        """Draft one entry; ``rule_id``, ``day`` and ``quantity`` fix what is not drawn."""
        rng, profile = self.rng, branch.profile
        wanted_rule, wanted_day, wanted_quantity = rule_id, day, quantity
        for _ in range(8):
            rule_id = wanted_rule or rng.choices(profile.rule_ids, profile.weights)[0]
            if wanted_day is not None:
                day = wanted_day
            elif rule_id in meetings:
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
            quantity = self._quantity(rule) if wanted_quantity is None else wanted_quantity
            if quantity is None or quantity_problem(rule, quantity) is not None:
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

    def _busy_members(self, months: list[_Month]) -> None:
        """A few members do more than the caps count in one past month, so the demo
        shows caps clipping (and the explanation of a clipped score)."""
        busy, rng = self.town.busy, self.rng
        past = months[:-1]
        if not past:
            return
        branch_of = {b.id: b for b in self.branches}
        member_of = {m.id: m for b in self.branches for m in b.members}
        chosen = [member_of[self._member_of_account(name)] for name in busy.demo_accounts]
        others = [
            m
            for b in self.branches
            for m in b.members
            if m.status in (MemberStatus.FULL, MemberStatus.PROBATIONARY)
            and m.id not in self.account_of_member
        ]
        chosen += rng.sample(others, min(busy.members, len(others)))
        for member in chosen:
            month = rng.choice(past)
            branch = branch_of[member.branch_id]
            meetings = self.meetings[(branch.id, month.period)]
            have = sum(
                d.member.id == member.id
                and d.rule_id == busy.month_rule
                and d.status is EntryStatus.APPROVED
                and period_of(d.day) == month.period
                for d in self.drafts
            )
            for _ in range(busy.month_entries.draw(rng) - have):
                self._draft(
                    branch, member, month, meetings, EntryStatus.APPROVED, rule_id=busy.month_rule
                )
            day = rng.choice(month.days)
            for quantity in busy.day_quantities:
                self._draft(
                    branch,
                    member,
                    month,
                    meetings,
                    EntryStatus.APPROVED,
                    rule_id=busy.day_rule,
                    day=day,
                    quantity=quantity,
                )
            if member.id not in self.account_of_member:
                self.busy_windows.append((member.id, busy.month_rule, month.period))

    def _demo_suggestions(self, months: list[_Month]) -> None:
        """The listed demo members have an approved suggestion early enough to be adopted
        and implemented before ``until``."""
        branch_of = {b.id: b for b in self.branches}
        member_of = {m.id: m for b in self.branches for m in b.members}
        for name in self.town.suggestions.demo_accounts:
            member = member_of[self._member_of_account(name)]
            branch = branch_of[member.branch_id]
            for month in months[:-1]:
                ruleset = self._ruleset_on(month.days[0])
                rule = next((r for r in ruleset.rules if r.suggestion), None) if ruleset else None
                if rule is None:
                    continue
                meetings = self.meetings[(branch.id, month.period)]
                draft = self._draft(
                    branch, member, month, meetings, EntryStatus.APPROVED, rule_id=rule.id
                )
                if draft is not None:
                    self.demo_suggestions.add(draft.seq)
                    break

    def _member_of_account(self, username: str) -> int:
        account_id = self._account_id(username)
        return next(m for m, a in self.account_of_member.items() if a == account_id)

    def _entries(self) -> list[dict[str, Any]]:
        """Entry rows with their ids, in submission order; written later, once the
        suggestion steps and revocations have been added to them."""
        rng = self.rng
        activity = self.town.activity
        reasons = self.town.review.rejection_reasons
        timed: list[tuple[datetime, int, dict[str, Any]]] = []
        for draft in self.drafts:
            own_account = self.account_of_member.get(draft.member.id)
            # Most members have no account: their entries stand for declarations the
            # town office keyed in on their behalf.
            submitter = own_account or self.admin_id
            # Decided before the month is published: publishing refuses pending entries.
            last_day = self._last_day(draft.day)
            delay = activity.submit_delay_days.draw(rng)
            submitted_day = min(draft.day + timedelta(days=delay), last_day)
            submitted_at = self._at(submitted_day, rng.randint(DAY_OPENS, DAY_CLOSES))
            decided_at: datetime | None = None
            decided_by: int | None = None
            reason: str | None = None
            if draft.status is not EntryStatus.PENDING:
                days = activity.decide_delay_days.draw(rng)
                decided_day = min(submitted_day + timedelta(days=days), last_day)
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
                "adopted_on": None,
                "adopted_by_id": None,
                "implemented_on": None,
                "implemented_by_id": None,
                "revoked_at": None,
                "revoked_by_id": None,
                "revoke_reason": None,
                "_seq": draft.seq,
            }
            timed.append((submitted_at, draft.seq, row))
        # Ids follow submission order, as they would have had the entries come in live.
        timed.sort(key=lambda item: (item[0], item[1]))
        entries = []
        for entry_id, (_, _, row) in enumerate(timed, start=1):
            row["id"] = entry_id
            entries.append(row)
        return entries

    def _insert_entries(self, entries: list[dict[str, Any]]) -> None:
        rows = [{k: v for k, v in row.items() if k != "_seq"} for row in entries]
        if rows:
            self.session.execute(insert(Entry), rows)

    def _reviewer(self, branch_id: int, own_account: int | None) -> int:
        """The branch's secretary; their own entries go to an instructor, else the admin."""
        for reviewer in (self.secretary_of.get(branch_id), self.instructor_of.get(branch_id)):
            if reviewer is not None and reviewer != own_account:
                return reviewer
        return self.admin_id

    def _recorder(self, branch_id: int, member_id: int) -> int:
        """Who records a deduction or adjustment: the branch secretary (never for their
        own points), else the town office. Instructors do not record them."""
        secretary = self.secretary_of.get(branch_id)
        if secretary is not None and secretary != self.account_of_member.get(member_id):
            return secretary
        return self.admin_id

    # after approval: the events the ledger is replayed from

    def _approvals(self, entries: list[dict[str, Any]]) -> list[_Event]:
        events = []
        for row in entries:
            if row["status"] is EntryStatus.APPROVED:
                events.append(
                    _Event(
                        at=row["decided_at"],
                        member_id=row["member_id"],
                        actor_id=row["decided_by_id"],
                        years=(row["activity_date"].year,),
                        add=(_entry_activity(row, Source.ENTRY, row["activity_date"]),),
                    )
                )
        return events

    def _suggestion_steps(
        self, entries: list[dict[str, Any]], months: list[_Month]
    ) -> list[_Event]:
        """Mark approved suggestions adopted (采纳) and some of them implemented (落实), as
        the secretary does through ``service.entries.suggestions.mark_step``."""
        config, rng = self.town.suggestions, self.rng
        current = months[-1].period
        events: list[_Event] = []
        adopted = implemented = 0
        for row in entries:
            if row["status"] is not EntryStatus.APPROVED or row["period"] >= current:
                continue
            ruleset = self._ruleset_on(row["activity_date"])
            rule = ruleset.rule(row["rule_id"]) if ruleset else None
            if rule is None or not rule.suggestion:
                continue
            demo = row["_seq"] in self.demo_suggestions
            if not demo and rng.random() >= config.adopted_share:
                continue
            actor = self._reviewer(row["branch_id"], self.account_of_member.get(row["member_id"]))
            decided_day = row["decided_at"].astimezone(self.zone).date()
            adopted_on = decided_day + timedelta(days=config.adopt_delay_days.draw(rng))
            if adopted_on > self.until:
                continue
            adopted_at = self._after(row["decided_at"], adopted_on)
            row["adopted_on"], row["adopted_by_id"] = adopted_on, actor
            events.append(self._step_event(row, Source.ADOPTED, adopted_on, adopted_at, actor))
            adopted += 1
            if not demo and rng.random() >= config.implemented_share:
                continue
            implemented_on = adopted_on + timedelta(days=config.implement_delay_days.draw(rng))
            implemented_on = min(implemented_on, self.until) if demo else implemented_on
            if implemented_on > self.until:
                continue
            implemented_at = self._after(adopted_at, implemented_on)
            row["implemented_on"], row["implemented_by_id"] = implemented_on, actor
            events.append(
                self._step_event(row, Source.IMPLEMENTED, implemented_on, implemented_at, actor)
            )
            implemented += 1
        self.counts["adopted"], self.counts["implemented"] = adopted, implemented
        return events

    def _step_event(
        self, row: dict[str, Any], source: Source, day: date, at: datetime, actor: int
    ) -> _Event:
        return _Event(
            at=at,
            member_id=row["member_id"],
            actor_id=actor,
            years=(day.year,),
            add=(_entry_activity(row, source, day),),
        )

    def _after(self, earlier: datetime, day: date) -> datetime:
        """A time in office hours on ``day``, later than ``earlier``."""
        at = self._at(day, self.rng.randint(DAY_OPENS, DAY_CLOSES))
        if at <= earlier:
            at = earlier + timedelta(minutes=self.rng.randint(10, 90))
        return at

    def _revocations(self, entries: list[dict[str, Any]], months: list[_Month]) -> list[_Event]:
        """Take back a few approvals, as a reviewer does through
        ``service.entries.review.revoke_entry``. The first is a busy member's entry in a month
        whose cap clipped, so the entries it made room for count again."""
        config, rng = self.town.revocations, self.rng
        current = months[-1].period
        candidates = [
            row
            for row in entries
            if row["status"] is EntryStatus.APPROVED
            and row["period"] < current
            and row["adopted_on"] is None
            and row["member_id"] not in self.account_of_member
        ]
        # Revoked no earlier than ``not_before``: the busy member's entry once the whole
        # month is approved, so the cap clipped and the revocation makes room.
        chosen: list[tuple[dict[str, Any], datetime]] = []
        if self.busy_windows and config.count:
            member_id, rule_id, period = self.busy_windows[0]
            in_window = [
                row
                for row in candidates
                if (row["member_id"], row["rule_id"], row["period"]) == (member_id, rule_id, period)
            ]
            if in_window:
                first = min(in_window, key=lambda row: (row["activity_date"], row["id"]))
                chosen.append((first, max(row["decided_at"] for row in in_window)))
        taken = {row["id"] for row, _ in chosen}
        rest = [row for row in candidates if row["id"] not in taken]
        for row in rng.sample(rest, min(len(rest), config.count - len(chosen))):
            chosen.append((row, row["decided_at"]))
        reasons = rng.sample(config.reasons, len(config.reasons))
        events = []
        for number, (row, not_before) in enumerate(sorted(chosen, key=lambda item: item[0]["id"])):
            start_day = not_before.astimezone(self.zone).date()
            last_day = self._last_day(row["activity_date"])
            day = min(start_day + timedelta(days=config.delay_days.draw(rng)), last_day)
            revoked_at = self._after(not_before, day)
            actor = self._reviewer(row["branch_id"], self.account_of_member.get(row["member_id"]))
            reason = reasons[number % len(reasons)]
            row["status"] = EntryStatus.REVOKED
            row["revoked_at"], row["revoked_by_id"], row["revoke_reason"] = (
                revoked_at,
                actor,
                reason,
            )
            keys = frozenset(f"{source.value}:{row['id']}" for source in Source)
            events.append(
                _Event(
                    at=revoked_at,
                    member_id=row["member_id"],
                    actor_id=actor,
                    years=tuple(
                        sorted(
                            {
                                d.year
                                for d in (
                                    row["activity_date"],
                                    row["adopted_on"],
                                    row["implemented_on"],
                                )
                                if d is not None
                            }
                        )
                    ),
                    remove=keys,
                    reversed_keys=keys,
                    note=reason,
                )
            )
        self.counts["revoked"] = len(events)
        return events

    def _deductions(self, months: list[_Month]) -> list[dict[str, Any]]:
        """Deductions (扣分) a secretary records with the branch's decision, as
        ``service.entries.adjustments.record_adjustment`` does."""
        config, rng = self.town.deductions, self.rng
        rule_ids, weights = tuple(config.rule_weights), tuple(config.rule_weights.values())
        wanted: list[tuple[_MemberPlan, _Month]] = []
        for month in months:
            for branch in self.branches:
                for member in branch.members:
                    if member.status is MemberStatus.EXEMPT:
                        continue
                    if rng.random() < config.monthly_share * month.elapsed:
                        wanted.append((member, month))
        member_of = {m.id: m for b in self.branches for m in b.members}
        for name in config.demo_accounts:
            member = member_of[self._member_of_account(name)]
            if not any(m.id == member.id for m, _ in wanted) and len(months) > 1:
                wanted.append((member, rng.choice(months[:-1])))
        rows: list[dict[str, Any]] = []
        for member, month in wanted:
            for _ in range(8):
                rule_id = rng.choices(rule_ids, weights)[0]
                row = self._deduction(member, month, rule_id)
                if row is not None:
                    rows.append(row)
                    break
        self.counts["deductions"] = len(rows)
        return rows

    def _deduction(self, member: _MemberPlan, month: _Month, rule_id: str) -> dict[str, Any] | None:
        config, rng = self.town.deductions, self.rng
        if rule_id in config.on_meeting_days:
            meetings = self.meetings[(member.branch_id, month.period)]
            missed = [
                day
                for meeting, days in meetings.items()
                for day in days
                if (member.id, meeting, day) not in self.attended
            ]
            if not missed:
                return None
            day = rng.choice(sorted(missed))
        else:
            day = rng.choice(month.days)
        ruleset = self._ruleset_on(day)
        rule = ruleset.rule(rule_id) if ruleset else None
        if rule is None or rule.member_declares:
            return None
        quantity = rng.choice(config.reminders) if rule.per_unit else Decimal(1)
        if quantity_problem(rule, quantity) is not None:
            return None
        delay = timedelta(days=config.record_delay_days.draw(rng))
        recorded = min(day + delay, self._last_day(day))
        return self._adjustment_row(
            member, rule_id, day, quantity, None, rng.choice(config.reasons[rule_id]), recorded
        )

    def _manual_adjustments(self, months: list[_Month]) -> list[dict[str, Any]]:
        """Manual adjustments a secretary records, points given, reason required."""
        rng, rows = self.rng, []
        for spec in self.town.manual_adjustments:
            branch = self.branch_by_name[spec.branch]
            secretary = self.secretary_of.get(branch.id)
            members = [
                m
                for m in branch.members
                if m.status is not MemberStatus.EXEMPT
                and (secretary is None or self.account_of_member.get(m.id) != secretary)
            ]
            days = [d for month in months[:-1] for d in month.days if self._ruleset_on(d)]
            if not members or not days or spec.points != spec.points.quantize(TENTH):
                continue
            day = rng.choice(days)
            recorded = min(day + timedelta(days=rng.randint(1, 5)), self._last_day(day))
            member = rng.choice(members)
            rows.append(
                self._adjustment_row(
                    member, MANUAL_RULE_ID, day, Decimal(1), spec.points, spec.reason, recorded
                )
            )
        self.counts["manual"] = len(rows)
        return rows

    def _adjustment_row(
        self,
        member: _MemberPlan,
        rule_id: str,
        day: date,
        quantity: Decimal,
        points: Decimal | None,
        reason: str,
        recorded: date,
    ) -> dict[str, Any]:
        return {
            "member_id": member.id,
            "branch_id": member.branch_id,
            "rule_id": rule_id,
            "day": day,
            "period": period_of(day),
            "quantity": quantity,
            "points": points,
            "reason": reason,
            "created_at": self._at(recorded, self.rng.randint(DAY_OPENS, DAY_CLOSES)),
            "created_by_id": self._recorder(member.branch_id, member.id),
        }

    def _insert_adjustments(self, rows: list[dict[str, Any]]) -> list[_Event]:
        """Ids follow recording order; one event per adjustment."""
        rows.sort(key=lambda row: (row["created_at"], row["member_id"], row["day"]))
        events = []
        for adjustment_id, row in enumerate(rows, start=1):
            row["id"] = adjustment_id
            activity = ScoringActivity(
                source=Source.ADJUSTMENT,
                source_id=adjustment_id,
                rule_id=row["rule_id"],
                day=row["day"],
                branch_id=row["branch_id"],
                quantity=row["quantity"],
                points=row["points"],
            )
            events.append(
                _Event(
                    at=row["created_at"],
                    member_id=row["member_id"],
                    actor_id=row["created_by_id"],
                    years=(row["day"].year,),
                    add=(activity,),
                    note=row["reason"],
                )
            )
        if rows:
            self.session.execute(insert(Adjustment), rows)
        return events

    def _ledger(self, events: list[_Event]) -> None:
        """Replay every approval, suggestion step, revocation and adjustment in time
        order through the engine, member by member, appending what
        ``service.ledger.reconcile.reconcile_member`` appends after each: so the demo ledger is
        exactly what the services would have written, CAP and REVERSAL lines included."""
        by_member: dict[int, list[tuple[datetime, int, _Event]]] = {}
        for seq, event in enumerate(events):
            by_member.setdefault(event.member_id, []).append((event.at, seq, event))
        timed: list[tuple[datetime, int, int, dict[str, Any]]] = []
        clipped = 0
        for member_id in sorted(by_member):
            replay = _Replay(self.rulebook, member_id)
            for at, seq, event in sorted(by_member[member_id], key=lambda item: item[:2]):
                for index, line in enumerate(replay.apply(event)):
                    timed.append((at, seq, index, line))
            clipped += replay.clipped()
        timed.sort(key=lambda item: item[:3])
        lines = []
        deltas: dict[SummaryKey, tuple[Decimal, int]] = {}
        held_back = self.correction_deltas
        late = self.correction.event if self.correction else None
        for line_id, (_, seq, _, line) in enumerate(timed, start=1):
            line["id"] = line_id
            lines.append(line)
            key: SummaryKey = (
                line["member_id"],
                line["period"],
                line["branch_id"],
                line["rule_id"],
            )
            # The correction's lines reach the boards once it is opened (see _publish).
            into = held_back if late is not None and events[seq] is late else deltas
            total, count = into.get(key, (Decimal(0), 0))
            into[key] = (total + line["points"], count + 1)
        if lines:
            self.session.execute(insert(LedgerLine), lines)
        bulk_insert_summary(self.session, deltas)
        self.counts["ledger_lines"] = len(lines)
        self.counts["clipped"] = clipped

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
            Adjustment,
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

    # publication

    def _plan_publications(self, months: list[_Month]) -> None:
        """When the office publishes each complete month with activity: on the configured
        day of the next month, the last one later if need be, so that its notice window
        is still open ``open_days`` after ``until``."""
        config = self.town.publication
        if config is None:
            return
        complete = [m for m in months if not m.current and any(map(self._ruleset_on, m.days))]
        minute = config.at.hour * 60 + config.at.minute
        for month in complete:
            first = date.fromisoformat(shift_period(month.period, 1) + "-01")
            day = first.replace(day=config.day)
            if month is complete[-1]:
                lag = timedelta(days=max(0, self._notice_days(month.period) - config.open_days))
                day = max(first, min(day, self.until), self.until - lag)
            self.publish_at[month.period] = self._at(day, minute)

    def _notice_days(self, period: str) -> int:
        ruleset = self.rulebook.in_force(date.fromisoformat(period + "-01"))
        return ruleset.notice_days if ruleset else DEFAULT_NOTICE_DAYS

    def _last_day(self, day: date) -> date:
        """The last day on which something dated ``day`` may be decided or recorded: the
        day before its month is published, else ``until``."""
        at = self.publish_at.get(period_of(day))
        if at is None:
            return self.until
        return min(self.until, at.astimezone(self.zone).date() - timedelta(days=1))

    def _publish(self, entries: list[dict[str, Any]]) -> str:
        """Publish the planned months through ``service.publication.publish`` at their times, as
        the office would have: the month before the last is corrected after an objection
        while on notice; the last one is still on notice and holds objections."""
        config = self.town.publication
        self.counts["objections"] = 0
        if config is None or not self.publish_at:
            return gettext("no month published")
        admin = self._principal(self.admin_id)
        periods = sorted(self.publish_at)
        plan = self.correction
        for period in periods:
            publish_month(self.session, admin, self.rulebook, period, now=self.publish_at[period])
            if plan is not None and period == plan.period and config.correction:
                self._correct(admin, config.correction, plan)
        self._object(admin, config.objections, periods[-1], entries)
        last = self.publish_at[periods[-1]]
        window_ends = last + timedelta(days=self._notice_days(periods[-1]))
        months: list[str] = []
        if len(periods) > 1:
            months.append(
                gettext("%(first)s to %(last)s final") % {"first": periods[0], "last": periods[-2]}
            )
        if plan:
            months.append(
                gettext("%(period)s corrected (revision %(revision)s)")
                % {"period": plan.period, "revision": 2}
            )
        objections = self.counts["objections"]
        on_notice = ngettext(
            "%(period)s on notice until %(until)s (%(count)d objection raised in all)",
            "%(period)s on notice until %(until)s (%(count)d objections raised in all)",
            objections,
        )
        months.append(
            on_notice
            % {
                "period": periods[-1],
                "until": f"{window_ends.astimezone(self.zone):%Y-%m-%d %H:%M}",
                "count": objections,
            }
        )
        # TRANSLATORS: between the months of "published 2026-08 to 2026-09 final, 2026-10
        # on notice until ..." in the summary of `jifen seed demo`.
        separator = gettext(", ")
        return gettext("published %(months)s") % {"months": separator.join(months)}

    def _principal(self, account_id: int) -> Principal:
        principal = load_principal(self.session, account_id)
        assert principal is not None
        return principal

    def _account_id(self, username: str) -> int:
        return next(
            i for i, a in enumerate(self.town.demo.accounts, start=1) if a.username == username
        )

    def _correction_revocation(self, entries: list[dict[str, Any]]) -> list[_Event]:
        """Plan the correction of the month before the last published one: the entry
        the objection is about, revoked by its reviewer once the correction is open
        (as ``service.entries.review.revoke_entry`` does). The story itself runs in _publish."""
        config = self.town.publication
        story = config.correction if config else None
        periods = sorted(self.publish_at)
        if story is None or len(periods) < 2:
            return []
        period = periods[-2]
        objector = self._member_of_account(story.objector)
        branch_id = next(b.id for b in self.branches for m in b.members if m.id == objector)

        def fits(row: dict[str, Any], rule_id: str | None) -> bool:
            if (
                row["status"] is not EntryStatus.APPROVED
                or row["period"] != period
                or row["branch_id"] != branch_id
                or row["member_id"] in self.account_of_member
                or row["adopted_on"] is not None
                or (rule_id is not None and row["rule_id"] != rule_id)
            ):
                return False
            # Without a yearly cap, revoking it moves no point of a later month.
            ruleset = self._ruleset_on(row["activity_date"])
            rule = ruleset.rule(row["rule_id"]) if ruleset else None
            return rule is not None and "cap_per_year" not in rule.caps

        candidates = [row for row in entries if fits(row, story.rule)]
        candidates = candidates or [row for row in entries if fits(row, None)]
        if not candidates:
            return []
        row = self.rng.choice(candidates)
        ruleset = self._ruleset_on(row["activity_date"])
        rule = ruleset.rule(row["rule_id"]) if ruleset else None
        assert rule is not None
        published = self.publish_at[period]
        opened = published + timedelta(hours=23, minutes=30)
        revoked_at = opened + timedelta(minutes=50)
        row["status"] = EntryStatus.REVOKED
        row["revoked_at"], row["revoked_by_id"] = revoked_at, row["decided_by_id"]
        row["revoke_reason"] = story.revoke_reason
        keys = frozenset(f"{source.value}:{row['id']}" for source in Source)
        event = _Event(
            at=revoked_at,
            member_id=row["member_id"],
            actor_id=row["decided_by_id"],
            years=(row["activity_date"].year,),
            remove=keys,
            reversed_keys=keys,
            note=story.revoke_reason,
        )
        republished = opened + timedelta(hours=5, minutes=30)
        self.correction = _CorrectionPlan(
            period=period,
            member_id=row["member_id"],
            fill={
                "name": self.member_names[row["member_id"]],
                "month": int(period[5:7]),
                "rule": rule.name_zh,
            },
            objected_at=published + timedelta(hours=10, minutes=15),
            opened_at=opened,
            event=event,
            republished_at=republished,
            resolved_at=republished + timedelta(minutes=30),
        )
        self.counts["revoked"] += 1
        return [event]

    def _correct(self, admin: Principal, story: CorrectionStory, plan: _CorrectionPlan) -> None:
        """The correction story on the published month: objection, correction opened,
        the revocation's points reach the board, revision 2, objection resolved."""
        objection_id = raise_objection(
            self.session,
            self._principal(self._account_id(story.objector)),
            plan.period,
            LineRef(member_id=plan.member_id),
            story.objection.format(**plan.fill),
            now=plan.objected_at,
        )
        open_correction(
            self.session, admin, plan.period, story.reason.format(**plan.fill), now=plan.opened_at
        )
        # The revocation's ledger lines were written with the others (ids follow time);
        # the summary the boards read gets them now.
        upsert_summary(self.session, self.correction_deltas)
        publish_correction(self.session, admin, self.rulebook, plan.period, now=plan.republished_at)
        resolve_objection(
            self.session,
            admin,
            objection_id,
            story.answer.format(**plan.fill),
            Resolution.CORRECTED.value,
            now=plan.resolved_at,
        )
        self.counts["objections"] += 1

    def _object(
        self,
        admin: Principal,
        objections: Sequence[TownObjection],
        period: str,
        entries: list[dict[str, Any]],
    ) -> None:
        """The demo members' objections to the last published month, raised and answered
        between its publication and the evening of ``until``."""
        published = self.publish_at[period]
        span = self._at(self.until, 20 * 60) - published
        slots = 2 * len(objections) + 1
        member_of = {m.id: m for b in self.branches for m in b.members}

        def slot(number: int) -> datetime:
            at = published + span * number / slots
            return at.replace(second=0, microsecond=0)

        for index, spec in enumerate(objections):
            member = member_of[self._member_of_account(spec.account)]
            count = sum(
                row["member_id"] == member.id
                and row["period"] == period
                and row["status"] is EntryStatus.APPROVED
                for row in entries
            )
            fill = {"month": int(period[5:7]), "count": count}
            line = (
                LineRef(member_id=member.id)
                if spec.line == "own"
                else LineRef(branch_id=member.branch_id)
            )
            objection_id = raise_objection(
                self.session,
                self._principal(self._account_id(spec.account)),
                period,
                line,
                spec.text.format(**fill),
                now=slot(2 * index + 1),
            )
            if spec.answer is not None:
                resolve_objection(
                    self.session,
                    admin,
                    objection_id,
                    spec.answer.format(**fill),
                    Resolution.NO_CHANGE.value,
                    now=slot(2 * index + 2),
                )
            self.counts["objections"] += 1

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
