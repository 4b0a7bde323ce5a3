"""Loading the demo town (``jifen seed demo``): refused in production and on a database
that holds data; progress on the terminal; the summary in the terminal's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.capture import suspended as audit_suspended
from service.kernel.i18n import N_
from service.kernel.i18n import terminal_gettext as gettext
from service.kernel.i18n import terminal_ngettext as ngettext
from service.ops.seed.appraisals import AppraisalSteps
from service.ops.seed.bands import BandSteps
from service.ops.seed.meetings import MeetingSteps
from service.ops.seed.notices import recent_messages, skip_history
from service.ops.seed.ratings import seed_branch_stars
from service.ops.seed.state import DemoRefused
from service.ops.seed.town_file import read_town_file
from service.persistence.models import (
    Account,
    Branch,
    BranchKind,
    Entry,
    EntryStatus,
    Member,
    Organisation,
)
from service.scoring.rules import Rulebook

STEPS = (
    "branches",
    "organisations",
    "members",
    "accounts",
    "activity",
    "ledger",
    "publication",
    "meetings",
    "bands",
    "appraisals",
)

# The words the progress bar shows for each step (and when it is done).
STEP_LABELS = {
    "branches": N_("branches"),
    "organisations": N_("organisations"),
    "members": N_("members"),
    "accounts": N_("accounts"),
    "activity": N_("activity"),
    "ledger": N_("ledger"),
    "publication": N_("publication"),
    "meetings": N_("meetings"),
    "bands": N_("red and yellow lists"),
    "appraisals": N_("appraisals"),
    "done": N_("done"),
}


@contextmanager
def progress_steps(console: Console | None) -> Iterator[Callable[[str], None]]:
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


def load_demo_town(
    session: Session,
    rulebook: Rulebook,
    seeds_dir: Path,
    *,
    until: date,
    env: str,
    console: Console | None = None,
    now: datetime | None = None,
) -> str:
    """Fill an empty database with the demo town and activity up to ``until``.

    Deterministic for a given ``until``. Refused in production, on a database that
    already holds data and when no ruleset is in force on ``until``. Flushes only; the
    caller commits. ``now`` (the moment of loading, for the meeting open for check-in)
    counts only when it falls on ``until`` in the town; otherwise noon of ``until``.
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
    refuse_unless_empty(session)
    with progress_steps(console) as start, audit_suspended():  # a bulk load, not people's changes
        return TownBuilder(session, rulebook, town, until).build(start, now)


def refuse_unless_empty(session: Session) -> None:
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


def counted(text: str, count: int) -> str:
    """``text`` (an ngettext form with ``%(count)s``) for ``count``."""
    return text % {"count": count}


class TownBuilder(MeetingSteps, BandSteps, AppraisalSteps):
    def build(self, start: Callable[[str], None], now: datetime | None = None) -> str:
        noon = datetime.combine(self.until, time(12), tzinfo=self.zone).astimezone(UTC)
        if now is None or now.astimezone(self.zone).date() != self.until:
            now = noon
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
        self._meetings(now)
        start("ledger")
        self._ledger(events)
        self._advance_sequences()
        self.session.flush()
        start("publication")
        published = self._publish(entries)
        start("meetings")
        self._meetings_through_services(now)
        start("bands")
        self._bands_through_services(now)
        start("appraisals")
        self.counts["appraisals"] = self._appraisals(now)
        seed_branch_stars(
            self.session,
            self.rulebook,
            admin=self._principal(self.admin_id),
            secretaries={b: self._principal(a) for b, a in self.secretary_of.items()},
            instructors={b: self._principal(a) for b, a in self.instructor_of.items()},
            branch_ids=[branch.id for branch in self.branches],
            until=self.until,
            timezone=self.town.timezone,
            now=now,
        )
        recent_messages(
            self.session, self.rulebook, self.account_of_member, self.town.timezone, now
        )
        skip_history(self.session)
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
            "branches": counted(
                ngettext("%(count)s branch", "%(count)s branches", branches), branches
            ),
            "joint": joint,
            "organisations": counted(
                ngettext("%(count)s organisation", "%(count)s organisations", organisations),
                organisations,
            ),
            "members": counted(ngettext("%(count)s member", "%(count)s members", members), members),
            "entries": counted(
                ngettext("%(count)s entry", "%(count)s entries", len(entries)), len(entries)
            ),
            "pending": pending,
            "until": self.until.isoformat(),
            "adopted": counted(
                ngettext("%(count)s suggestion adopted", "%(count)s suggestions adopted", adopted),
                adopted,
            ),
            "implemented": counts["implemented"],
            "deductions": counted(
                ngettext("%(count)s deduction", "%(count)s deductions", deductions), deductions
            ),
            "adjustments": counted(
                ngettext("%(count)s manual adjustment", "%(count)s manual adjustments", manual),
                manual,
            ),
            "revoked": counted(
                ngettext("%(count)s approval revoked", "%(count)s approvals revoked", revoked),
                revoked,
            ),
            "ledger_lines": counted(
                ngettext("%(count)s ledger line", "%(count)s ledger lines", lines), lines
            ),
            "clipped": counts["clipped"],
            "published": published,
            "accounts": usernames,
            "password": self.town.demo.password,
        }
