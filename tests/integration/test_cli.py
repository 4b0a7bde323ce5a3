"""The `jifen` command as an operator runs it: a separate process, a real database."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.config import Settings
from service.kernel.periods import period_of, shift_period, town_today
from service.people.fields import id_number_check_char
from service.people.roster_file import template_header
from service.persistence.db import Database
from service.persistence.models import BranchRoster, PublishedMemberRow
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.publication.state import first_day
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown, raw_connection
from tests.live_server import process_database_url, process_env, run_jifen

# Another process, thread or engine reads what the test writes: real commits.
pytestmark = pytest.mark.commits

JIFEN = [sys.executable, "-m", "service.cli"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JIFEN, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    # English output, whatever the developer's terminal speaks (LANGUAGE and LC_ALL would
    # come before LANG).
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        env.pop(name, None)
    env["LANG"] = "C.UTF-8"
    env["JIFEN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env["JIFEN_ENV"] = "development"
    return env


def test_upgrade_seed_and_stats(cli_env: dict[str, str]) -> None:
    upgraded = run(["db", "upgrade"], cli_env)
    assert upgraded.returncode == 0, upgraded.stderr
    seeded = run(["seed", "demo", "--until", "2026-11-20"], cli_env)
    assert seeded.returncode == 0, seeded.stderr
    again = run(["seed", "demo", "--if-empty"], cli_env)
    assert again.returncode == 0 and "skipped" in again.stderr

    stats = run(["stats", "--json"], cli_env)
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert (data["branches"], data["branches_joint"]) == (268, 26)
    assert data["organisations"] == 836
    assert data["members"] == 1192
    assert set(data["entries"]) == {"pending", "approved", "rejected", "withdrawn", "revoked"}
    assert data["entries"]["approved"] > 0 and data["entries"]["pending"] > 0


def test_seed_refused_in_production(cli_env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], cli_env).returncode == 0
    refused = run(["seed", "demo"], {**cli_env, "JIFEN_ENV": "production"})
    assert refused.returncode == 1
    assert "production" in refused.stderr
    stats = json.loads(run(["stats", "--json"], cli_env).stdout)
    assert stats["branches"] == 0


def test_broken_rules_stop_the_server_with_reasons(cli_env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.toml").write_text(
        'version = "x"\neffective_from = 2025-01-01\ntitle_zh = "t"\ntitle_en = "t"\n'
        '[[rule]]\nid = "good_deed"\nname_zh = "做好事"\nname_en = "Good deed"\n'
        'group = "reward"\npoints = "many"\n',
        encoding="utf-8",
    )
    served = run(["serve", "--port", "0"], {**cli_env, "JIFEN_RULES_DIR": str(rules)})
    assert served.returncode == 1
    assert "bad.toml" in served.stderr and "good_deed" in served.stderr


def test_people_commands_keep_the_boards(
    database: Database, town: SmallTown, tmp_path: Path
) -> None:
    """`jifen transfer` and `jifen import members --apply`, each in a process of its own
    as an operator runs them, keep the board totals: `jifen ledger verify` finds nothing.
    (The totals' hooks were once installed only by importing a module the command line
    never imported, and these commands left the branches' member counts wrong.)"""
    env = process_env(process_database_url(database))
    assert run_jifen(["ledger", "verify"], env).returncode == 0
    today = town_today(utcnow(), Settings().timezone).isoformat()
    moved = run_jifen(["transfer", "M004", "B001", "--on", today, "--by", "admin"], env)
    assert moved.returncode == 0, moved.stderr
    first17 = "32058319800101001"
    roster = tmp_path / "roster.csv"
    with roster.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(template_header())
        writer.writerow(
            [
                "N001",
                "新党员",
                first17 + id_number_check_char(first17),
                "",
                "B002",
                "",
                "正式党员",
                "",
            ]
        )
    imported = run_jifen(["import", "members", str(roster), "--apply", "--by", "admin"], env)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    verified = run_jifen(["ledger", "verify"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The other commands that add people or points leave the boards whole too.
    created = run_jifen(["branches", "create", "B009", "新建党支部", "--kind", "single"], env)
    assert created.returncode == 0, created.stderr
    rescored = run_jifen(["ledger", "rescore"], env)
    assert rescored.returncode == 0, rescored.stderr
    verified = run_jifen(["ledger", "verify"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    with database.transaction(write=False) as session:
        rosters = dict(session.execute(select(BranchRoster.branch_id, BranchRoster.members)).all())
    # 金湾: member, member2, secretary and now 刘洋 (the exempt elder is not counted);
    # 宝元: secretary2 and the imported member.
    assert rosters == {town.jinwan: 4, town.baoyuan: 2}


def test_rebuild_totals_is_the_way_back_for_drifted_totals(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """A database whose summary and board totals drifted from the ledger (as the command
    line once left them): `jifen ledger verify` names the remedy, `jifen ledger
    rebuild-totals` applies it, and the published month's board is left as published."""
    today = town_today(utcnow(), Settings().timezone)
    this_month = period_of(today)
    last_month = shift_period(this_month, -1)
    member = town.principal(database, "member")
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        for day in [first_day(last_month) + timedelta(days=2), today]:
            entry_id = submit_entry(
                session,
                member,
                rulebook,
                EntryInput("study", day, Decimal(1), "学习教育"),
                today=today,
                now=utcnow(),
            )
            approve_entry(session, admin, rulebook, entry_id, now=utcnow())
        publish_month(session, admin, rulebook, last_month, now=utcnow())
    with database.transaction(write=False) as session:
        published = sorted(
            tuple(row) for row in session.execute(select(PublishedMemberRow.__table__)).all()
        )
    # What a process without the totals' hooks once left behind: a branch's member
    # count, a summary row of the open month and a member's open-month total gone wrong.
    with raw_connection(database) as connection:
        connection.execute(text("UPDATE branch_roster SET members = members + 3"))
        connection.execute(
            text("UPDATE points_summary SET points = points + 50 WHERE period = :p"),
            {"p": this_month},
        )
        connection.execute(text("DELETE FROM points_total WHERE period = :p"), {"p": this_month})
    env = process_env(process_database_url(database))
    broken = run_jifen(["ledger", "verify"], env)
    assert broken.returncode == 1
    assert "jifen ledger rebuild-totals" in broken.stderr
    rebuilt = run_jifen(["ledger", "rebuild-totals"], env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert last_month in rebuilt.stdout  # said to be left unchanged
    verified = run_jifen(["ledger", "verify"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert run_jifen(["publish", "verify"], env).returncode == 0
    with database.transaction(write=False) as session:
        assert published == sorted(
            tuple(row) for row in session.execute(select(PublishedMemberRow.__table__)).all()
        )
        rosters = dict(session.execute(select(BranchRoster.branch_id, BranchRoster.members)).all())
    assert rosters == {town.jinwan: 3, town.baoyuan: 2}
