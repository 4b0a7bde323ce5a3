"""The CI guard: a skipped test must fail the run when CI=true."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_skip_fails_the_run_in_ci(tmp_path: Path, project_root: Path) -> None:
    (tmp_path / "test_skipping.py").write_text(
        "import pytest\n\ndef test_skipped():\n    pytest.skip('browser missing')\n"
    )
    (tmp_path / "conftest.py").write_text(
        (project_root / "tests" / "conftest.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    env_ci = {"CI": "true", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(project_root)}
    in_ci = subprocess.run(command, env=env_ci, capture_output=True, text=True, check=False)
    locally = subprocess.run(
        command, env={**env_ci, "CI": ""}, capture_output=True, text=True, check=False
    )
    # make test runs the suite over pytest-xdist workers: the guard must see their skips.
    in_ci_workers = subprocess.run(
        [*command, "-n", "2"], env=env_ci, capture_output=True, text=True, check=False
    )
    assert in_ci.returncode == 1, in_ci.stdout
    assert "skipped test counts as a failure" in in_ci.stdout
    assert in_ci_workers.returncode == 1, in_ci_workers.stdout
    assert "skipped test counts as a failure" in in_ci_workers.stdout
    assert locally.returncode == 0, locally.stdout
