"""The demo town's annual appraisal (民主评议党员): 2025's, finished for 金湾 and 宝元鞋厂,
through the appraisal services (open, fill, submit, approve) so that ``verify`` finds
their sheets as the services froze them, and 2025's 优秀 list published. 金湾's 2026
appraisal is left for the demo to open.

Under 2025.1 the score is the branch's own appraisal (self-assessment, mutual assessment
and the branch meeting's grade); the inputs are drawn from a generator of their own, so
the rest of the town is the same as without them. One departure with its reason, no
veto (a believable branch year).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from service.assessment.appraisal import (
    LineInput,
    appraisal_sheet,
    approve_appraisal,
    open_appraisal,
    save_sheet,
    submit_appraisal,
)
from service.assessment.appraisal_lists import publish_excellent
from service.ops.seed.state import BuilderState
from service.persistence.assessment import Grade
from service.persistence.models import Branch, Publication

YEAR = 2025
BRANCHES = ("金湾工业园区联合党支部", "宝元鞋厂党支部")
OPENED = datetime(2025, 12, 18, 2, 0, tzinfo=UTC)  # 10:00 in the town
SUBMITTED = datetime(2025, 12, 30, 7, 0, tzinfo=UTC)
APPROVED = datetime(2026, 1, 8, 3, 0, tzinfo=UTC)
DEPARTURE = "全年三次无故缺席主题党日，经支部党员大会评议定为基本合格"


class AppraisalSteps(BuilderState):
    def _appraisals(self, now: datetime) -> int:
        """2025's appraisals of the two named branches, approved, and the 优秀 list
        (published at ``now``, after every month's board: the chain runs in time order);
        only when the demo runs past their approval. Returns the sheets made."""
        if self.until <= APPROVED.date() or self.rulebook.in_force(date(YEAR, 12, 31)) is None:
            return 0
        rng = random.Random(self.town.seed * 11 + 2025)
        made = 0
        for name in BRANCHES:
            branch_id = self.session.scalar(select(Branch.id).where(Branch.name == name))
            if branch_id is None:
                continue
            self._appraise(branch_id, rng, depart=made == 0)
            made += 1
        if made:
            latest = self.session.scalar(select(func.max(Publication.published_at)))
            if latest is not None:
                latest = latest.replace(tzinfo=latest.tzinfo or UTC)
                now = max(now, latest + timedelta(minutes=1))
            publish_excellent(
                self.session, self._principal(self.admin_id), self.rulebook, YEAR, now=now
            )
        return made

    def _appraise(self, branch_id: int, rng: random.Random, *, depart: bool) -> None:
        secretary = self._principal(self.secretary_of.get(branch_id) or self.admin_id)
        approver = self._principal(self.instructor_of.get(branch_id) or self.admin_id)
        appraisal_id = open_appraisal(
            self.session, secretary, self.rulebook, branch_id=branch_id, year=YEAR, now=OPENED
        )
        sheet = appraisal_sheet(self.session, secretary, self.rulebook, appraisal_id)
        values: dict[int, LineInput] = {}
        for line in sheet.lines:
            quality = rng.random()
            grade = "excellent" if quality > 0.72 else "qualified" if quality > 0.06 else "basic"
            values[line.id] = LineInput(
                inputs={
                    "self_review": str(round(82 + 16 * quality + rng.uniform(-2, 2))),
                    "mutual_review": str(round(70 + 27 * quality + rng.uniform(-3, 3))),
                    "branch_grade": grade,
                }
            )
        save_sheet(self.session, secretary, self.rulebook, appraisal_id, values)
        # The branch decides: the suggestion, but for one member (金湾) whom the branch
        # meeting graded lower for missed theme days.
        sheet = appraisal_sheet(self.session, secretary, self.rulebook, appraisal_id)
        departed = False
        decided: dict[int, LineInput] = {}
        for line in sheet.lines:
            grade = line.suggested.value if line.suggested else Grade.QUALIFIED.value
            reason = ""
            if (
                depart
                and not departed
                and line.suggested is Grade.QUALIFIED
                and line.score
                and line.score < 80
            ):
                grade, reason, departed = Grade.BASIC.value, DEPARTURE, True
            decided[line.id] = LineInput(inputs=line.inputs, grade=grade, departure_reason=reason)
        save_sheet(self.session, secretary, self.rulebook, appraisal_id, decided)
        submit_appraisal(self.session, secretary, self.rulebook, appraisal_id, now=SUBMITTED)
        approve_appraisal(self.session, approver, appraisal_id, now=APPROVED)
