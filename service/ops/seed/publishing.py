"""The demo town's published months: published through the real services at times
derived from ``until``, one corrected after an objection, the last still on notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from service.accounts.principal import Principal
from service.kernel.i18n import terminal_gettext as gettext
from service.kernel.i18n import terminal_ngettext as ngettext
from service.kernel.periods import shift_period
from service.ledger.reconcile import upsert_summary
from service.ops.seed.plan import CorrectionPlan, Event, Month
from service.ops.seed.reviews import ReviewSteps
from service.ops.seed.town_file import CorrectionStory, TownObjection
from service.persistence.models import (
    EntryStatus,
    Resolution,
)
from service.publication.corrections import open_correction, publish_correction
from service.publication.objections import LineRef, raise_objection, resolve_objection
from service.publication.publish import publish_month
from service.publication.state import DEFAULT_NOTICE_DAYS
from service.scoring.engine import (
    Source,
)


class PublishingSteps(ReviewSteps):
    def _plan_publications(self, months: list[Month]) -> None:
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

    def _correction_revocation(self, entries: list[dict[str, Any]]) -> list[Event]:
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
        event = Event(
            at=revoked_at,
            member_id=row["member_id"],
            actor_id=row["decided_by_id"],
            years=(row["activity_date"].year,),
            remove=keys,
            reversed_keys=keys,
            note=story.revoke_reason,
        )
        republished = opened + timedelta(hours=5, minutes=30)
        self.correction = CorrectionPlan(
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

    def _correct(self, admin: Principal, story: CorrectionStory, plan: CorrectionPlan) -> None:
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
