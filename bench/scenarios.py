"""The in-process scenarios: live ranking (1), approvals (3), publishing (4), the ledger
check (6). Each measures a figure and, in the same run, the baseline it is divided by."""

from __future__ import annotations

import multiprocessing
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from bench.generate import ADMIN_USERNAME, Generated
from bench.report import Report, Row
from service.accounts.principal import Principal, load_principal
from service.boards.board import BranchMetric, parse_board_period
from service.boards.branch_pages import branch_page
from service.boards.pages import (
    EXEMPT_PAGE_SIZE,
    board_counts,
    exempt_page,
    member_page,
    member_standing,
    ranked_members,
)
from service.database import open_database
from service.kernel.config import PROJECT_ROOT
from service.persistence.db import Database
from service.persistence.models import Account, Entry, EntryStatus, Member, PointsSummary
from service.persistence.pagination import page_bounds
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook

RAW_MONTH = (
    "SELECT member_id, SUM(points) AS points FROM ledger_line WHERE period = :period "
    "GROUP BY member_id ORDER BY points DESC"
)


def timed(function: Callable[[], Any], repeat: int, *, warmup: int = 1) -> list[float]:
    """Seconds per call, ``repeat`` calls after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def admin_principal(session: Session) -> Principal:
    account_id = session.scalar(select(Account.id).where(Account.username == ADMIN_USERNAME))
    assert account_id is not None, "no bench admin: generate the data first"
    principal = load_principal(session, account_id)
    assert principal is not None
    return principal


@dataclass(frozen=True)
class Subjects:
    """Whom the ranking figures are about: a member in the middle of the town board of
    the current month, and that member's branch."""

    member_id: int
    branch_id: int


def pick_subjects(session: Session, period: str) -> Subjects:
    totals = session.execute(
        select(PointsSummary.member_id, func.sum(PointsSummary.points).label("p"))
        .where(PointsSummary.period == period)
        .group_by(PointsSummary.member_id)
        .order_by(func.sum(PointsSummary.points).desc(), PointsSummary.member_id)
    ).all()
    assert totals, f"no points in {period}"
    member_id = totals[len(totals) // 2][0]
    branch_id = session.scalar(select(Member.branch_id).where(Member.id == member_id))
    assert branch_id is not None
    return Subjects(member_id, branch_id)


# --- 1. live ranking ---------------------------------------------------------------------

RankingOp = Callable[[Session, str, Subjects], Any]


def _town_top(session: Session, period: str, who: Subjects) -> Any:
    return ranked_members(session, period, 0, 49)


def _town_page(session: Session, period: str, who: Subjects) -> Any:
    """What the board page reads: its 50 lines and its counts."""
    return member_page(session, period, 1)


def _exempt_page(session: Session, period: str, who: Subjects) -> Any:
    """A page of the exempt members with points (the middle one: an offset to skip)."""
    count = board_counts(session, parse_board_period(period).key).exempt
    middle = page_bounds(count, 1, EXEMPT_PAGE_SIZE)[0] // 2 + 1
    return exempt_page(session, period, middle)


def _town_rank(session: Session, period: str, who: Subjects) -> Any:
    return member_standing(session, period, who.member_id)


def _branch_top(session: Session, period: str, who: Subjects) -> Any:
    return member_page(session, period, 1, branch_id=who.branch_id).rows


def _branch_rank(session: Session, period: str, who: Subjects) -> Any:
    return member_standing(session, period, who.member_id, branch_id=who.branch_id)


def _branches_top(session: Session, period: str, who: Subjects) -> Any:
    return branch_page(session, period, BranchMetric.PER_MEMBER, 1, other_ranks=False).rows


RANKING_OPS: dict[str, RankingOp] = {
    "town top 50": _town_top,
    "a member's town rank": _town_rank,
    "branch top 50": _branch_top,
    "a member's branch rank": _branch_rank,
    "branches top 50 (per member)": _branches_top,
}


def ranking(report: Report, database: Database, data: Generated, *, repeat: int) -> None:
    period = data.current_period
    with database.transaction(write=False) as session:
        who = pick_subjects(session, period)

        def raw() -> Any:
            return session.execute(text(RAW_MONTH), {"period": period}).all()

        raw_rows = len(raw())
        raw_times = timed(raw, max(3, repeat // 10))
        baseline = median(raw_times) * 1000
        total = 0.0
        for name, op in RANKING_OPS.items():
            times = timed(lambda op=op: op(session, period, who), repeat)  # type: ignore[misc]
            value = median(times) * 1000
            total += value
            report.add(
                Row("1", f"ranking: {name}", value, "ms", "raw month SUM … GROUP BY", baseline,
                    value / baseline)
            )  # fmt: skip
        times = timed(lambda: _town_page(session, period, who), repeat)
        value = median(times) * 1000
        exempt = _town_page(session, period, who).exempt_members
        report.add(
            Row("1", "board page read: top 50, counts", value, "ms",
                "raw month SUM … GROUP BY", baseline, value / baseline, "", None,
                f"not in the sum below; the {exempt:,} exempt members with points "
                "(unranked) are on pages of their own, the board page only counts them")
        )  # fmt: skip
        times = timed(lambda: _exempt_page(session, period, who), repeat)
        value = median(times) * 1000
        report.add(
            Row("1", f"exempt page read: {EXEMPT_PAGE_SIZE} of them, by number",
                value, "ms", "raw month SUM … GROUP BY", baseline, value / baseline, "",
                None, "not in the sum below: /boards/PERIOD/exempt?page=N, the middle page")
        )  # fmt: skip
    sqlite_city = report.db == "sqlite" and report.scale == "city"
    limit = "≤ 1 % of raw" + (", ≤ 10 ms" if sqlite_city else "")
    ok = total / baseline <= 0.01 and (total <= 10 or not sqlite_city)
    report.add(
        Row("1", "ranking: all five above", total, "ms", "raw month SUM … GROUP BY", baseline,
            total / baseline, limit, ok,
            f"{period}, median of {repeat} calls each; the raw query reads {raw_rows:,} "
            "members' sums from the month's ledger lines")
    )  # fmt: skip


# --- 4. publishing a month ---------------------------------------------------------------


def publishing(report: Report, database: Database, data: Generated, rulebook: Rulebook) -> None:
    from service.publication.state import published_periods

    with database.transaction(write=False) as session:
        done = published_periods(session)
    # The month before the current one; on data reused after a run, the latest complete
    # month not published yet.
    candidates = [p for p in reversed(data.periods[:-1]) if p not in done]
    if not candidates:
        report.notes.append("publish: every complete month is published; regenerate the data")
        return
    period = candidates[0]
    with database.transaction(write=False) as session:
        started = time.perf_counter()
        session.execute(text(RAW_MONTH), {"period": period}).all()
        baseline = time.perf_counter() - started
    started = time.perf_counter()
    with database.transaction() as session:
        admin = admin_principal(session)
        publication = publish_month(session, admin, rulebook, period, now=utcnow())
        rows = publication.id
    seconds = time.perf_counter() - started
    limit = {"sqlite": 10.0, "postgresql": 60.0}[report.db]
    scale_target = (report.db, report.scale) in {("sqlite", "city"), ("postgresql", "province")}
    with database.transaction(write=False) as session:
        from service.persistence.models import PublishedMemberRow

        stored = session.scalar(
            select(func.count()).where(PublishedMemberRow.publication_id == rows)
        )
    report.add(
        Row("4", f"publish {period}", seconds, "s", "raw month SUM … GROUP BY", baseline,
            seconds / baseline, f"≤ {limit:.0f} s" if scale_target else "",
            seconds <= limit if scale_target else None,
            f"{stored:,} member lines stored, digest chained")
    )  # fmt: skip


# --- 3. approvals under concurrent reviewers ----------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    latencies: list[float]
    errors: dict[str, int]
    seconds: float

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.5) * 1000

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95) * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def _reviewer_process(
    url: str,
    kind: str,
    jobs: list[list[int]],
    think: float,
    duration: float,
    seed: int,
    out: Any,
    serialize: bool = False,
) -> None:
    """One worker process: a thread per reviewer, like a web worker's thread pool.
    ``serialize``: the threads take turns for write transactions (an experiment: what
    an in-process writer queue in front of SQLite's lock would give)."""
    database = open_database(url)
    rulebook = Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")
    with database.transaction(write=False) as session:
        admin = admin_principal(session)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    writer = threading.Lock() if serialize else None
    deadline = time.perf_counter() + duration

    def reviewer(index: int, work: list[int]) -> None:
        rng = random.Random(seed * 1000 + index)
        for item in work:
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            if writer is not None:
                writer.acquire()
            try:
                with database.transaction() as session:
                    if kind == "approve":
                        _approve(session, admin, rulebook, item)
                    else:
                        session.execute(
                            text("UPDATE account SET last_login_at = :now WHERE id = :id"),
                            {"now": utcnow().replace(tzinfo=None), "id": item},
                        )
            except (OperationalError, DBAPIError) as exc:
                message = str(exc.orig if hasattr(exc, "orig") else exc).split("\n")[0][:60]
                with lock:
                    errors[message] = errors.get(message, 0) + 1
                continue
            finally:
                if writer is not None:
                    writer.release()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
            if think:
                time.sleep(rng.uniform(0, 2 * think))

    threads = [
        threading.Thread(target=reviewer, args=(index, work)) for index, work in enumerate(jobs)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((latencies, errors, time.perf_counter() - started))
    database.dispose()


def _approve(session: Session, actor: Principal, rulebook: Rulebook, entry: int) -> None:
    from service.entries.review import approve_entry

    approve_entry(session, actor, rulebook, entry, now=utcnow())


def concurrent(
    url: str,
    kind: str,
    jobs: list[list[int]],
    *,
    processes: int,
    think: float,
    duration: float,
    serialize: bool = False,
) -> LoadResult:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    shares = [jobs[index::processes] for index in range(processes)]
    workers = [
        context.Process(
            target=_reviewer_process,
            args=(url, kind, share, think, duration, index, queue, serialize),
        )
        for index, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    seconds = 0.0
    for _ in workers:
        part, errs, elapsed = queue.get()
        latencies += part
        for key, count in errs.items():
            errors[key] = errors.get(key, 0) + count
        seconds = max(seconds, elapsed)
    for worker in workers:
        worker.join()
    return LoadResult(latencies, errors, seconds)


def approvals(
    report: Report,
    database: Database,
    data: Generated,
    *,
    reviewers: int,
    processes: int,
    think: float,
    duration: float,
) -> None:
    with database.transaction(write=False) as session:
        pending = list(
            session.scalars(
                select(Entry.id)
                .where(Entry.status == EntryStatus.PENDING)
                .order_by(Entry.submitted_at, Entry.id)
            )
        )
        accounts = list(session.scalars(select(Account.id).order_by(Account.id).limit(reviewers)))
    if len(pending) < reviewers:
        report.notes.append("approvals: not enough pending entries left; regenerate the data")
        return
    # Each reviewer works through entries of their own: nobody decides an entry twice.
    queues = [pending[index::reviewers] for index in range(reviewers)]
    half = [queue[: len(queue) // 3] for queue in queues]
    queued = [queue[len(queue) // 3 : 2 * len(queue) // 3] for queue in queues]
    rest = [queue[2 * len(queue) // 3 :] for queue in queues]
    writes = [[account] * 10_000 for account in accounts]
    baseline = concurrent(
        database_url(database), "write", writes, processes=processes, think=think,
        duration=3 * duration,
    )  # fmt: skip
    # At a human pace each reviewer decides a few entries a run: three runs' length.
    result = concurrent(
        database_url(database), "approve", half, processes=processes, think=think,
        duration=3 * duration,
    )  # fmt: skip
    lock_errors = sum(result.errors.values())
    report.add(
        Row("3", f"approve: p95, {reviewers} reviewers, a pause of ~{think:.0f} s each",
            result.p95, "ms",
            "p95 of a one-row write, same load", baseline.p95, result.p95 / baseline.p95,
            "≤ 20 ms", result.p95 <= 20 and lock_errors == 0,
            f"{len(result.latencies):,} approvals in {result.seconds:.0f} s "
            f"({result.rate:.0f}/s), p50 {result.p50:.1f} ms; {processes} processes × "
            f"{reviewers // processes} threads; errors: {result.errors or 'none'}")
    )  # fmt: skip
    report.add(
        Row("3", "approve: lock errors", float(lock_errors), "", "", None, None, "0",
            lock_errors == 0)
    )  # fmt: skip
    saturated = concurrent(
        database_url(database), "approve", rest, processes=processes, think=0.0,
        duration=duration / 2,
    )  # fmt: skip
    report.add(
        Row("3", f"approve: throughput, {reviewers} reviewers, no pause", saturated.rate,
            "/s", "", None, None, "", None,
            f"p50 {saturated.p50:.1f} ms, p95 {saturated.p95:.1f} ms; errors: "
            f"{saturated.errors or 'none'}: the most approvals one database takes")
    )  # fmt: skip
    if report.db == "sqlite":
        # An experiment, not the app's path: SQLite's busy handler makes a waiting writer
        # poll with sleeps of up to 100 ms; writers queued in-process wake up at once.
        experiment = concurrent(
            database_url(database), "approve", queued, processes=processes, think=0.0,
            duration=duration / 2, serialize=True,
        )  # fmt: skip
        report.add(
            Row("3", "approve: no pause, writers queued in-process (experiment)",
                experiment.rate, "/s", "", None, None, "", None,
                f"p50 {experiment.p50:.1f} ms, p95 {experiment.p95:.1f} ms: one lock per "
                "process around write transactions, as the Database could take on SQLite")
        )  # fmt: skip


def database_url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


# --- 6. the ledger check -------------------------------------------------------------------


def verify(report: Report, url: str, *, timeout: float) -> None:
    database = open_database(url)
    try:
        with database.transaction(write=False) as session:
            started = time.perf_counter()
            lines = session.execute(
                text("SELECT member_id, activity_key, points FROM ledger_line")
            ).all()
            baseline = time.perf_counter() - started
    finally:
        database.dispose()
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", "ledger", "verify"],
            env={**_env(), "JIFEN_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        report.add(
            Row("6", "jifen ledger verify", timeout, "s", "read every ledger line", baseline,
                timeout / baseline, "report", None, f"stopped after {timeout:.0f} s")
        )  # fmt: skip
        return
    seconds = time.perf_counter() - started
    output = (done.stdout + done.stderr).strip().splitlines()
    verdict = output[-1] if output else ""
    report.add(
        Row("6", "jifen ledger verify", seconds, "s", "read every ledger line", baseline,
            seconds / baseline, "report", None,
            f"{len(lines):,} ledger lines, {len(lines) / seconds:,.0f} lines/s; "
            f"exit {done.returncode}: {verdict}; {output[0] if output else ''}")
    )  # fmt: skip


def _env() -> dict[str, str]:
    import os

    env = {key: value for key, value in os.environ.items() if not key.startswith("JIFEN_")}
    # The CLI output the bench parses is the English one, whatever the shell's language.
    env["LANG"] = "C.UTF-8"
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        env.pop(name, None)
    return env
