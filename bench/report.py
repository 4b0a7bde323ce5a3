"""The benchmark's table: one row per figure, each against a baseline of the same run."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from service.kernel.config import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
SCENARIO_NAMES = {
    "1": "ranking",
    "2": "http",
    "3": "approvals",
    "4": "publish",
    "5": "http",
    "6": "verify",
}


@dataclass
class Row:
    """One figure: what was measured, the same-run baseline it is divided by, and the
    target it is held to (``ok`` None: reported only)."""

    scenario: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "info"
        return "meets" if self.ok else "MISSES"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit == "%":
        return f"{value:.2f} %"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    if ratio < 0.01:
        return f"{ratio * 100:.3f} %"
    if ratio < 10:
        return f"{ratio * 100:.1f} %"
    return f"{ratio:.1f}×"


@dataclass
class Report:
    scale: str
    db: str
    started: str
    machine: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def table(self) -> Table:
        table = Table(title=f"Jifen bench · {self.scale} · {self.db} · {self.started}")
        for column, justify in (
            ("#", "left"),
            ("figure", "left"),
            ("value", "right"),
            ("baseline (same run)", "left"),
            ("ratio", "right"),
            ("target", "left"),
            ("", "left"),
        ):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for row in self.rows:
            baseline = (
                f"{row.baseline_name} {fmt(row.baseline, _baseline_unit(row))}".strip()
                if row.baseline_name
                else ""
            )
            table.add_row(
                row.scenario,
                row.name,
                fmt(row.value, row.unit),
                baseline,
                fmt_ratio(row.ratio),
                row.target,
                row.verdict,
            )
        return table

    def markdown(self) -> str:
        lines = [
            f"# Jifen bench: {self.scale} on {self.db}",
            "",
            f"Run {self.started}, {self.seconds:.0f} s. Ratios divide each figure by the "
            "baseline measured in the same run on the same machine (see bench/README.md).",
            "",
            "| # | figure | value | baseline (same run) | ratio | target | |",
            "|---|---|---:|---|---:|---|---|",
        ]
        for row in self.rows:
            baseline = (
                f"{row.baseline_name}: {fmt(row.baseline, _baseline_unit(row))}"
                if row.baseline_name
                else ""
            )
            lines.append(
                f"| {row.scenario} | {row.name} | {fmt(row.value, row.unit)} | {baseline} | "
                f"{fmt_ratio(row.ratio)} | {row.target} | {row.verdict} |"
            )
        notes = [row for row in self.rows if row.note]
        if notes or self.notes:
            lines += ["", "## Notes", ""]
            lines += [f"- {row.scenario} {row.name}: {row.note}" for row in notes]
            lines += [f"- {note}" for note in self.notes]
        lines += ["", "## Data", ""]
        lines += [f"- {key}: {_plain(value)}" for key, value in self.data.items()]
        lines += ["", "## Machine", ""]
        lines += [f"- {key}: {_plain(value)}" for key, value in self.machine.items()]
        return "\n".join(lines) + "\n"

    def merge(self, directory: Path = RESULTS_DIR) -> None:
        """Keep the rows of an earlier run of the same day, scale and database for the
        scenarios this run did not measure (``--merge``: one table from several runs)."""
        path = directory / f"{self.started[:10]}-{self.scale}-{self.db}.json"
        if not path.exists():
            return
        earlier = json.loads(path.read_text(encoding="utf-8"))
        measured = {row.scenario for row in self.rows}
        kept = [Row(**row) for row in earlier["rows"] if row["scenario"] not in measured]
        when = f"(run at {earlier['started'][11:]})"
        for row in kept:
            if "(run at " not in row.note:
                row.note = f"{row.note} {when}".strip()
        self.rows = sorted(kept + self.rows, key=lambda row: row.scenario)
        # Notes name their scenario first ("http: …"): those of a scenario run again go.
        names = {SCENARIO_NAMES[number] for number in measured if number in SCENARIO_NAMES}
        old_notes = [
            note if "(run at " in note else f"{note} {when}"
            for note in earlier["notes"]
            if note.split(":", 1)[0].split(" ", 1)[0] not in names
        ]
        self.notes = old_notes + self.notes
        self.data = earlier.get("data", {}) | self.data

    def write(self, directory: Path = RESULTS_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"{self.started[:10]}-{self.scale}-{self.db}"
        path = directory / f"{stem}.md"
        path.write_text(self.markdown(), encoding="utf-8")
        payload = asdict(self)
        (directory / f"{stem}.json").write_text(
            json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
        return path

    def print(self, console: Console | None = None) -> None:
        (console or Console()).print(self.table())


def _baseline_unit(row: Row) -> str:
    return row.unit if row.unit in ("ms", "s", "MB", "req/s") else ""


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --- the machine -------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def machine_info(database_version: str) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "database": database_version,
        "git": git_commit(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
