"""Adopting a ruleset version through the service (the web page and `jifen rules adopt`
use the same functions): stored exactly and immutably, merged with the rules folder,
refused on collisions and published months, audited, and the ledger rescored so that
`jifen ledger verify` agrees."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from service.audit.capture import acting
from service.cli import main
from service.cli.common import CliContext
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.config import PROJECT_ROOT, Settings
from service.kernel.errors import Conflict, InvalidInput, PermissionDenied
from service.kernel.periods import period_of, shift_period, town_today
from service.ledger.adoption import (
    RulebookCache,
    adopt_ruleset,
    export_version,
    load_rulebook,
    merge_rulebook,
    version_sources,
)
from service.ledger.verify import verify_ledger
from service.persistence.db import Database
from service.persistence.models import AdoptedRuleset, AuditEvent, LedgerLine
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook, RulesError
from tests.conftest import SmallTown

RULES_DIR = PROJECT_ROOT / "scoring_rules"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def first_day(in_force_from: date) -> date:
    """The first day a new version may take effect in this month: the first, unless the
    version in force already starts then (2026.2 on 1 December)."""
    return max(today().replace(day=1), in_force_from + timedelta(days=1))


def next_from(rulebook: Rulebook) -> date:
    """The day ``candidate`` takes effect from by default."""
    in_force = rulebook.in_force(today())
    assert in_force is not None
    return first_day(in_force.effective_from)


def candidate(
    rulebook: Rulebook, *, version: str = "next", effective: date | None = None, points: int = 5
) -> str:
    """The rules in force today as a new version (from the first of this month, or the day
    after the version in force starts when that is the first, unless ``effective`` says
    otherwise), good deeds worth ``points``; CRLF line ends, as a browser sends a
    textarea."""
    latest = rulebook.in_force(today())
    assert latest is not None
    source = (RULES_DIR / f"{latest.version}.toml").read_text("utf-8")
    source = source.replace(f'version = "{latest.version}"', f'version = "{version}"', 1)
    source = source.replace(
        f"effective_from = {latest.effective_from}",
        f"effective_from = {effective or first_day(latest.effective_from)}",
        1,
    )
    source, count = re.subn(
        r'(id = "good_deed"\n(?:[^\[\n].*\n)*?points = )2\n', rf"\g<1>{points}\n", source
    )
    assert count == 1
    return source.replace("\n", "\r\n")


def adopt(database: Database, town: SmallTown, rulebook: Rulebook, text: str, **kw: Any) -> Any:
    principal = town.principal(database, kw.pop("username", "admin"))
    # Who acts, as the web middleware and the command line set it for the audit log.
    with acting(principal.account_id, "127.0.0.1"), database.transaction() as session:
        return adopt_ruleset(
            session,
            principal,
            rulebook,
            text,
            reason=kw.pop("reason", "县委组织部2026年12月通知"),
            now=utcnow(),
            today=today(),
        )


def adopted_count(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(AdoptedRuleset)) or 0


def approve_good_deed(database: Database, town: SmallTown, rulebook: Rulebook) -> int:
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, "member"),
            rulebook,
            EntryInput("good_deed", today(), Decimal(1), "在西山桥路口指挥交通"),
            today=today(),
            now=utcnow(),
        )
        approve_entry(
            session, town.principal(database, "secretary"), rulebook, entry_id, now=utcnow()
        )
    return entry_id


def test_an_adopted_version_is_stored_exactly_and_joins_the_rulebook(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    text = candidate(rulebook)
    adoption = adopt(database, town, rulebook, text)
    assert adoption.version == "next"
    assert adoption.digest == hashlib.sha256(text.encode("utf-8")).hexdigest()
    admin = town.principal(database, "admin")
    with database.transaction(write=False) as session:
        merged = load_rulebook(session, RULES_DIR)
        name, content = export_version(session, admin, RULES_DIR, "next")
        file_name, file_content = export_version(session, admin, RULES_DIR, "2026.1")
        sources = {s.version: s for s in version_sources(session, admin, RULES_DIR)}
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "adopted_ruleset")
        ).all()
    ruleset = merged.version("next")
    assert ruleset is not None and ruleset.effective_from == next_from(rulebook)
    assert merged.in_force(today()) == ruleset
    assert (name, content) == ("next.toml", text.encode("utf-8"))  # CRLF kept, byte for byte
    assert (file_name, file_content) == ("2026.1.toml", (RULES_DIR / "2026.1.toml").read_bytes())
    assert sources["next"].source == "adopted" and sources["next"].adopted_by == "admin"
    assert sources["next"].digest == adoption.digest
    assert sources["next"].reason == "县委组织部2026年12月通知"
    assert sources["2026.1"].source == "file"
    assert sources["2026.1"].digest == hashlib.sha256(file_content).hexdigest()
    assert [(e.kind, e.actor_id, e.object_id) for e in audit] == [
        ("adopted_ruleset.create", admin.account_id, str(adoption.id))
    ]
    assert '"digest"' in (audit[0].after or "") and "version = " not in (audit[0].after or "")


def test_an_adopted_version_cannot_be_changed_or_deleted(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    adopt(database, town, rulebook, candidate(rulebook))
    immutable = pytest.raises(RuntimeError, match="adopted rulesets are immutable")
    with immutable, database.transaction() as session:
        row = session.scalars(select(AdoptedRuleset)).one()
        row.reason = "改一下"
        session.flush()
    with (
        pytest.raises(RuntimeError, match="adopted rulesets are immutable"),
        database.transaction() as session,
    ):
        session.delete(session.scalars(select(AdoptedRuleset)).one())
        session.flush()
    assert adopted_count(database) == 1


@pytest.mark.parametrize(
    ("version", "effective", "problem"),
    [
        ("2026.1", None, "field 'version': version '2026.1' already exists"),
        ("later", date(2027, 1, 1), "the same day as version '2027.1'"),
    ],
)
def test_a_version_colliding_with_a_file_is_refused(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    version: str,
    effective: date | None,
    problem: str,
) -> None:
    with pytest.raises(RulesError) as refused:
        adopt(database, town, rulebook, candidate(rulebook, version=version, effective=effective))
    assert problem in refused.value.problems[0]
    assert refused.value.problems[0].startswith("candidate: ")
    assert adopted_count(database) == 0


def test_a_version_colliding_with_an_adopted_one_is_refused(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    adopt(database, town, rulebook, candidate(rulebook))
    with pytest.raises(RulesError, match="version 'next' already exists"):
        adopt(database, town, rulebook, candidate(rulebook, points=7))
    assert adopted_count(database) == 1


def test_a_file_and_an_adopted_row_of_one_version_must_agree(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    text = candidate(rulebook)
    adopt(database, town, rulebook, text)
    with database.transaction(write=False) as session:
        rows = session.scalars(select(AdoptedRuleset)).all()
    adopted = merge_rulebook(rulebook, rows).version("next")
    assert adopted is not None
    # The adopted version exported into the folder: the same ruleset, taken once.
    same = Rulebook.of([*rulebook.rulesets, adopted])
    assert [r.version for r in merge_rulebook(same, rows).rulesets].count("next") == 1
    # A file of that version with another floor: which one is in force? Refused.
    other = Rulebook.of([*rulebook.rulesets, adopted.model_copy(update={"floor": Decimal(1)})])
    with pytest.raises(RulesError) as refused:
        merge_rulebook(other, rows)
    assert refused.value.problems == [
        "adopted:next: field 'version': version 'next' is also a file in the rules folder, "
        "with other content; which one is in force? Remove or rename the file"
    ]


def test_a_version_taking_effect_in_a_published_month_is_refused(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    last_month = shift_period(period_of(today()), -1)
    with database.transaction() as session:
        publish_month(
            session,
            town.principal(database, "admin"),
            rulebook,
            last_month,
            now=utcnow(),
            confirm_empty=True,
        )
    inside = date.fromisoformat(f"{last_month}-15")
    with pytest.raises(Conflict) as refused:
        adopt(database, town, rulebook, candidate(rulebook, effective=inside))
    assert str(refused.value.message) == (
        f"Version next would take effect on {inside}, in or before {last_month}, which is "
        "published: published months are never rescored. Give it an effective date after "
        f"{last_month}."
    )
    assert adopted_count(database) == 0
    # From the first open month on, it is adopted.
    adopt(database, town, rulebook, candidate(rulebook))
    assert adopted_count(database) == 1


def test_only_the_office_adopts_and_a_reason_is_required(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with pytest.raises(PermissionDenied):
        adopt(database, town, rulebook, candidate(rulebook), username="secretary")
    with pytest.raises(InvalidInput) as refused:
        adopt(database, town, rulebook, candidate(rulebook), reason="   ")
    assert str(refused.value.errors["reason"]) == "Say why this version is adopted."
    assert adopted_count(database) == 0


def test_adopting_rescores_the_open_months_and_verify_agrees(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    entry_id = approve_good_deed(database, town, rulebook)
    adoption = adopt(database, town, rulebook, candidate(rulebook))
    assert adoption.rescore is not None and adoption.rescore.points == Decimal("3.0")
    with database.transaction(write=False) as session:
        lines = session.execute(
            select(LedgerLine.points, LedgerLine.ruleset_version)
            .where(LedgerLine.entry_id == entry_id)
            .order_by(LedgerLine.id)
        ).all()
        report = verify_ledger(session, load_rulebook(session, RULES_DIR))
    assert sum(points for points, _version in lines) == Decimal("5.0")
    assert lines[-1].ruleset_version == "next"
    assert report.ok, [d.describe() for d in report.differences]


def url_of(database: Database) -> str:
    """The URL of ``database``'s tables (on PostgreSQL with the test's schema as the
    search path), as tests/integration/test_cli_rules_ledger.py finds it."""
    url = database.engine.url
    if url.get_backend_name() != "postgresql":
        return url.render_as_string(hide_password=False)
    with database.transaction(write=False) as session:
        schema = session.execute(text("SELECT current_schema()")).scalar_one()
    with_schema = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return with_schema.render_as_string(hide_password=False)


def cli(database: Database, args: list[str], rules_dir: Path = RULES_DIR) -> Result:
    settings = Settings(env="test", rules_dir=rules_dir, database_url=url_of(database))
    return CliRunner().invoke(main, args, obj=CliContext(settings, database))


def test_the_command_line_sees_adopted_versions(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    approve_good_deed(database, town, rulebook)
    adopt(database, town, rulebook, candidate(rulebook))
    checked = cli(database, ["rules", "check"])
    assert checked.exit_code == 0, checked.output
    assert f"next from {next_from(rulebook)}" in checked.output
    verified = cli(database, ["ledger", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "OK: the summary table and the ledger agree" in verified.output


def test_jifen_rules_adopt_goes_through_the_same_service(
    database: Database, town: SmallTown, rulebook: Rulebook, tmp_path: Path
) -> None:
    path = tmp_path / "next.toml"
    path.write_bytes(candidate(rulebook).encode("utf-8"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    result = cli(database, ["rules", "adopt", str(path), "--reason", "县委通知", "--by", "admin"])
    assert result.exit_code == 0, result.output
    assert (
        f"Adopted version next, effective from {next_from(rulebook)} (SHA-256 {digest})."
        in result.output
    )
    with database.transaction(write=False) as session:
        row = session.scalars(select(AdoptedRuleset)).one()
        assert row.digest == digest and row.adopted_by_id == town.account_ids["admin"]
        assert session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.kind == "adopted_ruleset.create",
                AuditEvent.actor_id == town.account_ids["admin"],
            )
        )
    again = cli(database, ["rules", "adopt", str(path), "--reason", "再来", "--by", "admin"])
    assert again.exit_code == 1
    assert f"{path}: field 'version': version 'next' already exists" in again.output
    refused = cli(database, ["rules", "adopt", str(path), "--reason", "x", "--by", "secretary"])
    assert refused.exit_code == 1
    assert adopted_count(database) == 1


def test_a_worker_picks_up_a_version_adopted_elsewhere_at_its_next_request(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    worker = RulebookCache(rulebook)  # as a web worker built it at startup
    with database.transaction(write=False) as session:
        before = worker.current(session)
        assert before.version("next") is None
        assert worker.current(session) is before  # nothing adopted: not rebuilt
    adopt(database, town, rulebook, candidate(rulebook))  # e.g. by another worker
    with database.transaction(write=False) as session:
        after = worker.current(session)
    assert after.version("next") is not None and worker.last is after


def test_rules_check_refuses_a_file_that_contradicts_an_adopted_version(
    database: Database, town: SmallTown, rulebook: Rulebook, tmp_path: Path
) -> None:
    adopt(database, town, rulebook, candidate(rulebook))
    for path in RULES_DIR.glob("*.toml"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "next.toml").write_text(candidate(rulebook, points=7), encoding="utf-8")
    result = cli(database, ["rules", "check"], rules_dir=tmp_path)
    assert result.exit_code == 1
    assert (
        "adopted:next: field 'version': version 'next' is also a file in the rules folder, "
        "with other content; which one is in force? Remove or rename the file"
    ) in result.output
    # The adopted text saved into the folder as exported: the same ruleset, accepted.
    (tmp_path / "next.toml").write_text(candidate(rulebook), encoding="utf-8")
    assert cli(database, ["rules", "check"], rules_dir=tmp_path).exit_code == 0


def test_a_change_scored_by_rules_older_than_an_adoption_is_refused_and_saves_nothing(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """A request that built its rulebook before a version was adopted must not write
    points by the old rules: it is refused whole, and succeeds when tried again."""
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, "member"),
            rulebook,
            EntryInput("good_deed", today(), Decimal(1), "在西山桥路口指挥交通"),
            today=today(),
            now=utcnow(),
        )
    adopt(database, town, rulebook, candidate(rulebook))
    secretary = town.principal(database, "secretary")
    with pytest.raises(Conflict) as refused, database.transaction() as session:
        approve_entry(session, secretary, rulebook, entry_id, now=utcnow())
    assert "next" in str(refused.value.message.render())
    with database.transaction(write=False) as session:
        assert not session.scalars(select(LedgerLine).where(LedgerLine.entry_id == entry_id)).all()
    with database.transaction() as session:
        approve_entry(session, secretary, load_rulebook(session, RULES_DIR), entry_id, now=utcnow())
    with database.transaction(write=False) as session:
        points = session.scalars(
            select(LedgerLine.points).where(LedgerLine.entry_id == entry_id)
        ).all()
        report = verify_ledger(session, load_rulebook(session, RULES_DIR))
    assert sum(points) == Decimal("5.0")
    assert report.ok, [d.describe() for d in report.differences]
