"""`jifen ledger verify|rescore` and `jifen rules check|preview|serve` on a real database.

The commands run in-process through click's runner against the test database (on
PostgreSQL each run has its own schema, which only the test's engine knows), so the
database is handed to the command the way the command builds its own.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from service.cli import main
from service.cli.common import CliContext
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.config import PROJECT_ROOT, Settings
from service.kernel.periods import period_of, town_today
from service.persistence.db import Database
from service.persistence.models import LedgerKind, LedgerLine
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown, raw_connection

RULES_DIR = PROJECT_ROOT / "scoring_rules"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


@pytest.fixture
def run(database: Database) -> Any:
    """Invoke ``jifen ARGS`` with the test database; ``rules_dir`` swaps the rules."""

    def invoke(args: list[str], rules_dir: Path = RULES_DIR) -> Result:
        # `serve` checks and serves the configured database (its workers open it), so
        # the settings name the test's tables too.
        settings = Settings(env="test", rules_dir=rules_dir, database_url=_url_of(database))
        return CliRunner().invoke(main, args, obj=CliContext(settings, database))

    return invoke


def _url_of(database: Database) -> str:
    """The URL another engine opens ``database``'s tables with (on PostgreSQL, its schema
    as the search path), found through the test's own transaction."""
    url = database.engine.url
    if url.get_backend_name() != "postgresql":
        return url.render_as_string(hide_password=False)
    with database.transaction(write=False) as session:
        schema = session.execute(text("SELECT current_schema()")).scalar_one()
    with_schema = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return with_schema.render_as_string(hide_password=False)


def approve(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    rule_id: str,
    quantity: str = "1",
) -> int:
    member = town.principal(database, username)
    reviewer = town.principal(database, "secretary" if username != "member3" else "secretary2")
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            member,
            rulebook,
            EntryInput(rule_id, today(), Decimal(quantity), "在西山桥路口指挥交通"),
            today=today(),
            now=utcnow(),
        )
    with database.transaction() as session:
        approve_entry(session, reviewer, rulebook, entry_id, now=utcnow())
    return entry_id


@pytest.fixture
def approved(database: Database, town: SmallTown, rulebook: Rulebook) -> dict[str, int]:
    """张伟 (M001) one good deed, 2.0 points; 李娜 (M002) one volunteer hour, 3.0."""
    return {
        "good_deed": approve(database, town, rulebook, "member", "good_deed"),
        "volunteer": approve(database, town, rulebook, "member2", "volunteer"),
    }


def execute(database: Database, sql: str, **params: Any) -> None:
    """Raw SQL: the way a stray script or a hand edit bypasses the ORM's guards."""
    with raw_connection(database) as connection:
        connection.execute(text(sql), params)


# --- ledger verify -------------------------------------------------------------------


def test_verify_is_clean_after_approvals(run: Any, approved: dict[str, int]) -> None:
    result = run(["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "checked 2 member-years (2 activities), 2 ledger lines and 2 summary rows" in (
        result.stdout
    )
    assert re.search(r"in \d+\.\d\d s \([\d,]+ rows/s\)", result.stdout)
    assert "OK" in result.stdout


def test_verify_reports_a_tampered_summary_row(
    run: Any, database: Database, town: SmallTown, approved: dict[str, int]
) -> None:
    # +1.0 point on 张伟's summary row (points are stored as tenths).
    execute(
        database,
        "UPDATE points_summary SET points = points + 10 WHERE member_id = :m",
        m=town.member_ids["member"],
    )
    result = run(["ledger", "verify"])
    assert result.exit_code == 1
    month = period_of(today())
    assert (
        f"summary_mismatch: member M001 张伟 (id {town.member_ids['member']}), {month}, "
        f"good_deed @ branch {town.jinwan}: expected 2.0 points in 1 lines, "
        "found 3.0 points in 1 lines"
    ) in result.stdout
    assert "M002" not in result.stdout  # the untouched member is not reported
    assert "FAILED: 1 difference" in result.stderr


def test_verify_reports_a_tampered_ledger_line(
    run: Any, database: Database, town: SmallTown, approved: dict[str, int]
) -> None:
    entry_id = approved["good_deed"]
    execute(database, "UPDATE ledger_line SET points = 50 WHERE entry_id = :e", e=entry_id)
    result = run(["ledger", "verify"])
    assert result.exit_code == 1
    month = period_of(today())
    # The line no longer matches a fresh scoring, nor the summary row it fed.
    assert (
        f"score_mismatch: member M001 张伟 (id {town.member_ids['member']}), {month}, "
        f"entry:{entry_id}: expected 2.0 points, found 5.0 points"
    ) in result.stdout
    assert "summary_mismatch" in result.stdout and "expected 5.0 points in 1 lines" in (
        result.stdout
    )
    assert "FAILED: 2 differences" in result.stderr


def test_verify_reports_a_deleted_ledger_line(
    run: Any, database: Database, town: SmallTown, approved: dict[str, int]
) -> None:
    execute(database, "DELETE FROM ledger_line WHERE entry_id = :e", e=approved["volunteer"])
    result = run(["ledger", "verify"])
    assert result.exit_code == 1
    assert "not_in_ledger: member M002 李娜" in result.stdout
    assert f"entry:{approved['volunteer']}: expected 3.0 points, found nothing" in result.stdout
    assert "summary_orphan: member M002" in result.stdout


def test_verify_refuses_broken_rules(run: Any, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        (Path(__file__).parents[1] / "rule_corpus" / "negative_cap.toml").read_text("utf-8"),
        encoding="utf-8",
    )
    result = run(["ledger", "verify"], rules_dir=tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.toml'}: rule 'good_deed' field 'cap_per_month'" in result.stderr


# --- rules check ---------------------------------------------------------------------


def test_rules_check_accepts_the_town_rules(run: Any, rulebook: Rulebook) -> None:
    result = run(["rules", "check"])
    assert result.exit_code == 0, result.output
    count = sum(len(ruleset.rules) for ruleset in rulebook.rulesets)
    assert f"{len(rulebook.rulesets)} rulesets" in result.stdout
    assert f"{count} rules, OK" in result.stdout
    assert result.stderr == ""


def test_rules_check_of_one_file(run: Any) -> None:
    result = run(["rules", "check", str(RULES_DIR / "2026.1.toml")])
    assert result.exit_code == 0, result.output
    assert "1 ruleset (2026.1 from 2026-01-01)" in result.stdout


def test_rules_check_lists_every_problem_of_a_directory(run: Any, tmp_path: Path) -> None:
    corpus = Path(__file__).parents[1] / "rule_corpus"
    for name in ("negative_cap.toml", "unknown_rule_field.toml"):
        (tmp_path / name).write_text((corpus / name).read_text("utf-8"), encoding="utf-8")
    result = run(["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'negative_cap.toml'}: rule 'good_deed' field 'cap_per_month'" in (
        result.stderr
    )
    assert f"{tmp_path / 'unknown_rule_field.toml'}: rule 'good_deed' field 'cap_per_week'" in (
        result.stderr
    )
    assert "2 problems" in result.stderr
    assert "Traceback" not in result.output


def test_rules_check_of_a_missing_path(run: Any, tmp_path: Path) -> None:
    result = run(["rules", "check", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# --- rules preview -------------------------------------------------------------------


def candidate_file(tmp_path: Path, rulebook: Rulebook, good_deed_points: int) -> Path:
    """The ruleset in force today as a new version effective this month, good deeds
    re-priced."""
    latest = rulebook.in_force(today())
    assert latest is not None
    source = (RULES_DIR / f"{latest.version}.toml").read_text("utf-8")
    first = today().replace(day=1)
    if first == latest.effective_from:
        # A version already starts this month (2026.2 on 1 December): the day after.
        first += timedelta(days=1)
    changed = source.replace(f'version = "{latest.version}"', 'version = "next"', 1)
    changed = changed.replace(
        f"effective_from = {latest.effective_from}", f"effective_from = {first}", 1
    )
    changed, replaced = re.subn(
        r'(id = "good_deed"\n(?:[^\[\n].*\n)*?points = )2\n', rf"\g<1>{good_deed_points}\n", changed
    )
    assert replaced == 1
    path = tmp_path / "next.toml"
    path.write_text(changed, encoding="utf-8")
    return path


def test_preview_shows_members_before_and_after(
    run: Any, rulebook: Rulebook, approved: dict[str, int], tmp_path: Path
) -> None:
    candidate = candidate_file(tmp_path, rulebook, good_deed_points=5)
    month = period_of(today())
    result = run(["rules", "preview", str(candidate), "--month", month])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Candidate ruleset next" in out
    assert f"{month}: total 5.0 -> 8.0 (+3.0), 2 members with other points or town rank" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("M0")}
    # 张伟 overtakes 李娜: 2.0 -> 5.0 points, rank 2 -> 1; 李娜 keeps 3.0 but drops to 2.
    assert rows["M001"][1] == "张伟"
    assert rows["M001"][-7:] == ["2.0", "->", "5.0", "+3.0", "2", "->", "1"]
    assert rows["M002"][-7:] == ["3.0", "->", "3.0", "+0.0", "1", "->", "2"]
    assert "Nothing was written." in out


def test_preview_writes_nothing(
    run: Any, database: Database, rulebook: Rulebook, approved: dict[str, int], tmp_path: Path
) -> None:
    result = run(["rules", "preview", str(candidate_file(tmp_path, rulebook, 5))])
    assert result.exit_code == 0, result.output
    assert run(["ledger", "verify"]).exit_code == 0
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == 2


def test_preview_of_an_unchanged_candidate(
    run: Any, rulebook: Rulebook, approved: dict[str, int], tmp_path: Path
) -> None:
    result = run(["rules", "preview", str(candidate_file(tmp_path, rulebook, 2))])
    assert result.exit_code == 0, result.output
    assert "0 members with other points or town rank" in result.stdout
    assert "In all: 0 members affected" in result.stdout


def test_preview_refuses_an_invalid_candidate(run: Any, approved: dict[str, int]) -> None:
    broken = Path(__file__).parents[1] / "rule_corpus" / "cap_below_one_entry.toml"
    result = run(["rules", "preview", str(broken)])
    assert result.exit_code == 1
    assert (
        f"{broken}: rule 'good_deed': 'cap_per_day' (2) is below the points of one entry (3)"
    ) in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_preview_refuses_a_candidate_on_another_versions_date(
    run: Any, rulebook: Rulebook, tmp_path: Path
) -> None:
    source = (RULES_DIR / f"{rulebook.latest.version}.toml").read_text("utf-8")
    path = tmp_path / "clash.toml"
    path.write_text(
        source.replace(f'version = "{rulebook.latest.version}"', 'version = "clash"', 1),
        encoding="utf-8",
    )
    result = run(["rules", "preview", str(path)])
    assert result.exit_code == 1
    assert "take effect on the same day" in result.stderr


def test_preview_refuses_a_malformed_month(run: Any, rulebook: Rulebook, tmp_path: Path) -> None:
    result = run(
        ["rules", "preview", str(candidate_file(tmp_path, rulebook, 5)), "--month", "2026-13"]
    )
    assert result.exit_code == 2
    assert "'2026-13' is not a month; write YYYY-MM" in result.stderr


# --- ledger rescore ------------------------------------------------------------------


def test_rescore_applies_a_new_ruleset_once(
    run: Any,
    database: Database,
    rulebook: Rulebook,
    approved: dict[str, int],
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in RULES_DIR.glob("*.toml"):
        (rules / path.name).write_text(path.read_text("utf-8"), encoding="utf-8")
    candidate_file(rules, rulebook, good_deed_points=5)

    # Before the rescore the ledger is behind the new rules, and verify says so.
    stale = run(["ledger", "verify"], rules_dir=rules)
    assert stale.exit_code == 1
    assert f"entry:{approved['good_deed']}: expected 5.0 points, found 2.0 points" in stale.stdout

    result = run(["ledger", "rescore", "--year", str(today().year)], rules_dir=rules)
    assert result.exit_code == 0, result.output
    assert f"entry:{approved['good_deed']}: good_deed (rules next) rescore +3.0" in result.stdout
    assert "rescored 2 member-years: appended 1 ledger line, net change +3.0 points" in (
        result.stdout
    )
    with database.transaction(write=False) as session:
        kinds = session.scalars(select(LedgerLine.kind).order_by(LedgerLine.id)).all()
    assert kinds == [LedgerKind.AWARD, LedgerKind.AWARD, LedgerKind.RESCORE]

    assert run(["ledger", "verify"], rules_dir=rules).exit_code == 0
    again = run(["ledger", "rescore"], rules_dir=rules)
    assert "appended 0 ledger lines, net change +0.0 points" in again.stdout


# --- serve ---------------------------------------------------------------------------


def test_serve_refuses_invalid_rules_and_says_why(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    corpus = Path(__file__).parents[1] / "rule_corpus"
    (tmp_path / "2026.9.toml").write_text(
        (corpus / "unknown_rule_field.toml").read_text("utf-8"), encoding="utf-8"
    )
    result = run(["serve", "--port", "0"], rules_dir=tmp_path)
    assert result.exit_code == 1
    assert not started
    assert "the server does not start" in result.stderr
    assert (
        f"{tmp_path / '2026.9.toml'}: rule 'good_deed' field 'cap_per_week': "
        "Extra inputs are not permitted"
    ) in result.stderr
    assert "Traceback" not in result.output


def test_serve_starts_on_valid_rules(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(kwargs))
    result = run(["serve", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert started and started[0]["factory"] is True
