"""The first run of a production install: `jifen init`, `jifen setup`, JIFEN_CLI_ACCOUNT,
`jifen db current`, `jifen --version`, a backup into JIFEN_BACKUP_DIR, and the demo
seed refused without a source checkout's seeds."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from service.accounts.passwords import authenticate
from service.cli import main
from service.cli.common import CliContext
from service.kernel.config import Settings, serving_problems
from service.persistence.db import Database
from service.persistence.migrate import head_revision, previous_revision, upgrade
from service.persistence.models import Account, AuditEvent, Role, RoleGrant
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

GOOD_PASSWORD = "qingxi-office-2026"


def invoke(context: CliContext, args: list[str], **kwargs: Any) -> Result:
    return CliRunner().invoke(main, args, obj=context, **kwargs)


@pytest.fixture
def jifen(database: Database) -> Any:
    """`jifen ...` in-process on the test database, in production."""
    settings = Settings(env="production", secret_key="a-production-secret-key-for-tests")
    context = CliContext(settings, database)

    def run(*args: str, **kwargs: Any) -> Result:
        return invoke(context, list(args), **kwargs)

    return run


def audit_kinds(database: Database) -> list[tuple[str, str, int | None, str]]:
    with database.transaction(write=False) as session:
        rows = session.execute(
            select(
                AuditEvent.kind, AuditEvent.summary, AuditEvent.actor_id, AuditEvent.ip_address
            ).order_by(AuditEvent.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


# --- jifen init ---------------------------------------------------------------------------


def test_init_lays_out_an_instance_and_never_overwrites_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = CliContext(Settings(env="test"))
    folder = tmp_path / "srv" / "jifen"
    made = invoke(context, ["init", str(folder)])
    assert made.exit_code == 0, made.output
    settings_file = folder / "jifen.env"
    assert f"export JIFEN_CONFIG={settings_file}" in made.output
    for step in ("jifen db upgrade", "jifen setup --username", "jifen serve"):
        assert step in made.output
    assert "samples" in made.output

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(settings_file) == 0o600  # it holds the secret key
    for name in ("", "uploads", "roster-uploads", "backups"):
        assert mode(folder / name) == 0o700, name
    text = settings_file.read_text(encoding="utf-8")
    assert "JIFEN_ENV=production" in text
    assert "# JIFEN_DATABASE_URL=postgresql+psycopg://" in text
    for commented in ("JIFEN_TOWN_NAME", "JIFEN_PUBLIC_URL", "JIFEN_HTTPS", "JIFEN_TRUSTED_PROXY"):
        assert f"# {commented}=" in text

    # The file is what Settings read through JIFEN_CONFIG: everything in the folder.
    for name in ("JIFEN_ENV", "JIFEN_SECRET_KEY", "JIFEN_DATABASE_URL", "JIFEN_RULES_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JIFEN_CONFIG", str(settings_file))
    settings = Settings()
    assert settings.env == "production"
    assert settings.database_url == f"sqlite:///{folder / 'jifen.sqlite3'}"
    assert settings.rules_dir == folder / "rules"
    assert settings.upload_dir == folder / "uploads"
    assert settings.roster_upload_dir == folder / "roster-uploads"
    assert settings.backup_dir == folder / "backups"
    assert len(settings.secret_key) >= 32
    rulebook = Rulebook.from_directory(settings.rules_dir)
    assert [r.version for r in rulebook.rulesets] == ["2025.1", "2026.1", "2026.2", "2027.1"]
    assert (folder / "rules" / "README.md").is_file()

    # A second init of the folder changes nothing; another folder gets another key.
    settings_file.write_text(text + "JIFEN_TOWN_NAME=青溪镇\n", encoding="utf-8")
    again = invoke(context, ["init", str(folder)])
    assert again.exit_code == 1
    assert f"{settings_file} exists already and is not overwritten" in again.output
    assert settings_file.read_text(encoding="utf-8").endswith("JIFEN_TOWN_NAME=青溪镇\n")
    other = tmp_path / "other"
    assert invoke(context, ["init", str(other)]).exit_code == 0
    monkeypatch.setenv("JIFEN_CONFIG", str(other / "jifen.env"))
    assert Settings().secret_key != settings.secret_key


def test_init_writes_the_town_and_public_url_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An automated install says the town and its address at init; production serves
    only with the address, so the file it writes must be enough to serve."""
    context = CliContext(Settings(env="test"))
    bad = invoke(context, ["init", str(tmp_path / "bad"), "--public-url", "jifen.example.org"])
    assert bad.exit_code == 1
    assert "--public-url: must be the absolute http:// or https:// address" in bad.output
    assert not (tmp_path / "bad" / "jifen.env").exists()

    folder = tmp_path / "qx"
    made = invoke(
        context,
        ["init", str(folder), "--town-name", "青溪镇", "--public-url", "https://jf.qx.example/"],
    )
    assert made.exit_code == 0, made.output
    for name in ("JIFEN_ENV", "JIFEN_SECRET_KEY", "JIFEN_DATABASE_URL", "JIFEN_ALLOWED_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JIFEN_CONFIG", str(folder / "jifen.env"))
    settings = Settings()
    assert settings.town_name == "青溪镇"
    assert settings.committee_name == "青溪镇党委"
    assert settings.public_url == "https://jf.qx.example"
    assert settings.allowed_hosts == ["jf.qx.example", "127.0.0.1"]
    assert settings.https and settings.trusted_proxy and settings.log_format == "json"
    assert serving_problems(settings) == []


def test_init_runs_while_jifen_config_names_the_file_it_makes(tmp_path: Path) -> None:
    """The README's alias sets JIFEN_CONFIG for every command, init included: init
    reads no settings, so the file not existing yet is no error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env["JIFEN_CONFIG"] = str(tmp_path / "srv" / "jifen.env")
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "init", str(tmp_path / "srv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "srv" / "jifen.env").is_file()


def test_a_missing_settings_file_stops_the_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env["JIFEN_CONFIG"] = str(tmp_path / "jifen.env")
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert f"JIFEN_CONFIG={tmp_path / 'jifen.env'}: no such settings file" in done.stderr
    assert "Traceback" not in done.stderr


# --- jifen setup --------------------------------------------------------------------------


def test_setup_creates_the_first_office_account_once(jifen: Any, database: Database) -> None:
    short = jifen("setup", "--username", "office", "--name", "镇党委组织办",
                  env={"JIFEN_SETUP_PASSWORD": "short"})  # fmt: skip
    assert short.exit_code == 1
    assert "password: Use at least 10 characters." in short.output
    common = jifen("setup", "--username", "office", "--name", "镇党委组织办",
                   env={"JIFEN_SETUP_PASSWORD": "password123"})  # fmt: skip
    assert common.exit_code == 1 and "most common" in common.output
    bad_name = jifen("setup", "--username", "办公室", "--name", "x",
                     env={"JIFEN_SETUP_PASSWORD": GOOD_PASSWORD})  # fmt: skip
    assert bad_name.exit_code == 1 and "username: Use 2 to 64 letters" in bad_name.output
    assert audit_kinds(database) == []  # nothing was made

    made = jifen("setup", "--username", "office", "--name", "镇党委组织办",
                 env={"JIFEN_SETUP_PASSWORD": GOOD_PASSWORD})  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "office account office created" in made.output
    assert "jifen serve" in made.output and "JIFEN_CLI_ACCOUNT=office" in made.output
    with database.transaction(write=False) as session:
        account = authenticate(session, "office", GOOD_PASSWORD)
        assert account is not None and account.display_name == "镇党委组织办"
        # The operator chose the password: no change is forced at first sign-in.
        assert not account.must_change_password
        roles = session.scalars(select(RoleGrant.role).where(RoleGrant.account_id == account.id))
        assert list(roles) == [Role.ADMIN]
    kinds = audit_kinds(database)
    assert ("account.setup", "office", None, "cli") in kinds
    assert ("account.create", "office", None, "cli") in kinds

    refused = jifen("setup", "--username", "second", "--name", "x",
                    env={"JIFEN_SETUP_PASSWORD": GOOD_PASSWORD})  # fmt: skip
    assert refused.exit_code == 1
    assert "an office account exists already" in refused.output
    # The office account now acts for the other commands, as the only admin.
    created = jifen("accounts", "create", "clerk", "--name", "文书")
    assert created.exit_code == 0, created.output
    with database.transaction(write=False) as session:
        count = session.scalar(select(Account.id).where(Account.username == "second"))
    assert count is None


def test_setup_needs_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    context = CliContext(Settings(env="production", database_url=url))
    refused = invoke(context, ["setup", "--username", "office", "--name", "办公室"],
                     env={"JIFEN_SETUP_PASSWORD": GOOD_PASSWORD})  # fmt: skip
    context.database().dispose()
    assert refused.exit_code == 1
    assert "the database has no schema yet: run 'jifen db upgrade' first" in refused.output


def test_setup_reads_the_password_from_stdin(jifen: Any, database: Database) -> None:
    made = jifen("setup", "--username", "office", "--name", "办公室", "--password-stdin",
                 input=GOOD_PASSWORD + "\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    with database.transaction(write=False) as session:
        assert authenticate(session, "office", GOOD_PASSWORD) is not None


def test_setup_asks_on_a_terminal_and_only_there(
    jifen: Any, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JIFEN_SETUP_PASSWORD", raising=False)
    # Not a terminal (a pipe, a script): nothing is asked, the missing part is named.
    no_password = jifen("setup", "--username", "office", "--name", "办公室")
    assert no_password.exit_code == 1
    assert "no password: set JIFEN_SETUP_PASSWORD or give --password-stdin" in no_password.output
    no_name = jifen("setup", "--username", "office", env={"JIFEN_SETUP_PASSWORD": GOOD_PASSWORD})
    assert no_name.exit_code == 1 and "give --name" in no_name.output

    monkeypatch.setattr("service.cli.first_run.stdin_is_terminal", lambda: True)
    # Username, name, then the password twice: mistyped once, so asked again.
    typed = f"office\n镇党委组织办\n{GOOD_PASSWORD}\nmistyped-password\n"
    typed += f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n"
    made = jifen("setup", input=typed)
    assert made.exit_code == 0, made.output
    assert "do not match" in made.output  # asked twice; a mismatch is asked again
    assert GOOD_PASSWORD not in made.output  # hidden
    with database.transaction(write=False) as session:
        account = authenticate(session, "office", GOOD_PASSWORD)
        assert account is not None and account.display_name == "镇党委组织办"


# --- JIFEN_CLI_ACCOUNT --------------------------------------------------------------------


def test_cli_account_acts_without_by(database: Database, town: SmallTown) -> None:
    with database.transaction() as session:
        second = Account(username="office2", password_hash="x", display_name="第二办公室")
        session.add(second)
        session.flush()
        session.add(RoleGrant(account_id=second.id, role=Role.ADMIN))

    def run(account: str | None, *args: str) -> Result:
        settings = Settings(env="test", cli_account=account)
        return invoke(CliContext(settings, database), list(args))

    # Two admins and no account named: as before, --by is asked for.
    unnamed = run(None, "branches", "create", "B101", "一支部", "--kind", "single")
    assert unnamed.exit_code == 1 and "--by USERNAME (2 admin accounts exist)" in unnamed.output

    made = run("office2", "branches", "create", "B101", "一支部", "--kind", "single")
    assert made.exit_code == 0, made.output
    by = run("office2", "branches", "create", "B102", "二支部", "--kind", "single",
             "--by", "admin")  # fmt: skip
    assert by.exit_code == 0, by.output
    with database.transaction(write=False) as session:
        actors = dict(
            session.execute(
                select(AuditEvent.summary, AuditEvent.actor_id).where(
                    AuditEvent.kind == "branch.create", AuditEvent.summary.like("%B10%")
                )
            ).all()
        )
    assert actors == {"一支部 B101": second_id(database), "二支部 B102": town.account_ids["admin"]}

    unknown = run("nobody", "branches", "list")
    assert unknown.exit_code == 1
    assert "JIFEN_CLI_ACCOUNT names no account: 'nobody'" in unknown.output
    member = run("member", "branches", "list")
    assert member.exit_code == 1
    assert "JIFEN_CLI_ACCOUNT: 'member' is not an active office (admin) account" in member.output


def second_id(database: Database) -> int:
    with database.transaction(write=False) as session:
        found = session.scalar(select(Account.id).where(Account.username == "office2"))
    assert found is not None
    return found


# --- db current, --version, backup, seeds -------------------------------------------------


def test_db_current_says_whether_the_schema_is_at_head(database: Database, tmp_path: Path) -> None:
    at_head = invoke(CliContext(Settings(env="test"), database), ["db", "current"])
    assert at_head.exit_code == 0
    assert at_head.output.strip() == f"revision {head_revision()} (head)"

    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    fresh = CliContext(Settings(env="test", database_url=url))
    empty = invoke(fresh, ["db", "current"])
    assert empty.exit_code == 1
    assert "no schema yet" in empty.output and "run 'jifen db upgrade'" in empty.output
    earlier = previous_revision()
    assert earlier is not None
    upgrade(fresh.database().engine, earlier)
    behind = invoke(fresh, ["db", "current"])
    assert behind.exit_code == 1
    assert f"revision {earlier}, behind head {head_revision()}" in behind.output
    fresh.database().dispose()


def test_version_comes_from_the_package_metadata() -> None:
    shown = CliRunner().invoke(main, ["--version"])
    assert shown.exit_code == 0
    assert shown.output.strip() == f"jifen, version {version('jifen')}"


def test_backup_without_a_file_goes_to_the_backup_dir(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'town.sqlite3'}"
    backups = tmp_path / "backups"
    context = CliContext(Settings(env="test", database_url=url, backup_dir=backups))
    upgrade(context.database().engine)
    done = invoke(context, ["backup"])
    assert done.exit_code == 0, done.output
    (made,) = backups.iterdir()
    assert made.name.startswith("jifen-") and made.suffix == ".sqlite3"
    assert str(made) in done.output
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    context.database().dispose()


def test_seed_demo_needs_the_source_checkout(database: Database, tmp_path: Path) -> None:
    settings = Settings(env="development", seeds_dir=tmp_path / "site-packages" / "seeds")
    refused = invoke(CliContext(settings, database), ["seed", "demo"])
    assert refused.exit_code == 1
    assert "needs Jifen's source checkout" in refused.output
    assert audit_kinds(database) == []
