"""The builder's state (what every step reads and adds to) and the small helpers every
step shares: times of day in the town, reviewers, rulesets by day.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from faker import Faker
from sqlalchemy.orm import Session

from service.accounts.principal import Principal, load_principal
from service.kernel.periods import period_of, shift_period
from service.ops.seed.plan import BranchPlan, CorrectionPlan, Draft, SummaryKey
from service.ops.seed.town_file import TownFile
from service.scoring.rules import Rulebook, Ruleset

MONTHS_BEFORE = 3

OPERATING = "operating"

SUSPENDED = "suspended"

# Office hours in the town's zone, in minutes after midnight, for submissions and reviews.
DAY_OPENS = 8 * 60

DAY_CLOSES = 21 * 60

# How often a named branch's own wording is used over the town-wide lists.
OWN_WORDING_SHARE = 0.75


class DemoRefused(Exception):
    """The demo town may not be loaded here: production, a database holding data, or a
    day no ruleset covers."""


class BuilderState:
    def __init__(self, session: Session, rulebook: Rulebook, town: TownFile, until: date):
        self.session = session
        self.rulebook = rulebook
        self.town = town
        self.until = until
        self.zone = ZoneInfo(town.timezone)
        self.rng = random.Random(town.seed)
        self.faker = Faker("zh_CN")
        self.faker.seed_instance(town.seed)
        self.branches: list[BranchPlan] = []
        self.branch_by_name: dict[str, BranchPlan] = {}
        self.used_names: set[str] = set()
        self.account_of_member: dict[int, int] = {}
        self.admin_id = 0
        self.secretary_of: dict[int, int] = {}
        self.instructor_of: dict[int, int] = {}
        self.rulesets: dict[date, Ruleset | None] = {}
        self.attended: set[tuple[int, str, date]] = set()
        self.meetings: dict[tuple[int, str], dict[str, list[date]]] = {}
        self.drafts: list[Draft] = []
        self.single_org_names: dict[int, str] = {}
        self.member_names: dict[int, str] = {}
        self.joined_on: dict[int, date] = {}
        self.counts: dict[str, int] = {}
        # (member, rule, period) where a busy member declared more than the cap counts.
        self.busy_windows: list[tuple[int, str, str]] = []
        # Drafts (by seq) of the demo members' suggestions that are adopted and implemented.
        self.demo_suggestions: set[int] = set()
        # When the office publishes each complete month (UTC), oldest first.
        self.publish_at: dict[str, datetime] = {}
        # The older month corrected after an objection, with the revocation it makes;
        # the revocation's summary deltas wait until the correction is opened.
        self.correction: CorrectionPlan | None = None
        self.correction_deltas: dict[SummaryKey, tuple[Decimal, int]] = {}

    def _at(self, day: date, minute: int) -> datetime:
        """``minute`` after midnight of ``day`` in the town's zone, as an aware UTC time."""
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def _first_day(self) -> date:
        return date.fromisoformat(shift_period(period_of(self.until), -MONTHS_BEFORE) + "-01")

    def _after(self, earlier: datetime, day: date) -> datetime:
        """A time in office hours on ``day``, later than ``earlier``."""
        at = self._at(day, self.rng.randint(DAY_OPENS, DAY_CLOSES))
        if at <= earlier:
            at = earlier + timedelta(minutes=self.rng.randint(10, 90))
        return at

    def _last_day(self, day: date) -> date:
        """The last day on which something dated ``day`` may be decided or recorded: the
        day before its month is published, else ``until``."""
        at = self.publish_at.get(period_of(day))
        if at is None:
            return self.until
        return min(self.until, at.astimezone(self.zone).date() - timedelta(days=1))

    def _principal(self, account_id: int) -> Principal:
        principal = load_principal(self.session, account_id)
        assert principal is not None
        return principal

    def _account_id(self, username: str) -> int:
        return next(
            i for i, a in enumerate(self.town.demo.accounts, start=1) if a.username == username
        )

    def _member_of_account(self, username: str) -> int:
        account_id = self._account_id(username)
        return next(m for m, a in self.account_of_member.items() if a == account_id)

    def _ruleset_on(self, day: date) -> Ruleset | None:
        if day not in self.rulesets:
            self.rulesets[day] = self.rulebook.in_force(day)
        return self.rulesets[day]

    def _reviewer(self, branch_id: int, own_account: int | None) -> int:
        """The branch's secretary; their own entries go to an instructor, else the admin."""
        for reviewer in (self.secretary_of.get(branch_id), self.instructor_of.get(branch_id)):
            if reviewer is not None and reviewer != own_account:
                return reviewer
        return self.admin_id
