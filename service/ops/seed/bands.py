"""The demo's red and yellow lists (红黄榜) and warning cases (预警), through the services:
each quarter that has ended by ``until`` and holds demo activity is banded a few days
after its last month's board is published (the red list goes out with it when the rules
say so); then the secretaries follow up their cases: talks (谈心谈话), some closed, a few
responses from members. 金湾 (B001) keeps one case open with one talk, past its
deadline when ``until`` is late enough: the one its secretary's journey closes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from service.accounts.principal import Principal
from service.assessment.bands import band_span, has_ended, last_day_of, run_banding
from service.assessment.warnings import close_case, record_talk, respond
from service.boards.board import SpanKind, board_period
from service.kernel.errors import DomainError
from service.kernel.periods import period_of, shift_period
from service.ops.seed.state import MONTHS_BEFORE, BuilderState
from service.persistence.assessment import BandLine, BandRun, WarningCase
from service.persistence.models import Branch, Member

DEMO_BRANCH = "B001"

TALKS = (
    ("家中老人生病，最近请假较多，参加组织生活少。", "每月至少参加一次主题党日，按时交纳党费。"),
    ("工作调整，倒班多，对积分申报不熟悉。", "学会用手机申报积分，本季度参加两次志愿服务。"),
    ("对扣分原因有想法，已当面说明支部决定。", "按时参加三会一课，下季度无无故缺席。"),
    ("近期在外地项目，联系较少。", "每月向支部书记汇报一次思想和工作情况。"),
)
OUTCOMES = (
    ("improved", "已按约定参加志愿服务和主题党日，积分明显提高。"),
    ("not_improved", "仍未按时参加组织生活，下季度继续关注。"),
)
RESPONSE = "感谢支部的提醒，我会按约定参加活动，有困难及时向书记反映。"


class BandSteps(BuilderState):
    def _bands_through_services(self, now: datetime) -> None:
        """Band the ended quarters with demo activity, then follow up their cases."""
        self.counts["band_runs"] = self.counts["warning_cases"] = 0
        admin = self._principal(self.admin_id)
        first = shift_period(period_of(self.until), -MONTHS_BEFORE)
        quarter = board_period(first, SpanKind.QUARTER)
        banded: list[str] = []
        while last_day_of(quarter) < self.until:
            try:
                span = band_span(self.rulebook, quarter.key)
            except DomainError:
                span = None  # no [bands] in the rules then
            if span is not None and has_ended(span, now):
                at = self._band_time(span.last_day, quarter.last, now)
                run_banding(self.session, admin, self.rulebook, quarter.key, at)
                banded.append(quarter.key)
            quarter = quarter.shift(1)
        self.counts["band_runs"] = len(banded)
        for period in banded:
            self._follow_up(period)

    def _band_time(self, last_day: date, last_month: str, now: datetime) -> datetime:
        """Three days after the quarter's last board is published (or after the quarter
        ends), at 10:00; never after ``now``."""
        published = self.publish_at.get(last_month)
        day = (published.astimezone(self.zone).date() if published else last_day) + timedelta(3)
        at = datetime.combine(day, time(10), tzinfo=self.zone).astimezone(UTC)
        return min(at, now)

    def _follow_up(self, period: str) -> None:
        """Talks, closings and responses on the period's cases, as the secretaries would."""
        rows = self.session.execute(
            select(WarningCase, Branch.code, Member.code)
            .join(Branch, Branch.id == WarningCase.branch_id)
            .join(Member, Member.id == WarningCase.member_id)
            .join(BandLine, BandLine.id == WarningCase.band_line_id)
            .join(BandRun, BandRun.id == BandLine.run_id)
            .where(BandRun.period == period)
            .order_by(Branch.code, Member.code)
        ).all()
        self.counts["warning_cases"] += len(rows)
        demo_open_kept = False
        for index, (case, branch_code, _member_code) in enumerate(rows):
            opened = case.opened_at.replace(tzinfo=UTC).astimezone(self.zone).date()
            talk_day = min(opened + timedelta(days=6 + index % 5), self.until)
            if talk_day < opened:
                continue
            if branch_code == DEMO_BRANCH and not demo_open_kept:
                # 金湾's case for the journey: one talk, still open (overdue once its
                # deadline has passed), a response from the member.
                demo_open_kept = True
                self._talk(case, talk_day, index)
                self._respond(case, talk_day)
                continue
            plan = 0 if branch_code == DEMO_BRANCH else index % 3
            if plan == 2:
                continue  # not followed up yet
            self._talk(case, talk_day, index)
            close_day = talk_day + timedelta(days=21)
            if plan == 1 or close_day > self.until:
                if index % 2:
                    self._respond(case, talk_day)
                continue
            outcome, note = OUTCOMES[1 if index % 4 == 3 else 0]
            close_case(
                self.session,
                self._actor_for(case),
                case.id,
                outcome=outcome,
                note=note,
                now=self._at(close_day, 16 * 60),
            )

    def _actor_for(self, case: WarningCase) -> Principal:
        """The branch's secretary, or the office when the case is the secretary's own."""
        account_id = self.secretary_of.get(case.branch_id)
        if account_id is not None and self.account_of_member.get(case.member_id) != account_id:
            return self._principal(account_id)
        return self._principal(self.admin_id)

    def _talk(self, case: WarningCase, day: date, index: int) -> None:
        actor = self._actor_for(case)
        notes, actions = TALKS[index % len(TALKS)]
        record_talk(
            self.session,
            actor,
            case.id,
            talked_on=day.isoformat(),
            talked_by=actor.display_name,
            notes=notes,
            actions=actions,
            deadline="",
            today=self.until,
            now=self._at(day, 15 * 60),
        )

    def _respond(self, case: WarningCase, talk_day: date) -> None:
        account_id = self.account_of_member.get(case.member_id)
        if account_id is None:
            return
        day = min(talk_day + timedelta(days=2), self.until)
        respond(
            self.session, self._principal(account_id), case.id, text=RESPONSE,
            now=self._at(day, 20 * 60),
        )  # fmt: skip
