"""The pure engine: caps clip sums, order never matters, versions meet cleanly."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.kernel.config import PROJECT_ROOT
from service.scoring.engine import Activity, Source, score_activities, year_score
from service.scoring.rules import Rulebook, RuleGroup, Ruleset

D = Decimal


def ruleset(version: str, effective_from: date, **rules: dict[str, Any]) -> Ruleset:
    return Ruleset.model_validate(
        {
            "version": version,
            "effective_from": effective_from,
            "title_zh": "细则",
            "title_en": "Rules",
            "base_score": 60,
            "floor": 0,
            "star_thresholds": [60, 70, 80, 90, 96],
            "rule": [
                {
                    "id": rule_id,
                    "name_zh": rule_id,
                    "name_en": rule_id,
                    "group": RuleGroup.REWARD,
                    **fields,
                }
                for rule_id, fields in rules.items()
            ],
        }
    )


def entry(entry_id: int, day: date, rule_id: str = "deed", quantity: str = "1") -> Activity:
    return Activity(Source.ENTRY, entry_id, rule_id, day, branch_id=1, quantity=D(quantity))


def total(scored: list[Any]) -> Decimal:
    return sum((s.counted for s in scored), D("0.0"))


CAPPED = Rulebook.of(
    [ruleset("t1", date(2026, 1, 1), deed={"points": 2, "cap_per_day": 3, "cap_per_month": 5})]
)


def test_a_cap_clips_the_sum_and_names_itself() -> None:
    day = date(2026, 3, 2)
    scored = score_activities([entry(1, day), entry(2, day), entry(3, day)], CAPPED)
    assert [s.counted for s in scored] == [D(2), D(1), D(0)]
    assert scored[1].clipped_by == ("cap_per_day",)
    assert scored[1].clipped == D(1)
    assert total(scored) == D(3)


def test_the_month_cap_spans_days_and_resets_next_month() -> None:
    days = [date(2026, 3, d) for d in (1, 2, 3, 4)] + [date(2026, 4, 1)]
    scored = score_activities([entry(i, d) for i, d in enumerate(days)], CAPPED)
    assert [s.counted for s in scored] == [D(2), D(2), D(1), D(0), D(2)]
    assert scored[2].clipped_by == ("cap_per_month",)


def test_approval_order_never_changes_the_numbers() -> None:
    days = [date(2026, 3, 1) + timedelta(days=i % 5) for i in range(12)]
    activities = [entry(i, d) for i, d in enumerate(days)]
    expected = {s.activity.key: s.counted for s in score_activities(activities, CAPPED)}
    for seed in range(20):
        shuffled = activities[:]
        random.Random(seed).shuffle(shuffled)
        got = {s.activity.key: s.counted for s in score_activities(shuffled, CAPPED)}
        assert got == expected


def test_an_earlier_versions_unused_cap_does_not_change_a_later_year_cap() -> None:
    """Regression: usage was only tracked while the rule in force had a cap, so a day cap
    in v1 that never binds changed how much room v2's year cap had left."""
    v2 = ruleset("v2", date(2026, 7, 1), deed={"points": 2, "cap_per_year": 16})
    early = [entry(i, date(2026, 1, 1) + timedelta(days=7 * i)) for i in range(5)]  # 10 pts
    late = [entry(100 + i, date(2026, 7, 1) + timedelta(days=7 * i)) for i in range(8)]
    totals = []
    for v1_rule in ({"points": 2}, {"points": 2, "cap_per_day": 20}):
        book = Rulebook.of([ruleset("v1", date(2026, 1, 1), deed=v1_rule), v2])
        totals.append(total(score_activities(early + late, book)))
    # The year cap of 16 counts the whole year's sum: 10 before July, 6 more after.
    assert totals == [D(16), D(16)]


def test_suggestion_steps_and_deductions_are_not_capped() -> None:
    book = Rulebook.of(
        [
            ruleset(
                "t1",
                date(2026, 1, 1),
                idea={"points": 1, "cap_per_month": 1, "suggestion": True, "adopted_points": 3},
            )
        ]
    )
    day = date(2026, 5, 5)
    scored = score_activities(
        [
            entry(1, day, "idea"),
            entry(2, day, "idea"),
            Activity(Source.ADOPTED, 1, "idea", day, branch_id=1),
            Activity(Source.ADJUSTMENT, 9, "adjustment", day, branch_id=1, points=D("-2.5")),
        ],
        book,
    )
    assert [(s.activity.key, s.counted) for s in scored] == [
        ("entry:1", D(1)),
        ("entry:2", D(0)),
        ("adopted:1", D(3)),
        ("adjustment:9", D("-2.5")),
    ]


HALF_HOURS = {
    "points_per_unit": 3,
    "unit_zh": "小时",
    "unit_en": "hour",
    "rounding": "half_up",
    "max_units_per_entry": 8,
}


def test_rounding_the_day_total_makes_splitting_an_activity_pointless() -> None:
    """Regression (issue 15, item 6): rounded per entry, eight half-hour entries scored
    24 points where one 4-hour entry scored 12."""
    day = date(2026, 12, 3)
    halves = [entry(i, day, "volunteer", "0.5") for i in range(1, 9)]
    whole = [entry(100, day, "volunteer", "4")]
    per_entry = Rulebook.of([ruleset("e", date(2026, 1, 1), volunteer=HALF_HOURS)])
    per_day = Rulebook.of(
        [ruleset("d", date(2026, 1, 1), volunteer={**HALF_HOURS, "rounding_per": "day"})]
    )
    assert (
        total(score_activities(halves, per_entry)),
        total(score_activities(whole, per_entry)),
    ) == (
        D(24),
        D(12),
    )
    scored = score_activities(halves, per_day)
    assert total(scored) == total(score_activities(whole, per_day)) == D(12)
    # Each entry carries its share of the rounded total, in activity order: the first half
    # hour rounds up to an hour (3), the second adds nothing, and so on.
    assert [s.raw for s in scored] == [D(3), D(0)] * 4
    assert {s.share_of for s in scored} == {"day"}
    # Revoking an entry re-shares the day: 3.5 hours round to 4, still 12 points.
    assert total(score_activities(halves[1:], per_day)) == D(12)
    assert [s.raw for s in score_activities(halves[1:], per_day)][:2] == [D(3), D(0)]
    # Another day is another total.
    other = entry(200, date(2026, 12, 4), "volunteer", "0.5")
    assert total(score_activities([*halves, other], per_day)) == D(15)


def test_rounding_the_month_total_spans_days_and_resets_next_month() -> None:
    per_month = Rulebook.of(
        [
            ruleset(
                "m",
                date(2026, 1, 1),
                volunteer={**HALF_HOURS, "rounding": "down", "rounding_per": "month"},
            )
        ]
    )
    days = [date(2026, 3, d) for d in (1, 2, 3)] + [date(2026, 4, 1)]
    scored = score_activities(
        [entry(i, d, "volunteer", "0.7") for i, d in enumerate(days)], per_month
    )
    # March: 0.7 → 0, 1.4 → 1 (+3), 2.1 → 2 (+3); April starts again at 0.7 → 0.
    assert [s.raw for s in scored] == [D(0), D(3), D(3), D(0)]


def test_an_activity_before_any_ruleset_scores_nothing_and_says_why() -> None:
    [scored] = score_activities([entry(1, date(2025, 12, 31))], CAPPED)
    assert scored.missing_rule and scored.counted == 0


def test_the_year_score_adds_the_base_and_never_drops_below_the_floor() -> None:
    score = year_score(2026, D("-75"), CAPPED, as_of=date(2026, 6, 1))
    assert (score.base, score.total, score.floored, score.flagged) == (D(60), D(0), True, True)
    score = year_score(2026, D("21.5"), CAPPED, as_of=date(2026, 6, 1))
    assert (score.total, score.stars, score.flagged) == (D("81.5"), 3, False)


days_2026 = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31))
VERSIONED = Rulebook.of(
    [
        ruleset(
            "a",
            date(2026, 1, 1),
            deed={"points": 2, "cap_per_day": 4},
            hours={"points_per_unit": "1.5", "unit_zh": "时", "unit_en": "h", "cap_per_month": 9},
            shift={
                "points_per_unit": "1.5",
                "unit_zh": "时",
                "unit_en": "h",
                "rounding": "down",
                "rounding_per": "month",
                "cap_per_month": 30,
            },
        ),
        ruleset(
            "b",
            date(2026, 6, 15),
            deed={"points": 3, "cap_per_year": 30},
            hours={
                "points_per_unit": 3,
                "unit_zh": "时",
                "unit_en": "h",
                "rounding": "half_up",
                "cap_per_day": 12,
            },
            shift={
                "points_per_unit": 3,
                "unit_zh": "时",
                "unit_en": "h",
                "rounding": "half_up",
                "rounding_per": "day",
                "max_units_per_entry": 8,
                "cap_per_day": 24,
            },
        ),
    ]
)
activity_lists = st.lists(
    st.tuples(
        days_2026,
        st.sampled_from(["deed", "hours", "shift"]),
        st.decimals(min_value=D("0.5"), max_value=D("8"), places=1),
    ),
    max_size=40,
).map(
    lambda items: [
        entry(i, day, rule_id, str(q) if rule_id != "deed" else "1")
        for i, (day, rule_id, q) in enumerate(items)
    ]
)


@settings(max_examples=150, deadline=None)
@given(activity_lists, st.randoms(use_true_random=False))
def test_any_order_gives_the_same_points_per_activity(
    activities: list[Activity], rnd: random.Random
) -> None:
    expected = {s.activity.key: s.counted for s in score_activities(activities, VERSIONED)}
    shuffled = activities[:]
    rnd.shuffle(shuffled)
    assert {s.activity.key: s.counted for s in score_activities(shuffled, VERSIONED)} == expected


@settings(max_examples=150, deadline=None)
@given(activity_lists)
def test_counted_points_respect_every_cap_and_never_exceed_raw(
    activities: list[Activity],
) -> None:
    scored = score_activities(activities, VERSIONED)
    sums: dict[tuple[str, str, object], Decimal] = {}
    for s in scored:
        assert D(0) <= s.counted <= s.raw
        assert s.counted == s.counted.quantize(D("0.1"))
        rule = VERSIONED.version(s.ruleset_version).rule(s.activity.rule_id)  # type: ignore[union-attr]
        assert rule is not None
        day = s.activity.day
        windows = {
            "cap_per_day": (rule.id, "d", day),
            "cap_per_month": (rule.id, "m", (day.year, day.month)),
            "cap_per_year": (rule.id, "y", day.year),
        }
        for window in windows.values():
            sums[window] = sums.get(window, D(0)) + s.counted
        for name, cap in rule.caps.items():
            # A cap never lets its window's sum grow past it (an earlier version without
            # the cap may already have gone past it; then nothing more counts).
            if s.counted > 0:
                assert sums[windows[name]] <= cap
        if s.counted < s.raw:
            assert s.clipped_by, "a clipped activity must say which cap clipped it"


@settings(max_examples=100, deadline=None)
@given(activity_lists)
def test_adding_an_activity_never_lowers_the_total(activities: list[Activity]) -> None:
    if not activities:
        return
    without_last = total(score_activities(activities[:-1], VERSIONED))
    assert total(score_activities(activities, VERSIONED)) >= without_last


def test_the_shipped_rules_round_volunteer_hours_per_day_from_2027() -> None:
    """The town's own rules close the gap from their next version: under 2026.1 (in use
    for published months, so left as it is) half-hour entries still round up one by
    one; from 2027.1 a day's volunteer hours are added up before rounding."""
    shipped = Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")
    for day, expected in [(date(2026, 12, 3), D(24)), (date(2027, 1, 5), D(12))]:
        halves = [entry(i, day, "volunteer", "0.5") for i in range(1, 9)]
        whole = [entry(100, day, "volunteer", "4")]
        assert total(score_activities(halves, shipped)) == expected, day
        assert total(score_activities(whole, shipped)) == D(12)
