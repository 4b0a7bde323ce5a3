"""``jifen backup --keep N`` as the nightly timer runs it (deploy/systemd/jifen-backup.service):
after writing the new backup it deletes the oldest backups in the same folder so that N
remain, and never a file that is not a backup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.persistence.db import Database
from tests.conftest import SmallTown
from tests.live_server import process_database_url, process_env, run_jifen

# The backup is taken by another process: the town must be committed.
pytestmark = pytest.mark.commits


def test_keep_deletes_the_oldest_backups_and_nothing_else(
    database: Database, town: SmallTown, tmp_path: Path
) -> None:
    env = process_env(process_database_url(database))
    folder = tmp_path / "backups"
    folder.mkdir()
    notes = folder / "README.txt"
    notes.write_text("the office's notes about these backups\n", encoding="utf-8")
    names = ["jifen-20261201.backup", "jifen-20261202.backup", "jifen-20261203.backup"]
    for night, name in enumerate(names):
        made = run_jifen(["backup", "--keep", "2", str(folder / name)], env)
        assert made.returncode == 0, made.stdout + made.stderr
        # One night apart, as the timer makes them (the order is by modification time).
        stamp = 1_700_000_000 + night * 86_400
        os.utime(folder / name, (stamp, stamp))
        os.utime(notes, (stamp + 1, stamp + 1))  # newer than any backup: still not one

    assert sorted(path.name for path in folder.iterdir()) == [
        "README.txt",
        "jifen-20261202.backup",
        "jifen-20261203.backup",
    ]
    assert notes.read_text(encoding="utf-8").startswith("the office's notes")
    assert f"deleted the older backup {folder / names[0]}" in made.stdout

    # What is kept is the two newest backups, whole (SQLite file or pg_dump archive).
    for name in names[1:]:
        assert (folder / name).read_bytes()[:5] in (b"SQLit", b"PGDMP")


def test_keep_must_keep_the_new_backup(database: Database, tmp_path: Path) -> None:
    env = process_env(process_database_url(database))
    refused = run_jifen(["backup", "--keep", "0", str(tmp_path / "b.backup")], env)
    assert refused.returncode == 2
    assert "--keep" in refused.stderr
    assert not (tmp_path / "b.backup").exists()
