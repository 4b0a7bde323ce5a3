"""`jifen publish …` on a real database: publish a month, list, verify (and catch a
tampered row), correct. In-process through click's runner with the test database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text

from service.cli import main
from service.cli.common import CliContext
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.config import Settings
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.models import Publication
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown, raw_connection

# Last month: it has ended wherever the tests run.
LAST_MONTH = shift_period(period_of(town_today(utcnow(), "Asia/Shanghai")), -1)
DAY = date(int(LAST_MONTH[:4]), int(LAST_MONTH[5:7]), 3)


@pytest.fixture
def run(database: Database) -> Any:
    settings = Settings(env="test")

    def invoke(args: list[str]) -> Result:
        return CliRunner().invoke(main, args, obj=CliContext(settings, database))

    return invoke


def submit(database: Database, town: SmallTown, rulebook: Rulebook, username: str) -> int:
    principal = town.principal(database, username)
    with database.transaction() as session:
        return submit_entry(
            session,
            principal,
            rulebook,
            EntryInput("study", DAY, Decimal(1), "学习教育"),
            today=town_today(utcnow(), "Asia/Shanghai"),
            now=utcnow(),
        )


def test_publish_verify_list_and_correct(
    run: Any, database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    pending = submit(database, town, rulebook, "member3")

    refused = run(["publish", LAST_MONTH])
    assert refused.exit_code == 1
    assert "宝元鞋厂党支部: 1 pending" in refused.output
    assert "cannot be published while entries dated in it are pending" in refused.output

    admin = town.principal(database, "admin")
    with database.transaction() as session:
        approve_entry(session, admin, rulebook, pending, now=utcnow())

    published = run(["publish", LAST_MONTH])
    assert published.exit_code == 0, published.output
    assert f"published {LAST_MONTH} revision 1" in published.output
    assert "objections are taken until" in published.output

    again = run(["publish", LAST_MONTH])
    assert again.exit_code == 1 and "already published" in again.output

    listed = run(["publish", "list"])
    assert listed.exit_code == 0 and f"{LAST_MONTH} r1" in listed.output
    assert "[published]" in listed.output

    verified = run(["publish", "verify"])
    assert verified.exit_code == 0 and "OK: 1 publications" in verified.output

    no_reason = run(["publish", "correct", LAST_MONTH])
    assert no_reason.exit_code == 2  # click: --reason is required
    opened = run(["publish", "correct", LAST_MONTH, "--reason", "刘洋的学习教育重复计算"])
    assert opened.exit_code == 0, opened.output
    corrected = run(["publish", "correction", LAST_MONTH])
    assert corrected.exit_code == 0, corrected.output
    assert f"published {LAST_MONTH} revision 2" in corrected.output
    assert "reason: 刘洋的学习教育重复计算" in corrected.output
    assert run(["publish", "verify"]).exit_code == 0

    with database.transaction(write=False) as session:
        first = session.scalar(select(Publication.id).where(Publication.revision == 1))
    with raw_connection(database) as connection:
        connection.execute(
            text("UPDATE published_member_row SET points = 990 WHERE publication_id = :id"),
            {"id": first},
        )
    broken = run(["publish", "verify"])
    assert broken.exit_code == 1
    assert f"publication {first} ({LAST_MONTH} revision 1)" in broken.output
    assert "hash to another digest" in broken.output
    assert "BROKEN" in run(["publish", "list"]).output


def test_publish_needs_an_office_account(run: Any, town: SmallTown) -> None:
    refused = run(["publish", LAST_MONTH, "--by", "secretary"])
    assert refused.exit_code == 1
    assert "not an active office (admin) account" in refused.output
    assert run(["publish", "2026-13"]).exit_code == 2


def test_the_office_lists_and_answers_objections(
    run: Any, database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    from service.publication.objections import LineRef, raise_objection

    admin = town.principal(database, "admin")
    with database.transaction() as session:
        approve_entry(
            session, admin, rulebook, submit(database, town, rulebook, "member"), now=utcnow()
        )
    assert run(["publish", LAST_MONTH]).exit_code == 0
    assert run(["publish", "objections", LAST_MONTH]).output.strip() == (
        f"no objections to {LAST_MONTH}"
    )
    member = town.principal(database, "member2")
    with database.transaction() as session:
        objection = raise_objection(
            session,
            member,
            LAST_MONTH,
            LineRef(member_id=town.member_ids["member"]),
            "张伟的学习教育是否重复?",
            now=utcnow(),
        )

    listed = run(["publish", "objections", LAST_MONTH])
    assert listed.exit_code == 0
    assert f"#{objection}" in listed.output and "[open]" in listed.output
    assert "张伟的学习教育是否重复?" in listed.output

    # A correction that was never published cannot be the resolution.
    refused = run(
        ["publish", "answer", str(objection), "--resolution", "corrected", "--answer", "已更正"]
    )
    assert refused.exit_code == 1 and "error:" in refused.output
    answered = run(
        ["publish", "answer", str(objection), "--resolution", "no_change", "--answer", "核实无误"]
    )
    assert answered.exit_code == 0, answered.output
    listed = run(["publish", "objections", LAST_MONTH])
    assert "[no_change]" in listed.output and "answer: 核实无误" in listed.output
    again = run(
        ["publish", "answer", str(objection), "--resolution", "no_change", "--answer", "再次"]
    )
    assert again.exit_code == 1
    assert (
        run(["publish", "answer", "999999", "--resolution", "no_change", "--answer", "x"]).exit_code
        == 1
    )


def test_publish_refuses_a_month_before_the_first_rules_and_asks_about_an_empty_one(
    run: Any, database: Database, town: SmallTown
) -> None:
    """Issue 15, item 5: neither froze zeros silently any more."""
    before = run(["publish", "2024-06", "--yes"])
    assert before.exit_code == 1
    assert "2024-06 is before the first points rules (in force from 2025-01)" in before.output
    assert "Traceback" not in before.output

    empty = run(["publish", LAST_MONTH])
    assert empty.exit_code == 1
    assert f"Nothing counts in {LAST_MONTH}" in empty.output
    assert f"jifen publish {LAST_MONTH} --yes" in empty.output
    with database.transaction(write=False) as session:
        assert session.scalar(select(Publication.id)) is None

    confirmed = run(["publish", LAST_MONTH, "--yes"])
    assert confirmed.exit_code == 0, confirmed.output
    assert f"published {LAST_MONTH} revision 1" in confirmed.output
