"""Rule files, exact tenths and month keys."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from service.kernel.config import PROJECT_ROOT
from service.kernel.errors import InvalidInput
from service.kernel.periods import parse_period, period_of, shift_period
from service.scoring.points import from_tenths, to_tenths
from service.scoring.rules import Rulebook, RulesError, UnitRounding, load_ruleset

HEADER = """\
version = "{version}"
effective_from = {effective_from}
title_zh = "细则"
title_en = "Rules"
"""

GOOD_DEED = """
[[rule]]
id = "good_deed"
name_zh = "做好事实事"
name_en = "Good deed"
group = "reward"
points = {points}
"""

VOLUNTEER = """
[[rule]]
id = "volunteer"
name_zh = "志愿服务"
name_en = "Volunteer service"
group = "reward"
points_per_unit = 3
unit_zh = "小时"
unit_en = "hours"
rounding = "half_up"
max_units_per_entry = 8
"""


def ruleset_text(version: str, effective_from: str, *rules: str) -> str:
    return HEADER.format(version=version, effective_from=effective_from) + "".join(rules)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problem_naming(problems: list[str], *needles: str) -> str:
    """The one problem that names every needle (file, rule id, field...)."""
    matching = [p for p in problems if all(needle in p for needle in needles)]
    assert matching, f"no problem names {needles}: {problems}"
    return matching[0]


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(RulesError) as caught:
        Rulebook.from_directory(directory)
    assert caught.value.problems
    return caught.value.problems


# --- the real rules -----------------------------------------------------------------


def test_the_shipped_rules_load() -> None:
    book = Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")
    ruleset = book.version("2025.1")
    assert ruleset is not None
    assert ruleset.effective_from == date(2025, 1, 1)
    assert {r.id for r in ruleset.rules} == {
        "org_life",
        "theme_day",
        "study",
        "volunteer",
        "good_deed",
        "suggestion",
        "care",
    }
    volunteer = ruleset.rule("volunteer")
    assert volunteer is not None
    assert volunteer.per_unit
    assert volunteer.points_per_unit == Decimal(3)
    assert volunteer.rounding is UnitRounding.HALF_UP
    assert volunteer.max_units_per_entry == Decimal(8)
    good_deed = ruleset.rule("good_deed")
    assert good_deed is not None
    assert good_deed.name("zh_CN") == "做好事实事"
    assert good_deed.points == Decimal(2)
    suggestion = ruleset.rule("suggestion")
    assert suggestion is not None and suggestion.suggestion
    assert book.in_force(date(2024, 12, 31)) is None
    assert book.in_force(date(2025, 1, 1)) == ruleset


# --- which ruleset is in force ------------------------------------------------------


def test_in_force_picks_the_latest_ruleset_already_effective(tmp_path: Path) -> None:
    write(tmp_path, "b.toml", ruleset_text("2026.1", "2026-03-01", GOOD_DEED.format(points=3)))
    write(tmp_path, "a.toml", ruleset_text("2025.1", "2025-01-01", GOOD_DEED.format(points=2)))
    book = Rulebook.from_directory(tmp_path)

    assert [r.version for r in book.rulesets] == ["2025.1", "2026.1"]
    assert book.in_force(date(2024, 12, 31)) is None
    first = book.in_force(date(2025, 1, 1))
    assert first is not None and first.version == "2025.1"
    still_first = book.in_force(date(2026, 2, 28))
    assert still_first is not None and still_first.version == "2025.1"
    second = book.in_force(date(2026, 3, 1))
    assert second is not None and second.version == "2026.1"
    rule = second.rule("good_deed")
    assert rule is not None and rule.points == Decimal(3)
    assert book.version("2025.1") == first
    assert book.version("1999.1") is None


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    problems = problems_of(tmp_path)
    assert str(tmp_path) in problems[0]


# --- broken files -------------------------------------------------------------------


def test_unknown_rule_field_names_file_rule_and_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "broken.toml",
        ruleset_text("1", "2025-01-01", GOOD_DEED.format(points=2) + 'colour = "red"\n'),
    )
    problem_naming(problems_of(tmp_path), "broken.toml", "rule 'good_deed'", "field 'colour'")


def test_unknown_top_level_field_is_named(tmp_path: Path) -> None:
    text = ruleset_text("1", "2025-01-01", GOOD_DEED.format(points=2))
    write(tmp_path, "broken.toml", 'author = "someone"\n' + text)
    problem_naming(problems_of(tmp_path), "broken.toml", "author")


def test_duplicate_rule_id_is_named(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dupes.toml",
        ruleset_text("1", "2025-01-01", GOOD_DEED.format(points=2), GOOD_DEED.format(points=3)),
    )
    problem_naming(problems_of(tmp_path), "dupes.toml", "'good_deed'", "twice")


def test_both_points_and_points_per_unit_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "both.toml",
        ruleset_text("1", "2025-01-01", VOLUNTEER + "points = 2\n"),
    )
    problem_naming(problems_of(tmp_path), "both.toml", "rule 'volunteer'", "points_per_unit")


def test_neither_points_nor_points_per_unit_is_refused(tmp_path: Path) -> None:
    rule = GOOD_DEED.format(points=2).replace("points = 2\n", "")
    write(tmp_path, "none.toml", ruleset_text("1", "2025-01-01", rule))
    problem_naming(problems_of(tmp_path), "none.toml", "rule 'good_deed'", "points_per_unit")


def test_per_unit_rule_without_unit_names_is_refused(tmp_path: Path) -> None:
    rule = VOLUNTEER.replace('unit_zh = "小时"\n', "").replace('unit_en = "hours"\n', "")
    write(tmp_path, "units.toml", ruleset_text("1", "2025-01-01", rule))
    problem_naming(problems_of(tmp_path), "units.toml", "rule 'volunteer'", "unit_zh", "unit_en")


def test_wrong_type_names_file_rule_and_field(tmp_path: Path) -> None:
    write(tmp_path, "types.toml", ruleset_text("1", "2025-01-01", GOOD_DEED.format(points='"two"')))
    problem_naming(problems_of(tmp_path), "types.toml", "rule 'good_deed'", "field 'points'")


def test_points_with_two_decimal_places_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "tenths.toml", ruleset_text("1", "2025-01-01", GOOD_DEED.format(points=1.25)))
    problem_naming(problems_of(tmp_path), "tenths.toml", "rule 'good_deed'", "field 'points'")


def test_unknown_group_is_refused(tmp_path: Path) -> None:
    rule = GOOD_DEED.format(points=2).replace('"reward"', '"bonus"')
    write(tmp_path, "group.toml", ruleset_text("1", "2025-01-01", rule))
    problem_naming(problems_of(tmp_path), "group.toml", "rule 'good_deed'", "field 'group'")


def test_two_versions_effective_the_same_day_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", ruleset_text("2025.1", "2025-01-01", GOOD_DEED.format(points=2)))
    write(tmp_path, "b.toml", ruleset_text("2025.2", "2025-01-01", GOOD_DEED.format(points=3)))
    problem = problem_naming(
        problems_of(tmp_path), "'2025.1'", "'2025.2'", "same day", "2025-01-01"
    )
    # Both files are named, the later one first, with the field to change.
    assert problem.startswith(f"{tmp_path / 'b.toml'}: field 'effective_from'"), problem
    assert str(tmp_path / "a.toml") in problem


def test_the_same_version_in_two_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", ruleset_text("2025.1", "2025-01-01", GOOD_DEED.format(points=2)))
    write(tmp_path, "b.toml", ruleset_text("2025.1", "2026-01-01", GOOD_DEED.format(points=3)))
    problem = problem_naming(problems_of(tmp_path), "'2025.1'", "twice")
    assert problem.startswith(f"{tmp_path / 'b.toml'}: field 'version'"), problem
    assert str(tmp_path / "a.toml") in problem


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "good.toml", ruleset_text("1", "2025-01-01", GOOD_DEED.format(points=2)))
    write(tmp_path, "syntax.toml", 'version = "2\n[[rule]\n')
    [problem] = problems_of(tmp_path)  # the good file next to it is fine
    assert "syntax.toml" in problem
    assert "not valid TOML" in problem


def test_every_broken_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "one.toml", "this is = not toml =")
    write(tmp_path, "two.toml", ruleset_text("2", "2025-01-01", VOLUNTEER + "points = 2\n"))
    problems = problems_of(tmp_path)
    problem_naming(problems, "one.toml", "not valid TOML")
    problem_naming(problems, "two.toml", "rule 'volunteer'")


def test_one_broken_rule_is_reported_once_without_a_misleading_extra_problem(
    tmp_path: Path,
) -> None:
    # The file has one rule; the operator should read about that rule only, not also
    # that the file "has 0 rules".
    write(tmp_path, "one.toml", ruleset_text("1", "2025-01-01", VOLUNTEER + "points = 2\n"))
    problems = problems_of(tmp_path)
    assert len(problems) == 1, problems
    assert "rule 'volunteer'" in problems[0]


def test_load_ruleset_on_a_single_good_file(tmp_path: Path) -> None:
    path = write(tmp_path, "x.toml", ruleset_text("9", "2030-05-01", VOLUNTEER))
    ruleset = load_ruleset(path)
    assert ruleset.version == "9"
    assert [r.id for r in ruleset.declarable_rules()] == ["volunteer"]


# --- integer tenths -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tenths"),
    [
        (Decimal("0"), 0),
        (Decimal("0.1"), 1),
        (Decimal("1.5"), 15),
        (Decimal("24.0"), 240),
        (Decimal("-2.5"), -25),
        (3, 30),
        (Decimal("1.50"), 15),
    ],
)
def test_to_tenths_is_exact(value: Decimal | int, tenths: int) -> None:
    assert to_tenths(value) == tenths
    assert from_tenths(tenths) == Decimal(value)


@pytest.mark.parametrize("value", [Decimal("1.25"), Decimal("0.05"), Decimal("-0.01")])
def test_to_tenths_refuses_two_decimal_places(value: Decimal) -> None:
    with pytest.raises(ValueError, match="more than one decimal place"):
        to_tenths(value)


@pytest.mark.parametrize(("tenths", "text"), [(0, "0.0"), (15, "1.5"), (240, "24.0"), (-5, "-0.5")])
def test_from_tenths_always_shows_one_place(tenths: int, text: str) -> None:
    value = from_tenths(tenths)
    assert isinstance(value, Decimal)
    assert str(value) == text


# --- periods ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026-01", "2026-12", "1999-09"])
def test_parse_period_accepts_year_month(text: str) -> None:
    assert parse_period(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-00",
        "2026-1",
        "26-01",
        "2026/01",
        "2026-01-01",
        "",
        "２０２６-01",
        "2026-03\n",
    ],
)
def test_parse_period_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_period(text)
    assert set(caught.value.errors) == {"period"}


@pytest.mark.parametrize(
    ("period", "months", "expected"),
    [
        ("2026-03", 1, "2026-04"),
        ("2025-12", 1, "2026-01"),
        ("2026-01", -1, "2025-12"),
        ("2026-01", -13, "2024-12"),
        ("2025-11", 14, "2027-01"),
        ("2026-06", 0, "2026-06"),
        ("2026-12", 12, "2027-12"),
    ],
)
def test_shift_period_crosses_year_ends(period: str, months: int, expected: str) -> None:
    assert shift_period(period, months) == expected


def test_period_of_is_the_calendar_month() -> None:
    assert period_of(date(2026, 1, 31)) == "2026-01"
    assert period_of(date(2025, 12, 1)) == "2025-12"
