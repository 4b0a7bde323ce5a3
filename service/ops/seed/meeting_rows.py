"""The demo town's meetings as rows: what a planned meeting is, and how the loader writes
the ones that bring no points in bulk (closed with minutes and attendance, make-ups,
leave) with the driver's own executemany. See ``service.ops.seed.meetings``."""

from __future__ import annotations

import random
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, text, update

from service.kernel.periods import period_of
from service.ops.seed.plan import BranchPlan, MemberPlan
from service.ops.seed.publishing import PublishingSteps
from service.ops.seed.town_file import TownMeetings
from service.persistence.meetings import (
    Audience,
    CheckinMethod,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingLeave,
    MeetingStatus,
    Outcome,
)
from service.persistence.models import Base, MemberStatus
from service.scoring.rules import MeetingType


@dataclass
class Planned:
    """One meeting a branch holds (or will hold)."""

    branch: BranchPlan
    kind: str
    day: date
    start: time
    minutes: int
    title: str
    place: str
    audience: Audience
    group_id: int | None
    invitees: list[int]
    makeup_of: int | None = None


@dataclass
class Held:
    """What a bulk-written closed meeting left: its id and each invitee's row."""

    meeting_id: int
    planned: Planned
    rows: dict[int, dict[str, Any]]  # member id -> attendance row


class MeetingRows(PublishingSteps):
    """The bulk half of the meeting steps; the state below is set by ``_meetings``."""

    meeting_rng: random.Random
    meeting_ids: int
    attendance_ids: int
    leave_ids: int
    bulk: dict[str, list[dict[str, Any]]]
    meeting_member_of: dict[int, MemberPlan]

    # --- written in bulk ---------------------------------------------------------------

    def _organiser(self, branch_id: int) -> int:
        return self.secretary_of.get(branch_id) or self.admin_id

    def _bulk_meeting(
        self,
        plan: Planned,
        status: MeetingStatus,
        now: datetime,
        *,
        minutes: str | None = None,
        closed_at: datetime | None = None,
        starts: datetime | None = None,
    ) -> int:
        self.meeting_ids += 1
        meeting_id = self.meeting_ids
        if starts is None:
            starts = self._at(plan.day, plan.start.hour * 60 + plan.start.minute)
        ends = starts + timedelta(minutes=plan.minutes)
        organiser = self._organiser(plan.branch.id)
        created = min(starts - timedelta(days=3 + int(self.meeting_rng.random() * 10)), now)
        self.bulk["meeting"].append(
            {
                "id": meeting_id,
                "branch_id": plan.branch.id,
                "kind": plan.kind,
                "title": plan.title,
                "starts_at": starts,
                "ends_at": ends,
                "day": plan.day,
                "period": period_of(plan.day),
                "place": plan.place,
                "online": False,
                "agenda": plan.title,
                "audience": plan.audience,
                "party_group_id": plan.group_id,
                "makeup_of_id": plan.makeup_of,
                "status": status,
                "checkin_secret": secrets.token_hex(32),
                "minutes": minutes,
                "created_at": created,
                "created_by_id": organiser,
                "updated_at": None,
                "closed_at": closed_at,
                "closed_by_id": organiser if closed_at else None,
                "cancelled_at": None,
                "cancelled_by_id": None,
                "cancel_reason": None,
            }
        )
        self.bulk["invitee"] += [{"meeting_id": meeting_id, "member_id": m} for m in plan.invitees]
        return meeting_id

    def _outcomes(self, config: TownMeetings, plan: Planned) -> dict[int, Outcome]:
        rng = self.meeting_rng
        rule = "theme_day" if plan.kind == MeetingType.THEME_DAY else "org_life"
        outcomes: dict[int, Outcome] = {}
        for member_id in plan.invitees:
            member = self.meeting_member_of[member_id]
            mobile = member.status is MemberStatus.MOBILE
            attend = config.mobile_attend_share if mobile else config.attend_share
            leave = config.mobile_leave_share if mobile else config.leave_share
            roll = rng.random()
            if (member_id, rule, plan.day) in self.attended or roll < attend:
                outcomes[member_id] = Outcome.ATTENDED  # declared it: was there
            elif roll < attend + leave:
                outcomes[member_id] = Outcome.LEAVE
            else:
                outcomes[member_id] = Outcome.ABSENT
        return outcomes

    def _minutes(self, config: TownMeetings, plan: Planned, outcomes: dict[int, Outcome]) -> str:
        counts = Counter(outcomes.values())
        head = config.minutes_head.format(
            expected=len(outcomes),
            attended=counts[Outcome.ATTENDED],
            leave=counts[Outcome.LEAVE],
            absent=counts[Outcome.ABSENT],
        )
        return head + self.meeting_rng.choice(config.minutes[plan.kind])

    def _bulk_closed(self, config: TownMeetings, plan: Planned, now: datetime) -> Held:
        rng = self.meeting_rng
        outcomes = self._outcomes(config, plan)
        starts = self._at(plan.day, plan.start.hour * 60 + plan.start.minute)
        ends = starts + timedelta(minutes=plan.minutes)
        closed_at = min(ends + timedelta(minutes=20 + int(rng.random() * 2860)), now)
        meeting_id = self._bulk_meeting(
            plan,
            MeetingStatus.CLOSED,
            now,
            minutes=self._minutes(config, plan, outcomes),
            closed_at=closed_at,
            starts=starts,
        )
        organiser = self._organiser(plan.branch.id)
        rows: dict[int, dict[str, Any]] = {}
        accounts = self.account_of_member
        for member_id, outcome in outcomes.items():
            self.attendance_ids += 1
            checked_in_at = method = recorded_by = None
            if outcome is Outcome.ATTENDED:
                own = accounts.get(member_id)
                if own is None or rng.random() < config.ticked_share:
                    method, recorded_by = CheckinMethod.SECRETARY, organiser
                    checked_in_at = starts + timedelta(minutes=int(rng.random() * 16))
                else:
                    method, recorded_by = CheckinMethod.CODE, own
                    checked_in_at = starts - timedelta(minutes=int(rng.random() * 26))
            row: dict[str, Any] = {
                "id": self.attendance_ids,
                "meeting_id": meeting_id,
                "member_id": member_id,
                "branch_id": plan.branch.id,
                "checked_in_at": checked_in_at,
                "method": method,
                "recorded_by_id": recorded_by,
                "outcome": outcome,
                "made_up_by_id": None,
            }
            if outcome is Outcome.LEAVE or (
                outcome is Outcome.ABSENT and rng.random() < config.declined_share
            ):
                self._bulk_leave(config, plan, meeting_id, member_id, starts, outcome)
            rows[member_id] = row
            self.bulk["attendance"].append(row)
        return Held(meeting_id, plan, rows)

    def _bulk_leave(
        self,
        config: TownMeetings,
        plan: Planned,
        meeting_id: int,
        member_id: int,
        starts: datetime,
        outcome: Outcome,
    ) -> None:
        rng = self.meeting_rng
        organiser = self._organiser(plan.branch.id)
        asked = starts - timedelta(hours=rng.randint(6, 72))
        self.leave_ids += 1
        granted = outcome is Outcome.LEAVE
        self.bulk["leave"].append(
            {
                "id": self.leave_ids,
                "meeting_id": meeting_id,
                "member_id": member_id,
                "reason": rng.choice(config.leave_reasons),
                "status": "granted" if granted else "declined",
                "requested_at": asked,
                # Most members have no account: the secretary keyed in their request.
                "requested_by_id": self.account_of_member.get(member_id, organiser),
                "decided_at": asked + timedelta(minutes=rng.randint(20, 300)),
                "decided_by_id": organiser,
                "decision_reason": None if granted else rng.choice(config.decline_reasons),
            }
        )

    def _makeups(self, config: TownMeetings, held: list[Held], now: datetime) -> list[Held]:
        """A few meetings with members missing get a make-up session (补课) for them;
        those who attend it have the original meeting made up."""
        rng = self.meeting_rng
        makeups: list[Held] = []
        for original in held:
            missed = [
                m
                for m, row in original.rows.items()
                if row["outcome"] in (Outcome.LEAVE, Outcome.ABSENT)
            ]
            if not missed or rng.random() >= config.makeup_share:
                continue
            plan = original.planned
            day = plan.day + timedelta(days=config.makeup_after_days.draw(rng))
            ruleset = self._ruleset_on(day)
            if day.year != plan.day.year or day >= self.until:
                continue
            if ruleset is not None and ruleset.meeting_rule(plan.kind) is not None:
                continue  # scored: the services' work
            makeup = Planned(
                branch=plan.branch,
                kind=plan.kind,
                day=day,
                start=plan.start,
                minutes=plan.minutes,
                title="补课:" + plan.title,
                place=plan.place,
                audience=Audience.LIST,
                group_id=None,
                invitees=sorted(missed),
                makeup_of=original.meeting_id,
            )
            result = self._bulk_closed(config, makeup, now)
            for member_id, row in result.rows.items():
                if row["outcome"] is Outcome.LEAVE:
                    row["outcome"] = Outcome.ABSENT  # no leave from a make-up session
                if row["outcome"] is Outcome.ATTENDED:
                    self.bulk["made_up"].append(
                        {"id": original.rows[member_id]["id"], "made_up_by_id": row["id"]}
                    )
            makeups.append(result)
        return makeups

    def _insert_rows(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """The driver's own executemany, each column's bind processor applied once per
        value: tens of thousands of rows, where SQLAlchemy's per-row parameter handling
        would cost more than the database does."""
        connection = self.session.connection()
        dialect = connection.dialect
        table = model.__table__
        columns = list(rows[0])
        processors = [table.c[name].type.bind_processor(dialect) for name in columns]
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(columns)
        markers = ", ".join([marker] * len(columns))
        statement = f"INSERT INTO {model.__tablename__} ({names}) VALUES ({markers})"  # noqa: S608
        by_column = []
        for name, process in zip(columns, processors, strict=True):
            column = [row[name] for row in rows]
            if process is not None:
                column = [None if value is None else process(value) for value in column]
            by_column.append(column)
        connection.exec_driver_sql(statement, list(zip(*by_column, strict=True)))

    def _write_bulk(self) -> None:
        session, bulk = self.session, self.bulk
        for model, rows in (
            (Meeting, bulk["meeting"]),
            (MeetingInvitee, bulk["invitee"]),
            (MeetingAttendance, bulk["attendance"]),
            (MeetingLeave, bulk["leave"]),
        ):
            if rows:
                self._insert_rows(model, rows)
        if bulk["made_up"]:
            attendance = MeetingAttendance.__table__
            session.execute(
                update(attendance)  # type: ignore[arg-type]
                .where(attendance.c.id == bindparam("row_id"))
                .values(outcome=Outcome.MADE_UP, made_up_by_id=bindparam("by")),
                [{"row_id": r["id"], "by": r["made_up_by_id"]} for r in bulk["made_up"]],
            )
        self.counts["makeups"] = sum(r["makeup_of_id"] is not None for r in bulk["meeting"])
        if session.get_bind().dialect.name == "postgresql":
            # Explicit ids: the services' inserts that follow need the sequences moved on.
            for table in ("party_group", "meeting", "meeting_attendance", "meeting_leave"):
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"COALESCE((SELECT MAX(id) FROM {table}), 1), "
                        f"(SELECT MAX(id) FROM {table}) IS NOT NULL)"
                    )
                )
        session.flush()
