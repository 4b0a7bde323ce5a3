"""The corpus of broken rule files: each one must be refused with the message it
expects, naming the file, the rule (when the problem is inside one) and the field.

Every case carries its expectation at its top:

    # expect: <a substring of the problem line>
    # rule: <the rule id the problem must name>        (when inside a rule)
    # field: <the field the problem must name>         (when there is one)

A directory is one case (problems between files); its expectation sits in one of its
files. The same lines must come out of ``jifen rules check`` with exit code 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli import main
from service.scoring.rules import Rulebook, RulesError, load_ruleset

CORPUS = Path(__file__).resolve().parent
HEADER = re.compile(r"^# (expect|rule|field): (.+)$")


@dataclass(frozen=True)
class Case:
    path: Path
    expect: str
    rule: str | None
    field: str | None


def _header(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = HEADER.match(line)
        if not match:
            break
        found[match.group(1)] = match.group(2)
    return found


def _case(path: Path) -> Case:
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    header: dict[str, str] = {}
    for file in files:
        header.update(_header(file))
    assert "expect" in header, f"{path.name} has no '# expect:' line"
    return Case(path, header["expect"], header.get("rule"), header.get("field"))


def _cases() -> list[Case]:
    paths = sorted(CORPUS.glob("*.toml")) + sorted(p for p in CORPUS.iterdir() if p.is_dir())
    return [_case(path) for path in paths if path.name != "__pycache__"]


CASES = _cases()


def _problems(path: Path) -> list[str]:
    with pytest.raises(RulesError) as caught:
        if path.is_dir():
            Rulebook.from_directory(path)
        else:
            load_ruleset(path)
    return caught.value.problems


def _assert_named(case: Case, problem: str) -> None:
    # A directory's problem names the file inside it that collides with another.
    prefix = f"{case.path}/" if case.path.is_dir() else f"{case.path}: "
    assert problem.startswith(prefix), problem
    assert case.expect in problem, problem
    if case.rule is not None:
        assert re.search(rf"\brule (id )?'{re.escape(case.rule)}'", problem), problem
    if case.field is not None:
        assert re.search(rf"(?<![\w-]){re.escape(case.field)}(?![\w-])", problem), problem


def test_the_corpus_covers_the_cases_of_the_issue() -> None:
    names = {case.path.stem for case in CASES}
    # unknown field, duplicate id, negative cap, wrong type, overlapping effective
    # dates, a cap below one entry's points (issue 3)
    assert {
        "unknown_rule_field",
        "unknown_ruleset_field",
        "duplicate_rule_id",
        "negative_cap",
        "points_not_a_number",
        "photo_required_not_a_boolean",
        "same_effective_date",
        "cap_below_one_entry",
    } <= names
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.path.name for case in CASES])
def test_broken_file_is_refused_with_its_message(case: Case) -> None:
    problems = _problems(case.path)
    matching = [p for p in problems if case.expect in p]
    assert matching, f"expected {case.expect!r} among {problems}"
    _assert_named(case, matching[0])


@pytest.mark.parametrize("case", CASES, ids=[case.path.name for case in CASES])
def test_rules_check_prints_the_problem_and_exits_1(case: Case) -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(case.path)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if case.expect in line]
    assert lines, result.stderr
    _assert_named(case, lines[0])
    assert "Traceback" not in result.output
    assert "OK" not in result.stdout
