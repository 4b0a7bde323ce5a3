"""``make bench``: generate a town, a city or a province, measure every scenario against a
baseline of the same run, print one table and write it to bench/results/.

    python -m bench.run --scale city --db sqlite --duration 10
    python -m bench.run --scale province --db postgresql --only ranking,publish,http
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from rich.console import Console

from bench import http, scenarios
from bench import meetings as bench_meetings
from bench.generate import SCALES, Generated, default_url, generate, load_stats
from bench.report import Report, Row, machine_info, now_text
from service.accounts.sessions import start_session
from service.database import open_database
from service.kernel.config import PROJECT_ROOT
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.models import Account
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook

SCENARIOS = ("ranking", "publish", "http", "approvals", "verify", "meetings")
console = Console(width=200)


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def database_version(database: Database) -> str:
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            return f"SQLite {connection.exec_driver_sql('select sqlite_version()').scalar()}"
        version = str(connection.exec_driver_sql("show server_version").scalar())
        return f"PostgreSQL {version}"


def reused(scale: str, url: str) -> Generated:
    """The data already at ``url`` (``--reuse``), described as the generator would."""
    today = town_today(utcnow(), "Asia/Shanghai")
    current = period_of(today)
    months = SCALES[scale].months
    periods = [shift_period(current, -back) for back in range(months - 1, -1, -1)]
    return Generated(SCALES[scale], url, today, periods)


def session_cookie(database: Database, member_id: int) -> str:
    with database.transaction() as session:
        account = session.query(Account).filter(Account.member_id == member_id).one()
        token = start_session(session, account, now=utcnow(), user_agent="bench")
    return f"jifen_session={token}"


def http_scenarios(
    report: Report,
    database: Database,
    data: Generated,
    *,
    workers: int,
    connections: int,
    duration: float,
) -> None:
    if not http.have_wrk():
        report.notes.append("http: wrk is not installed (apt-get install wrk); skipped")
        return
    with database.transaction(write=False) as session:
        who = scenarios.pick_subjects(session, data.current_period)
    cookie = session_cookie(database, who.member_id)
    pages = {
        "trivial page (/healthz)": "/healthz",
        f"published board (/boards/{data.previous_period})": f"/boards/{data.previous_period}",
        f"live board (/boards/{data.current_period})": f"/boards/{data.current_period}",
    }
    extra = {
        f"published branches (/boards/{data.previous_period}/branches)": (
            f"/boards/{data.previous_period}/branches"
        ),
        f"live branches (/boards/{data.current_period}/branches)": (
            f"/boards/{data.current_period}/branches"
        ),
        f"live branch page (/boards/{data.current_period}/branches/{who.branch_id})": (
            f"/boards/{data.current_period}/branches/{who.branch_id}"
        ),
        # The exempt members with points, on pages of their own (100 a page).
        f"published exempt page (/boards/{data.previous_period}/exempt?page=5)": (
            f"/boards/{data.previous_period}/exempt?page=5"
        ),
        f"live exempt page (/boards/{data.current_period}/exempt?page=5)": (
            f"/boards/{data.current_period}/exempt?page=5"
        ),
    }
    if report.scale == "province":
        # A branches page draws the town's points by rule group from the span's summary
        # rows: millions at this scale, minutes a view (see README, what is left).
        report.notes.append("http: branches pages not measured at province scale")
        extra = {}
    results: dict[int, dict[str, http.Load]] = {}
    for count in sorted({workers, 1}, reverse=True):
        log(f"http: starting uvicorn with {count} worker(s)")
        first = count == workers
        chosen = {**pages, **extra} if first else dict(list(pages.items())[:2])
        with http.running_server(database_url(database), count) as server:
            if first:
                for path in chosen.values():
                    status, body = http.fetch(server, path, cookie)
                    if status != 200:
                        raise RuntimeError(f"{path} answered {status}: {body[:300]}")
            idle = server.rss_kb()
            # Warm every worker up: the first view of a published month in a worker
            # re-checks its digest over every stored line (then for STORED_CHECK_SECONDS
            # not again); it is reported apart, not mixed into the steady state.
            started = time.perf_counter()
            while time.perf_counter() - started < 900:
                load = http.wrk(
                    server, pages_list(pages)[1], cookie, connections=2 * count, duration=2
                )
                if load.requests > 4 * count and load.p95 < 1000:
                    break
            warm = time.perf_counter() - started
            report.notes.append(
                f"http: first views of the published month on {count} worker(s) (its digest "
                f"re-checked once per worker): {warm:.1f} s of warm-up before measuring"
            )
            loads: dict[str, http.Load] = {}
            with http.MemoryWatch(server) as watch:
                for name, path in chosen.items():
                    log(f"http: {name}, {connections} connections, {duration:.0f} s")
                    try:
                        loads[name] = http.wrk(
                            server, path, cookie, connections=connections, duration=duration
                        )
                    except (subprocess.CalledProcessError, StopIteration) as exc:
                        report.notes.append(f"http {name}: wrk failed: {exc}")
            results[count] = loads
            if first:
                peak_mb = max(watch.peak.values()) / 1024 if watch.peak else 0.0
                idle_mb = max(idle.values()) / 1024 if idle else 0.0
                city = report.scale == "city"
                report.add(
                    Row("5", f"peak RSS per worker under load ({count} workers)", peak_mb, "MB",
                        "the worker after start-up", idle_mb,
                        peak_mb / idle_mb if idle_mb else None,
                        "≤ 200 MB" if city else "", peak_mb <= 200 if city else None,
                        "peaks: " + ", ".join(f"{kb / 1024:.0f} MB" for kb in
                                              sorted(watch.peak.values())))
                )  # fmt: skip
                _http_rows(report, loads, pages, extra, workers, connections)
    if 1 in results and workers != 1:
        main, one = results[workers], results[1]
        for name in list(pages)[:2]:
            if name in main and name in one:
                report.add(
                    Row("2", f"{name}: {workers} workers against 1", main[name].rate, "req/s",
                        "1 worker", one[name].rate, ratio(main[name].rate, one[name].rate),
                        "", None, "how the app scales with processes over one database")
                )  # fmt: skip


def _http_rows(
    report: Report,
    main: dict[str, http.Load],
    pages: dict[str, str],
    extra: dict[str, str],
    workers: int,
    connections: int,
) -> None:
    names = list(pages)
    if not all(name in main for name in names):
        return
    trivial, published, live = (main[name] for name in names)
    for name, load in main.items():
        if load.errors or load.non_2xx:
            report.notes.append(f"http {name}: {load.errors} socket errors, {load.non_2xx} non-2xx")
    report.add(
        Row("2", f"{names[0]}: throughput", trivial.rate, "req/s", "", None, None, "", None,
            f"p50 {trivial.p50:.1f} ms, p95 {trivial.p95:.1f} ms; {workers} workers, "
            f"{connections} connections, wrk on loopback; the session cookie of a member")
    )  # fmt: skip
    report.add(
        Row("2", f"{names[1]}: throughput", published.rate, "req/s", "trivial page",
            trivial.rate, ratio(published.rate, trivial.rate), "≥ 50 % of trivial",
            published.rate >= 0.5 * trivial.rate,
            f"p50 {published.p50:.1f} ms, p95 {published.p95:.1f} ms")
    )  # fmt: skip
    report.add(
        Row("2", f"{names[2]}: p95 latency", live.p95, "ms", "trivial page p95", trivial.p95,
            ratio(live.p95, trivial.p95),
            f"≤ 50 ms at {connections} connections", live.p95 <= 50,
            f"{live.rate:.0f} req/s ({(ratio(live.rate, trivial.rate) or 0) * 100:.0f} % of "
            "trivial), "
            f"p50 {live.p50:.1f} ms")
    )  # fmt: skip
    for name in extra:
        if name not in main:
            continue
        load = main[name]
        report.add(
            Row("2", f"{name}: throughput", load.rate, "req/s", "trivial page", trivial.rate,
                ratio(load.rate, trivial.rate), "", None,
                f"p50 {load.p50:.1f} ms, p95 {load.p95:.1f} ms")
        )  # fmt: skip


def pages_list(pages: dict[str, str]) -> list[str]:
    return list(pages.values())


def ratio(value: float, baseline: float) -> float | None:
    return value / baseline if baseline else None


def database_url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=["tiny", "town", "city", "province"], default="city")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", help="database URL (default: bench/data/SCALE.sqlite3, or "
                        "the jifen_bench database on the local PostgreSQL)")  # fmt: skip
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds per load run (HTTP, approvals)")  # fmt: skip
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios of: {', '.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--reuse", action="store_true",
                        help="measure the data already in the database")  # fmt: skip
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--think", type=float, default=5.0,
                        help="a reviewer's mean pause between two approvals, seconds "
                        "(uniform from 0 to twice this)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=50, help="calls per ranking figure")
    parser.add_argument("--verify-timeout", type=float, default=1800.0)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--merge", action="store_true",
                        help="keep an earlier run's rows (same day, scale, database) for the "
                        "scenarios not measured now")  # fmt: skip
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    url = args.url or default_url(args.scale, args.db)
    started = time.perf_counter()
    if args.reuse:
        data = load_stats(url) or reused(args.scale, url)
    else:
        log(f"generating {args.scale} into {url}")
        data = generate(args.scale, url, progress=lambda message: log(f"  {message}"))
        log(f"generated in {data.seconds:.1f} s")
    database = open_database(url)
    rulebook = Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")
    report = Report(args.scale, args.db, now_text(), machine_info(database_version(database)))
    report.data = {
        "scale": data.scale.note,
        "months": f"{data.periods[0]} to {data.periods[-1]} (current month up to yesterday)",
        **data.counts,
    }
    if data.seconds:
        report.add(
            Row("0", "generate the data (bulk inserts)", data.seconds, "s", "", None, None,
                "", None, ", ".join(f"{k} {v:.0f} s" for k, v in data.steps.items())
                + (" (generated before this run)" if args.reuse else ""))
        )  # fmt: skip
    steps: list[tuple[str, Callable[[], None]]] = [
        ("ranking", lambda: scenarios.ranking(report, database, data, repeat=args.repeat)),
        ("publish", lambda: scenarios.publishing(report, database, data, rulebook)),
        ("http", lambda: http_scenarios(
            report, database, data, workers=args.workers, connections=args.connections,
            duration=args.duration,
        )),
        ("approvals", lambda: scenarios.approvals(
            report, database, data, reviewers=args.reviewers, processes=args.workers,
            think=args.think, duration=args.duration,
        )),
        ("verify", lambda: scenarios.verify(report, url, timeout=args.verify_timeout)),
        # Last: it adds a year of meetings to the data (and rebuilds the board totals).
        ("meetings", lambda: bench_meetings.meetings(report, database, data, rulebook)),
    ]  # fmt: skip
    try:
        for name, step in steps:
            if name not in only:
                continue
            log(name)
            try:
                step()
            except Exception as exc:  # a failed scenario is reported, the others still run
                console.print_exception()
                report.notes.append(f"{name}: failed: {type(exc).__name__}: {exc}")
    finally:
        database.dispose()
    report.machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report.seconds = time.perf_counter() - started
    if args.merge:
        report.merge()
    report.print(console)
    if not args.no_write:
        path = report.write()
        log(f"written to {path.relative_to(PROJECT_ROOT)}")
    missed = [row for row in report.rows if row.ok is False]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
