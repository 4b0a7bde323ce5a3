"""The wheel runs with nothing from the source tree: it holds the sample rulesets, the
templates, the translations and the migrations; unpacked outside the checkout, its
settings find the shipped rules and keep data out of site-packages, and `jifen
--version` and `jifen rules check` work from it.

Built with pip (``pip wheel --no-deps``, setuptools from the build isolation) from a copy
of the files the wheel is made of, so parallel workers never share a build folder. A
full install into a fresh virtual environment is the operator test's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import PROJECT_ROOT

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "service", "web", "scoring_rules")

PROBE = """
import json, service
from service.kernel.config import Settings, is_source_checkout
settings = Settings()
print(json.dumps({
    "service": service.__file__,
    "checkout": is_source_checkout(),
    "rules_dir": str(settings.rules_dir),
    "rules": sorted(p.name for p in settings.rules_dir.glob("*.toml")),
    "database_url": settings.database_url,
    "upload_dir": str(settings.upload_dir),
    "backup_dir": str(settings.backup_dir),
}))
"""


def _build(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("jifen-*.whl")
    return wheel


def _source_files(folder: str, pattern: str) -> set[str]:
    return {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in (PROJECT_ROOT / folder).glob(pattern)
        if "__pycache__" not in path.parts
    }


def test_the_wheel_runs_outside_the_checkout(tmp_path: Path) -> None:
    wheel = _build(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    for folder, pattern in [
        ("scoring_rules", "*.toml"),
        ("scoring_rules", "README.md"),
        ("web/templates", "**/*.html"),
        ("web/translations", "*/LC_MESSAGES/*.po"),
        ("web/static", "*"),
        ("service/persistence/migrations", "versions/*.py"),
        ("service/accounts/data", "*.txt"),
    ]:
        wanted = _source_files(folder, pattern)
        assert wanted, (folder, pattern)
        assert wanted <= names, sorted(wanted - names)
    assert not any(name.startswith(("seeds/", "tests/", "bench/")) for name in names)
    assert b"License-Expression: Apache-2.0" in metadata
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)

    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env["PYTHONPATH"] = str(site)

    def python(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    probe = python("-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    # The unpacked wheel, not the checkout, answered.
    assert Path(found["service"]).is_relative_to(site)
    assert found["checkout"] is False
    assert found["rules_dir"] == str(site / "scoring_rules")
    assert found["rules"] == ["2025.1.toml", "2026.1.toml", "2026.2.toml", "2027.1.toml"]
    # Data in var/ of the current directory, never in site-packages.
    assert found["database_url"] == f"sqlite:///{elsewhere / 'var' / 'jifen.sqlite3'}"
    assert found["upload_dir"] == str(elsewhere / "var" / "uploads")
    assert found["backup_dir"] == str(elsewhere / "var" / "backups")

    shown = python("-m", "service.cli", "--version")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "jifen, version 0.1.0"
    checked = python("-m", "service.cli", "rules", "check")
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout + checked.stderr
    # The demo town is the checkout's: the installed copy says so.
    seeded = python("-m", "service.cli", "seed", "demo")
    assert seeded.returncode == 1
    assert "needs Jifen's source checkout" in seeded.stderr
    assert not (elsewhere / "var").exists() or not any((elsewhere / "var").iterdir())
