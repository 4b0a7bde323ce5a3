"""Attendance at closed meetings scores through the same pure engine as entries: the
rule whose meeting_types name the meeting's type gives the points, caps apply as for a
declared entry; an absence without leave scores the rule's absent_points, never capped."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from service.kernel.config import PROJECT_ROOT
from service.scoring.engine import Activity, Source, score_activities
from service.scoring.rules import MeetingType, Rulebook

RULEBOOK = Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")


def attended(source_id: int, day: date, source: Source = Source.ATTENDANCE) -> Activity:
    return Activity(source=source, source_id=source_id, rule_id="theme_day", day=day, branch_id=1)


def test_the_december_ruleset_scores_organisational_life_from_meetings() -> None:
    december = RULEBOOK.in_force(date(2026, 12, 5))
    november = RULEBOOK.in_force(date(2026, 11, 30))
    assert december is not None and november is not None
    assert december.version == "2026.2" and november.version == "2026.1"
    assert [rule.id for rule in december.attendance_rules()] == ["org_life", "theme_day"]
    # Members can no longer declare what a meeting's attendance records …
    declarable = {rule.id for rule in december.declarable_rules()}
    assert "org_life" not in declarable and "theme_day" not in declarable
    # … and the secretary cannot record it as a deduction or adjustment either.
    assert "theme_day" not in {rule.id for rule in december.secretary_rules()}
    assert {rule.id for rule in november.declarable_rules()} >= {"org_life", "theme_day"}
    theme = december.meeting_rule(MeetingType.THEME_DAY)
    assert theme is not None and theme.id == "theme_day"
    assert december.meeting_rule(MeetingType.ACTIVITY) is None
    assert december.meetings.required_per_year[MeetingType.THEME_DAY] == 12
    assert december.meetings.checkin_opens_before_minutes == 30


def test_attendance_takes_cap_room_and_absence_is_never_capped() -> None:
    # theme_day: 2 points, cap_per_year 16 in 2026.2: the ninth attendance is clipped.
    days = [date(2026, 12, d) for d in range(1, 10)]
    activities = [attended(i, day) for i, day in enumerate(days, start=1)]
    activities += [attended(100, date(2026, 12, 20), Source.ABSENCE)]
    scored = {s.activity.key: s for s in score_activities(activities, RULEBOOK)}
    assert sum(scored[f"attendance:{i}"].counted for i in range(1, 9)) == Decimal(16)
    assert scored["attendance:9"].counted == 0
    assert scored["attendance:9"].clipped_by == ("cap_per_year",)
    assert scored["absence:100"].counted == Decimal(-2)


def test_each_meeting_type_takes_its_own_rules_absence_points() -> None:
    # 三会一课 (org_life) deducts 1 for an absence, 主题党日 (theme_day) 2.
    scored = score_activities(
        [
            Activity(Source.ABSENCE, 1, "org_life", date(2026, 12, 3), 1),
            Activity(Source.ABSENCE, 2, "theme_day", date(2026, 12, 3), 1),
        ],
        RULEBOOK,
    )
    assert [s.counted for s in scored] == [Decimal(-1), Decimal(-2)]
