"""Benchmark data, fast: a town, a city or a province written with bulk inserts.

The schema is the real one (Alembic migrations, ``service.persistence.migrate``); the rows are
written with the drivers' bulk paths: ``executemany`` on one SQLite connection with
load-time PRAGMAs, ``COPY`` on PostgreSQL, secondary indexes dropped during the load and
built again afterwards. Nothing goes through the ORM.

The ledger is written as the engine would have written it once every approval is in:
one award line per counted activity (entry, suggestion step, deduction) with its points
after caps. Caps are applied here with integer tenths in activity-date order, the order
``service.scoring.engine`` uses; the point values, units and caps come from the rule
files through ``Rulebook``, so the data follows the rules in force. The summary table and
the board totals are then built from the ledger in SQL. ``jifen ledger verify`` finds no
difference on the result (``tests/integration/test_bench_smoke.py`` checks it at a tiny
scale on each database).

Dates follow the real clock: the history ends yesterday in the town's time zone, so the
current month is the app's current month, and the month before is complete (no pending
entry) and can be published.
"""

from __future__ import annotations

import argparse
import calendar
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from service.accounts.passwords import hash_password
from service.database import open_database
from service.kernel.config import PROJECT_ROOT
from service.kernel.periods import period_of, town_today
from service.persistence.migrate import upgrade
from service.persistence.types import utcnow
from service.scoring.engine import entry_points
from service.scoring.points import to_tenths
from service.scoring.rules import Rule, Rulebook, RuleGroup

BENCH_PASSWORD = "bench-password-2026"
ADMIN_USERNAME = "bench-admin"
DATA_DIR = PROJECT_ROOT / "bench" / "data"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/jifen_bench"
TIMEZONE = "Asia/Shanghai"
UTC_OFFSET_MINUTES = 8 * 60  # Asia/Shanghai has no daylight saving time
DAY_OPENS = 8 * 60
DAY_CLOSES = 21 * 60
CHUNK = 200_000  # rows held in memory before they are written

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国红梅玉兰春燕志强文斌海波晓东"

# Rule mix of entries (ids missing from a ruleset are skipped for its months).
RULE_WEIGHTS = {
    "org_life": 30,
    "study": 15,
    "theme_day": 8,
    "volunteer": 15,
    "good_deed": 15,
    "suggestion": 7,
    "care": 10,
}
DEDUCTION_SHARE = 0.004  # deductions per member and month
ADOPTED_SHARE = 0.15  # approved suggestions later adopted
IMPLEMENTED_SHARE = 0.4  # adopted suggestions later implemented
REJECTED_SHARE = 0.02
WITHDRAWN_SHARE = 0.005
VOLUNTEER_TENTHS = (10, 20, 20, 30, 25, 40, 15, 80)
# Members' activity: (share of members, mean entries per month); the mean is scaled to
# the scale's rate.
ACTIVITY_CLASSES = ((0.12, 0.0), (0.30, 1.5), (0.40, 5.0), (0.18, 10.0))
DESCRIPTIONS = {
    "org_life": "参加支部三会一课",
    "study": "参加学习教育专题学习",
    "theme_day": "参加主题党日活动",
    "volunteer": "社区志愿服务",
    "good_deed": "为群众办实事",
    "suggestion": "就园区道路照明提出建议",
    "care": "看望慰问困难职工",
}


@dataclass(frozen=True)
class Scale:
    name: str
    members: int
    branches: int
    months: int  # months of history, ending with the current month
    per_member_month: float  # entries per member and month
    pending: int  # pending entries left in the current month (the approval scenario)
    note: str = ""


SCALES = {
    "tiny": Scale("tiny", 150, 30, 3, 4.2, 40, "smoke test"),
    "town": Scale("town", 1_200, 268, 12, 4.2, 300, "a town: 1,200 members"),
    "city": Scale(
        "city", 100_000, 20_000, 12, 4.2, 5_000, "a city: 100,000 members, ~5M entries a year"
    ),
    "province": Scale(
        "province",
        2_000_000,
        400_000,
        2,
        4.2,
        20_000,
        "a province: 2,000,000 members; the current month and the one before",
    ),
}


@dataclass
class Generated:
    scale: Scale
    url: str
    today: date
    periods: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def current_period(self) -> str:
        return self.periods[-1]

    @property
    def previous_period(self) -> str:
        return self.periods[-2]


# --- where rows go ------------------------------------------------------------------


class Sink(Protocol):
    dialect: str

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int: ...

    def execute(self, sql: str) -> None: ...

    def scalar(self, sql: str) -> Any: ...

    def begin(self, tables: Sequence[str]) -> None: ...

    def finish(self, tables: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class SqliteSink:
    """One connection, one transaction, no journal while loading: a crash leaves a
    database to throw away, which is what a benchmark's data is."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "foreign_keys=OFF",
            "locking_mode=EXCLUSIVE",
            "temp_store=MEMORY",
            "cache_size=-1000000",
            "threads=4",  # CREATE INDEX sorts with helper threads
        ):
            self.connection.execute(f"PRAGMA {pragma}")
        self.indexes: list[str] = []

    def begin(self, tables: Sequence[str]) -> None:
        names = ",".join(f"'{t}'" for t in tables)
        found = self.connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({names})"
        ).fetchall()
        self.indexes = [sql for _name, sql in found]
        self.connection.execute("BEGIN")
        for name, _sql in found:
            self.connection.execute(f'DROP INDEX "{name}"')

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        marks = ",".join("?" * len(columns))
        cursor = self.connection.executemany(
            f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})",
            rows,
        )
        return cursor.rowcount

    def execute(self, sql: str) -> None:
        self.connection.execute(sql)

    def scalar(self, sql: str) -> Any:
        return self.connection.execute(sql).fetchone()[0]

    def finish(self, tables: Sequence[str]) -> None:
        for sql in self.indexes:
            self.connection.execute(sql)
        self.connection.execute("COMMIT")
        # No ANALYZE: the app's databases run without statistics, and so does the bench.

    def close(self) -> None:
        self.connection.execute("PRAGMA locking_mode=NORMAL")
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.close()


class PostgresSink:
    """COPY into the real tables; plain indexes dropped during the load and built
    afterwards; foreign key triggers off for the session (``session_replication_role``),
    the data being consistent by construction."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self.connection = psycopg.connect(libpq_url(url), autocommit=False)
        self.indexes: list[str] = []

    def begin(self, tables: Sequence[str]) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                (list(tables),),
            )
            found = cursor.fetchall()
            self.indexes = [sql for _name, sql in found]
            for name, _sql in found:
                cursor.execute(f'DROP INDEX "{name}"')

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        with (
            self.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def execute(self, sql: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)

    def scalar(self, sql: str) -> Any:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
            return row[0] if row else None

    def finish(self, tables: Sequence[str]) -> None:
        with self.connection.cursor() as cursor:
            for sql in self.indexes:
                cursor.execute(sql)
            cursor.execute(
                "SELECT table_name FROM information_schema.columns WHERE column_name = 'id' "
                "AND table_schema = current_schema() AND table_name = ANY(%s)",
                (list(tables),),
            )
            for (table,) in cursor.fetchall():
                # Explicit ids leave the sequences at 1; the app's next insert would collide.
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            cursor.execute("SET session_replication_role = DEFAULT")
        self.connection.commit()
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    def close(self) -> None:
        self.connection.close()


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy) as libpq wants it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def sqlite_path(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def default_url(scale: str, db: str) -> str:
    if db == "postgresql":
        return DEFAULT_PG_URL
    return f"sqlite:///{DATA_DIR / f'{scale}.sqlite3'}"


def fresh_database(url: str) -> None:
    """An empty database at ``url``, migrated to the head revision."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        import psycopg

        base, _, name = libpq_url(url).rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    database = open_database(url)
    try:
        upgrade(database.engine)
    finally:
        database.dispose()


# --- rules as integer tables ---------------------------------------------------------

DAY_CAP, MONTH_CAP, YEAR_CAP = 1, 2, 3
CAP_KINDS = {"cap_per_day": DAY_CAP, "cap_per_month": MONTH_CAP, "cap_per_year": YEAR_CAP}


@dataclass(frozen=True)
class RuleSlot:
    """One rule of one ruleset, reduced to what the generator needs, in tenths."""

    rule_id: str
    version: str
    raw: dict[int, int]  # quantity in tenths -> points in tenths, before caps
    cap_kind: int  # 0: no cap
    cap: int
    cap_name: str
    adopted: int
    implemented: int
    description: str
    quantities: tuple[int, ...]


def _slot(rule: Rule, version: str) -> RuleSlot:
    quantities = VOLUNTEER_TENTHS if rule.per_unit else (10,)
    raw = {q: to_tenths(entry_points(rule, Decimal(q) / 10)) for q in quantities}
    if any(points < 0 for points in raw.values()):
        raise ValueError(f"{rule.id}: the generator caps only non-negative points")
    caps = list(rule.caps.items())
    if len(caps) > 1:
        # One cap per rule lets a cap be applied to a running sum of raw points; two
        # caps on one rule would need the engine's full loop.
        raise ValueError(f"{rule.id}: the generator handles at most one cap per rule")
    cap_name, cap = (caps[0][0], to_tenths(caps[0][1])) if caps else ("", 0)
    return RuleSlot(
        rule_id=rule.id,
        version=version,
        raw=raw,
        cap_kind=CAP_KINDS[cap_name] if caps else 0,
        cap=cap,
        cap_name=cap_name,
        adopted=to_tenths((rule.adopted_points or Decimal(0)).quantize(Decimal("0.1"))),
        implemented=to_tenths((rule.implemented_points or Decimal(0)).quantize(Decimal("0.1"))),
        description=DESCRIPTIONS.get(rule.id, rule.name_zh),
        quantities=quantities,
    )


@dataclass(frozen=True)
class MonthRules:
    version: str
    slots: list[RuleSlot]
    cum_weights: list[int]
    deductions: list[tuple[str, int]]  # rule id, points in tenths for quantity 1


def month_rules(rulebook: Rulebook, first_day: date) -> MonthRules | None:
    ruleset = rulebook.in_force(first_day)
    if ruleset is None:
        return None
    slots: list[RuleSlot] = []
    weights: list[int] = []
    for rule_id, weight in RULE_WEIGHTS.items():
        rule = ruleset.rule(rule_id)
        if rule is not None:
            slots.append(_slot(rule, ruleset.version))
            weights.append(weight)
    deductions = [
        (rule.id, to_tenths(entry_points(rule, Decimal(1))))
        for rule in ruleset.rules
        if rule.group is RuleGroup.DEDUCTION
    ]
    cumulative, total = [], 0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return MonthRules(ruleset.version, slots, cumulative, deductions)


# --- the generator -----------------------------------------------------------------------

TIMES = [f"{m // 60:02d}:{m % 60:02d}:00" for m in range(24 * 60)]


def _utc(day: date, town_minute: int) -> str:
    """A town time of ``day`` as the UTC text both databases store."""
    minute = town_minute - UTC_OFFSET_MINUTES
    if minute < 0:
        return f"{(day - timedelta(days=1)).isoformat()} {TIMES[minute + 24 * 60]}"
    return f"{day.isoformat()} {TIMES[minute]}"


def _poisson_table(mean: float, size: int = 40) -> list[float]:
    """Cumulative Poisson weights for ``random.choices``."""
    import math

    weights, cumulative, total = [], [], 0.0
    for k in range(size):
        weights.append(math.exp(-mean) * mean**k / math.factorial(k) if mean else float(k == 0))
    for weight in weights:
        total += weight
        cumulative.append(total)
    return cumulative


class Generator:
    def __init__(
        self,
        sink: Sink,
        scale: Scale,
        rulebook: Rulebook,
        *,
        today: date,
        seed: int = 2026,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.sink = sink
        self.scale = scale
        self.rulebook = rulebook
        self.today = today
        self.rng = random.Random(seed)
        self.progress = progress or (lambda _message: None)
        self.counts: dict[str, int] = {}
        self.steps: dict[str, float] = {}
        self.password_hash = hash_password(BENCH_PASSWORD)
        first = date(today.year, today.month, 1)
        self.months: list[date] = []
        for back in range(scale.months - 1, -1, -1):
            index = first.year * 12 + first.month - 1 - back
            self.months.append(date(index // 12, index % 12 + 1, 1))
        self.created = _utc(self.months[0] - timedelta(days=40), 9 * 60)

    @property
    def periods(self) -> list[str]:
        return [period_of(month) for month in self.months]

    def _step(self, name: str, started: float) -> None:
        self.steps[name] = round(time.perf_counter() - started, 2)
        self.progress(f"{name}: {self.steps[name]:.1f} s")

    def run(self) -> None:
        tables = [
            "branch",
            "organisation",
            "member",
            "membership",
            "account",
            "role_grant",
            "entry",
            "adjustment",
            "ledger_line",
            "points_summary",
            "points_total",
            "branch_total",
            "participation",
            "board_count",
            "branch_roster",
        ]
        self.sink.begin(tables)
        started = time.perf_counter()
        self._people()
        self._step("branches, members, accounts", started)
        started = time.perf_counter()
        self._activity()
        self._step("entries and ledger", started)
        started = time.perf_counter()
        self._summaries()
        self._step("summary and totals", started)
        started = time.perf_counter()
        self.sink.finish(tables)
        self._step("indexes and analyse", started)

    # people

    def _people(self) -> None:
        rng, scale = self.rng, self.scale
        joint = [rng.random() < 0.1 for _ in range(scale.branches)]
        raw_sizes = [rng.randint(10, 30) if j else rng.randint(2, 8) for j in joint]
        factor = scale.members / sum(raw_sizes)
        sizes = [max(1, round(size * factor)) for size in raw_sizes]
        difference = scale.members - sum(sizes)
        step = 1 if difference > 0 else -1
        index = 0
        while difference:
            slot = index % scale.branches
            if sizes[slot] + step >= 1:
                sizes[slot] += step
                difference -= step
            index += 1
        branch_rows = [
            (b + 1, f"B{b + 1:06d}", f"第{b + 1}{'联合' if joint[b] else ''}党支部",
             "joint" if joint[b] else "single", self.created)
            for b in range(scale.branches)
        ]  # fmt: skip
        self.counts["branches"] = self.sink.rows(
            "branch", ("id", "code", "name", "kind", "created_at"), branch_rows
        )
        org_rows: list[tuple[Any, ...]] = []
        orgs_of: list[list[int]] = []
        for b in range(scale.branches):
            count = rng.randint(3, 8) if joint[b] else 1
            ids = []
            for _ in range(count):
                org_id = len(org_rows) + 1
                ids.append(org_id)
                org_rows.append(
                    (org_id, b + 1, f"企业{org_id:07d}", "enterprise" if org_id % 5 else "social",
                     "operating", rng.randint(5, 800), SURNAMES[org_id % len(SURNAMES)] + "总")
                )  # fmt: skip
            orgs_of.append(ids)
        self.counts["organisations"] = self.sink.rows(
            "organisation",
            ("id", "branch_id", "name", "kind", "business_status", "employee_count", "owner_name"),
            org_rows,
        )
        # Members of a branch have consecutive ids, as a roster imported branch by branch.
        self.branch_of: list[int] = []
        self.status_of: list[str] = []
        member_rows: list[tuple[Any, ...]] = []
        self.secretary_member: list[int] = []  # by branch index: the member who is secretary
        member_id = 0
        for b, size in enumerate(sizes):
            for position in range(size):
                member_id += 1
                draw = rng.random()
                status = (
                    "exempt" if draw < 0.02 else
                    "probationary" if draw < 0.07 else
                    "mobile" if draw < 0.15 else "full"
                )  # fmt: skip
                if position == 0:
                    status = "full"
                    self.secretary_member.append(member_id)
                active = position == 0 or rng.random() > 0.01
                name = SURNAMES[rng.randrange(len(SURNAMES))] + GIVEN[rng.randrange(len(GIVEN))]
                if rng.random() < 0.6:
                    name += GIVEN[rng.randrange(len(GIVEN))]
                joined = date(rng.randint(1975, 2024), rng.randint(1, 12), rng.randint(1, 28))
                orgs = orgs_of[b]
                member_rows.append(
                    (member_id, f"M{member_id:07d}", name, b + 1, orgs[position % len(orgs)],
                     status, joined.isoformat(), active,
                     None if active else (self.months[0] - timedelta(days=3)).isoformat())
                )  # fmt: skip
                self.branch_of.append(b + 1)
                self.status_of.append(status if active else "inactive")
        self.counts["members"] = self.sink.rows(
            "member",
            ("id", "code", "name", "branch_id", "organisation_id", "status", "joined_party_on",
             "active", "left_on"),
            member_rows,
        )  # fmt: skip
        self.counts["memberships"] = self.sink.rows(
            "membership",
            ("id", "member_id", "branch_id", "from_date", "to_date", "note", "created_at"),
            ((row[0], row[0], row[3], None, None, "", self.created) for row in member_rows),
        )
        self.names = [row[2] for row in member_rows]
        del member_rows
        # Accounts: the office (id 1), then one per member (id = member id + 1).
        self.admin_account = 1
        accounts: list[tuple[Any, ...]] = [
            (1, ADMIN_USERNAME, self.password_hash, "镇党委组织办", None, True, self.created,
             False)
        ]  # fmt: skip
        accounts += [
            (m + 2, f"m{m + 1:07d}", self.password_hash, self.names[m], m + 1, True,
             self.created, False)
            for m in range(scale.members)
        ]  # fmt: skip
        self.counts["accounts"] = self.sink.rows(
            "account",
            ("id", "username", "password_hash", "display_name", "member_id", "is_active",
             "created_at", "must_change_password"),
            accounts,
        )  # fmt: skip
        del accounts
        grants: list[tuple[Any, ...]] = [(1, 1, "admin", None)]
        grants += [
            (b + 2, member + 1, "secretary", b + 1)
            for b, member in enumerate(self.secretary_member)
        ]
        self.counts["role_grants"] = self.sink.rows(
            "role_grant", ("id", "account_id", "role", "branch_id"), grants
        )
        self.secretary_account = [member + 1 for member in self.secretary_member]

    # activity

    def _lookups(self) -> None:
        """Small tables the set-based inserts join: rule slots, days and times of day."""
        self.slot_rows: list[RuleSlot] = []
        self.rules_of: dict[date, MonthRules] = {}
        for first in self.months:
            rules = month_rules(self.rulebook, first)
            if rules is None:
                continue
            self.rules_of[first] = rules
            for slot in rules.slots:
                if slot not in self.slot_rows:
                    self.slot_rows.append(slot)
        self.slot_index = {(s.version, s.rule_id): i for i, s in enumerate(self.slot_rows)}
        self.day_zero = self.months[0]
        days = (self.today - self.day_zero).days + 1
        execute = self.sink.execute
        execute("CREATE TEMP TABLE bench_slot (id INTEGER PRIMARY KEY, rule_id TEXT, "
                "version TEXT, description TEXT, cap_name TEXT)")  # fmt: skip
        execute("CREATE TEMP TABLE bench_day (no INTEGER PRIMARY KEY, day TEXT, period TEXT)")
        execute("CREATE TEMP TABLE bench_time (minute INTEGER PRIMARY KEY, at TEXT)")
        self.sink.rows(
            "bench_slot",
            ("id", "rule_id", "version", "description", "cap_name"),
            [(i, s.rule_id, s.version, s.description, s.cap_name)
             for i, s in enumerate(self.slot_rows)],
        )  # fmt: skip
        self.sink.rows(
            "bench_day",
            ("no", "day", "period"),
            [
                (n, (self.day_zero + timedelta(days=n)).isoformat(),
                 period_of(self.day_zero + timedelta(days=n)))
                for n in range(days)
            ],
        )  # fmt: skip
        self.sink.rows("bench_time", ("minute", "at"), list(enumerate(TIMES)))
        execute(
            "CREATE TEMP TABLE bench_stage (id INTEGER, member_id INTEGER, branch_id INTEGER, "
            "slot INTEGER, day_no INTEGER, minute INTEGER, quantity INTEGER, status INTEGER, "
            "points INTEGER, clipped INTEGER, reviewer INTEGER, adopted INTEGER, "
            "implemented INTEGER)"
        )

    STAGE_COLUMNS = (
        "id", "member_id", "branch_id", "slot", "day_no", "minute", "quantity", "status",
        "points", "clipped", "reviewer", "adopted", "implemented",
    )  # fmt: skip
    # Submission and decision times are town times (UTC+8) stored as UTC: the town's
    # office hours (08:00 to 22:30) fall on the same UTC day.
    ENTRY_FROM_STAGE = """
        INSERT INTO entry (id, member_id, branch_id, rule_id, ruleset_version, activity_date,
            period, quantity, description, status, submitted_at, submitted_by_id, decided_at,
            decided_by_id, decision_reason, adopted_on, adopted_by_id, implemented_on,
            implemented_by_id)
        SELECT s.id, s.member_id, s.branch_id, r.rule_id, r.version, {date_d}, d.period,
            s.quantity, r.description,
            CASE s.status WHEN 0 THEN 'approved' WHEN 1 THEN 'pending'
                 WHEN 2 THEN 'rejected' ELSE 'withdrawn' END,
            {ts_t}, s.member_id + 1,
            CASE WHEN s.status = 1 THEN NULL ELSE {ts_u} END,
            CASE WHEN s.status = 1 THEN NULL WHEN s.status = 3 THEN s.member_id + 1
                 ELSE s.reviewer END,
            CASE WHEN s.status = 2 THEN '请补充活动证明材料' END,
            {date_a}, CASE WHEN a.day IS NOT NULL THEN s.reviewer END,
            {date_i}, CASE WHEN i.day IS NOT NULL THEN s.reviewer END
        FROM bench_stage s
        JOIN bench_slot r ON r.id = s.slot
        JOIN bench_day d ON d.no = s.day_no
        JOIN bench_time t ON t.minute = s.minute - 480
        JOIN bench_time u ON u.minute = s.minute - 390
        LEFT JOIN bench_day a ON a.no = s.adopted
        LEFT JOIN bench_day i ON i.no = s.implemented
        ORDER BY s.id
    """
    # An approved entry's award line takes the entry's id: ledger ids are unique, with
    # gaps where entries were not approved; suggestion steps and deductions come after.
    LINES_FROM_STAGE = """
        INSERT INTO ledger_line (id, member_id, branch_id, period, activity_date, entry_id,
            rule_id, ruleset_version, kind, points, note, created_at, created_by_id, source,
            activity_key, adjustment_id)
        SELECT s.id, s.member_id, s.branch_id, d.period, {date_d}, s.id, r.rule_id, r.version,
            'award', s.points, CASE WHEN s.clipped = 1 THEN r.cap_name ELSE '' END,
            {ts_u}, s.reviewer, 'entry', 'entry:' || CAST(s.id AS VARCHAR(12)), NULL
        FROM bench_stage s
        JOIN bench_slot r ON r.id = s.slot
        JOIN bench_day d ON d.no = s.day_no
        JOIN bench_time u ON u.minute = s.minute - 390
        WHERE s.status = 0
        ORDER BY s.id
    """
    SUMMARY_FROM_STAGE = """
        INSERT INTO points_summary (member_id, period, branch_id, rule_id, points, line_count)
        SELECT s.member_id, d.period, s.branch_id, r.rule_id, SUM(s.points), COUNT(*)
        FROM bench_stage s
        JOIN bench_slot r ON r.id = s.slot
        JOIN bench_day d ON d.no = s.day_no
        WHERE s.status = 0
        GROUP BY s.member_id, d.period, s.branch_id, r.rule_id
    """

    def _sql(self, template: str) -> str:
        """The set-based inserts for this database: PostgreSQL wants text cast to dates
        and timestamps; SQLite stores them as that text."""
        pg = self.sink.dialect == "postgresql"

        def date_(column: str) -> str:
            return f"CAST({column} AS DATE)" if pg else column

        def ts(column: str) -> str:
            text = f"d.day || ' ' || {column}.at"
            return f"CAST({text} AS TIMESTAMP)" if pg else text

        return template.format(
            date_d=date_("d.day"), date_a=date_("a.day"), date_i=date_("i.day"),
            ts_t=ts("t"), ts_u=ts("u"),
        )  # fmt: skip

    def _activity(self) -> None:
        rng, scale = self.rng, self.scale
        self._lookups()
        mean_scale = scale.per_member_month / sum(s * m for s, m in ACTIVITY_CLASSES)
        tables = [_poisson_table(m * mean_scale) for _s, m in ACTIVITY_CLASSES]
        class_cum, total = [], 0.0
        for share, _mean in ACTIVITY_CLASSES:
            total += share
            class_cum.append(total)
        classes = rng.choices(range(len(ACTIVITY_CLASSES)), cum_weights=class_cum, k=scale.members)
        for m, status in enumerate(self.status_of):
            if status == "inactive":
                classes[m] = 0  # left: nothing more to declare
            elif status == "exempt" and classes[m] > 1:
                classes[m] = 1  # exempt (old age, illness): now and then
        count_tables = [tables[c] for c in classes]
        counts_range = range(len(tables[0]))
        yesterday = self.today - timedelta(days=1)
        last_day_no = (yesterday - self.day_zero).days
        # Pending entries: the current month's last days, enough of them for the approval
        # scenario.
        recent_days = 3
        expected_recent = scale.members * scale.per_member_month * recent_days / 30
        pending_share = min(1.0, scale.pending / max(1.0, expected_recent))
        pending_from = (yesterday - self.day_zero).days - recent_days + 1

        entry_id = adjustment_id = 0
        stage: list[tuple[Any, ...]] = []
        adjustments: list[tuple[Any, ...]] = []
        extra_lines: list[tuple[Any, ...]] = []  # suggestion steps and deductions
        totals = {"entries": 0, "approved": 0, "adjustments": 0, "pending": 0}
        branch_of, secretary_account = self.branch_of, self.secretary_account
        secretary_member = set(self.secretary_member)
        used_year: dict[tuple[int, int], int] = {}
        year = None
        members = list(range(scale.members))
        choices, random_ = rng.choices, rng.random
        steps: list[tuple[int, int, int, int, int, str, int]] = []

        def write_stage(month_done: bool) -> None:
            nonlocal stage
            if stage:
                self.sink.rows("bench_stage", self.STAGE_COLUMNS, stage)
                stage = []
            if month_done:
                self.sink.execute(self._sql(self.ENTRY_FROM_STAGE))
                self.sink.execute(self._sql(self.LINES_FROM_STAGE))
                self.sink.execute(self.SUMMARY_FROM_STAGE)
                self.sink.execute("DELETE FROM bench_stage")

        for first in self.months:
            rules = self.rules_of.get(first)
            if rules is None:
                continue
            if first.year != year:
                year, used_year = first.year, {}
            period = period_of(first)
            last = calendar.monthrange(first.year, first.month)[1]
            if (first.year, first.month) == (self.today.year, self.today.month):
                last = yesterday.day if yesterday.month == first.month else 0
            if last == 0:
                continue
            day_numbers = range(1, last + 1)
            slots = rules.slots
            global_slot = [self.slot_index[(s.version, s.rule_id)] for s in slots]
            cum_weights = rules.cum_weights
            slot_range = range(len(slots))
            buckets: list[list[tuple[int, int]]] = [[] for _ in range(last + 1)]
            rng.shuffle(members)  # submission order within a day
            for m in members:
                n = choices(counts_range, cum_weights=count_tables[m])[0]
                if not n:
                    continue
                for d, s in zip(
                    choices(day_numbers, k=n),
                    choices(slot_range, cum_weights=cum_weights, k=n),
                    strict=True,
                ):
                    buckets[d].append((m, s))
            used_month: dict[tuple[int, int], int] = {}
            first_no = (first - self.day_zero).days
            for d in day_numbers:
                day_no = first_no + d - 1
                bucket = buckets[d]
                span = (DAY_CLOSES - DAY_OPENS) // (len(bucket) or 1) or 1
                used_day: dict[tuple[int, int], int] = {}
                # Only in the current month: the month before must be publishable.
                maybe_pending = day_no >= pending_from and first.month == self.today.month
                minute = DAY_OPENS
                for m, s in bucket:
                    entry_id += 1
                    minute = min(minute + span, DAY_CLOSES)
                    slot = slots[s]
                    member_id = m + 1
                    branch_id = branch_of[m]
                    quantities = slot.quantities
                    q = quantities[int(random_() * len(quantities))] if len(quantities) > 1 else 10
                    reviewer = (
                        1 if member_id in secretary_member else secretary_account[branch_id - 1]
                    )
                    draw = random_()
                    if maybe_pending and draw < pending_share:
                        totals["pending"] += 1
                        stage.append((entry_id, member_id, branch_id, global_slot[s], day_no,
                                      minute, q, 1, 0, 0, reviewer, None, None))  # fmt: skip
                        continue
                    draw = random_()
                    if draw < REJECTED_SHARE + WITHDRAWN_SHARE:
                        decided = 2 if draw < REJECTED_SHARE else 3
                        stage.append((entry_id, member_id, branch_id, global_slot[s], day_no,
                                      minute, q, decided, 0, 0, reviewer, None, None))  # fmt: skip
                        continue
                    raw = slot.raw[q]
                    kind = slot.cap_kind
                    if kind:
                        key = (m, s)
                        used_in = (
                            used_day if kind == DAY_CAP else
                            used_month if kind == MONTH_CAP else used_year
                        )  # fmt: skip
                        used = used_in.get(key, 0)
                        room = slot.cap - used
                        counted = raw if room >= raw else (room if room > 0 else 0)
                        used_in[key] = used + counted
                    else:
                        counted = raw
                    adopted = implemented = None
                    if (slot.adopted or slot.implemented) and random_() < ADOPTED_SHARE:
                        step_no = day_no + rng.randint(5, 20)
                        if step_no <= last_day_no:
                            adopted = step_no
                            steps.append((step_no, 0, entry_id, member_id, branch_id,
                                          slot.rule_id, reviewer))  # fmt: skip
                            if random_() < IMPLEMENTED_SHARE:
                                done_no = step_no + rng.randint(10, 30)
                                if done_no <= last_day_no:
                                    implemented = done_no
                                    steps.append((done_no, 1, entry_id, member_id, branch_id,
                                                  slot.rule_id, reviewer))  # fmt: skip
                    stage.append((entry_id, member_id, branch_id, global_slot[s], day_no,
                                  minute, q, 0, counted, int(counted < raw), reviewer, adopted,
                                  implemented))  # fmt: skip
                    totals["approved"] += 1
                if len(stage) >= CHUNK:
                    write_stage(month_done=False)
            write_stage(month_done=True)
            # Deductions: a few members a month, recorded by their secretary.
            if rules.deductions:
                for m in rng.sample(range(scale.members), int(scale.members * DEDUCTION_SHARE)):
                    if self.status_of[m] == "inactive":
                        continue
                    rule_id, points = rules.deductions[rng.randrange(len(rules.deductions))]
                    day = date(first.year, first.month, rng.randint(1, last))
                    adjustment_id += 1
                    branch_id = branch_of[m]
                    at = _utc(day, 18 * 60)
                    recorder = secretary_account[branch_id - 1]
                    adjustments.append(
                        (adjustment_id, m + 1, branch_id, rule_id, day.isoformat(), period, 10,
                         None, "支部委员会决定", at, recorder)
                    )  # fmt: skip
                    extra_lines.append(
                        (m + 1, branch_id, period, day.isoformat(), None, rule_id,
                         rules.version, "award", points, "", at, recorder, "adjustment",
                         f"adjustment:{adjustment_id}", adjustment_id)
                    )  # fmt: skip
        totals["entries"] = entry_id
        # Suggestion steps score on the day they happened, under the rules of that day.
        for step_no, kind, step_entry, member_id, branch_id, rule_id, by in steps:
            step_day = self.day_zero + timedelta(days=step_no)
            rules = self.rules_of.get(date(step_day.year, step_day.month, 1))
            if rules is None:
                found_rules = month_rules(self.rulebook, step_day)
                assert found_rules is not None
                rules = found_rules
            slot_found = next((s for s in rules.slots if s.rule_id == rule_id), None)
            points = 0
            if slot_found is not None:
                points = slot_found.implemented if kind else slot_found.adopted
            source = "implemented" if kind else "adopted"
            step_period = period_of(step_day)
            extra_lines.append(
                (member_id, branch_id, step_period, step_day.isoformat(), step_entry, rule_id,
                 rules.version, "award", points, "", _utc(step_day, 17 * 60), by, source,
                 f"{source}:{step_entry}", None)
            )  # fmt: skip
        line_columns = (
            "id", "member_id", "branch_id", "period", "activity_date", "entry_id", "rule_id",
            "ruleset_version", "kind", "points", "note", "created_at", "created_by_id",
            "source", "activity_key", "adjustment_id",
        )  # fmt: skip
        self.sink.rows(
            "adjustment",
            ("id", "member_id", "branch_id", "rule_id", "day", "period", "quantity", "points",
             "reason", "created_at", "created_by_id"),
            adjustments,
        )  # fmt: skip
        self.sink.rows(
            "ledger_line",
            line_columns,
            ((entry_id + n, *line) for n, line in enumerate(extra_lines, start=1)),
        )
        # Their summary rows may meet an entry's (a suggestion step, same rule and month).
        self.sink.execute(
            "INSERT INTO points_summary (member_id, period, branch_id, rule_id, points, "
            "line_count) SELECT member_id, period, branch_id, rule_id, SUM(points), COUNT(*) "
            f"FROM ledger_line WHERE id > {entry_id} "
            "GROUP BY member_id, period, branch_id, rule_id "
            "ON CONFLICT (member_id, period, branch_id, rule_id) DO UPDATE SET "
            "points = points_summary.points + excluded.points, "
            "line_count = points_summary.line_count + excluded.line_count"
        )
        totals["adjustments"] = len(adjustments)
        totals["ledger_lines"] = totals["approved"] + len(extra_lines)
        totals["summary_rows"] = int(self.sink.scalar("SELECT COUNT(*) FROM points_summary"))
        totals["suggestion_steps"] = len(steps)
        for name in ("bench_stage", "bench_slot", "bench_day", "bench_time"):
            self.sink.execute(f"DROP TABLE {name}")
        self.counts.update(totals)

    def _summaries(self) -> None:
        """The board totals, built from the summary in SQL the way the app rebuilds them."""
        try:
            from service.boards.rebuild import rebuild_statements
        except ImportError:  # an older commit without board totals (before/after figures)
            return
        for statement in rebuild_statements():
            self.sink.execute(statement)
        self.counts["board_totals"] = int(self.sink.scalar("SELECT COUNT(*) FROM points_total"))


def generate(
    scale: Scale | str,
    url: str,
    *,
    today: date | None = None,
    seed: int = 2026,
    progress: Callable[[str], None] | None = None,
) -> Generated:
    """A fresh, migrated database at ``url`` holding ``scale``'s data."""
    if isinstance(scale, str):
        scale = SCALES[scale]
    today = today or town_today(utcnow(), TIMEZONE)
    started = time.perf_counter()
    fresh_database(url)
    migrated = time.perf_counter() - started
    rulebook = Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")
    sink: Sink = SqliteSink(sqlite_path(url)) if url.startswith("sqlite") else PostgresSink(url)
    try:
        generator = Generator(sink, scale, rulebook, today=today, seed=seed, progress=progress)
        generator.run()
    finally:
        sink.close()
    result = Generated(scale, url, today, generator.periods, generator.counts)
    result.steps = {"migrate": round(migrated, 2), **generator.steps}
    result.seconds = round(time.perf_counter() - started, 2)
    save_stats(result)
    return result


def stats_path(url: str) -> Path:
    """Where a generated database's figures are kept, for ``bench.run --reuse``."""
    name = sqlite_path(url).stem if url.startswith("sqlite") else libpq_url(url).rsplit("/")[-1]
    return DATA_DIR / f"{name}.generated.json"


def save_stats(result: Generated) -> None:
    import json

    path = stats_path(result.url)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "scale": result.scale.name,
        "today": result.today.isoformat(),
        "periods": result.periods,
        "counts": result.counts,
        "steps": result.steps,
        "seconds": result.seconds,
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")


def load_stats(url: str) -> Generated | None:
    import json

    path = stats_path(url)
    if not path.exists():
        return None
    payload = json.loads(path.read_text(encoding="utf-8"))
    result = Generated(
        SCALES[payload["scale"]], url, date.fromisoformat(payload["today"]), payload["periods"]
    )
    result.counts = payload["counts"]
    result.steps = payload["steps"]
    result.seconds = payload["seconds"]
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="town")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="database URL (default: bench/data/SCALE.sqlite3 or the "
                        "jifen_bench PostgreSQL database)")  # fmt: skip
    args = parser.parse_args(argv)
    url = args.url or default_url(args.scale, args.db)
    result = generate(args.scale, url, progress=lambda message: print(f"  {message}", flush=True))
    print(f"{result.scale.name} at {url}: {result.seconds:.1f} s")
    for name, count in result.counts.items():
        print(f"  {name}: {count:,}")


if __name__ == "__main__":
    main()
