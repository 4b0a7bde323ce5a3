"""Alembic creates the schema; the models and the migrations must describe the same one.

And the migrations run forward from an empty database and from the previous release's
schema with data, keeping every row; each step also goes back down cleanly. "Previous"
is head's down_revision, so these tests follow the history as revisions are added.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, Table, insert, inspect, select, text

from service.accounts.api_tokens import issue_token
from service.accounts.principal import load_principal
from service.accounts.sessions import start_session
from service.database import open_database
from service.entries.review import approve_entry
from service.meetings.calendar import feed_token
from service.notify.inbox import mark_read
from service.ops.seed.load import load_demo_town
from service.outbox.emit import emit
from service.people.transfers import transfer_member
from service.persistence.db import Database
from service.persistence.meetings import (
    Meeting,
    MeetingAmendment,
    MeetingAttendance,
    MeetingOrganiser,
    MeetingPhoto,
    MeetingStatus,
    Outcome,
)
from service.persistence.migrate import (
    current_revision,
    downgrade,
    head_revision,
    previous_revision,
    revision_chain,
    upgrade,
)
from service.persistence.models import (
    Account,
    AdoptedRuleset,
    Base,
    Branch,
    Entry,
    EntryPhoto,
    EntryStatus,
    LoginFailure,
    Member,
)
from service.persistence.notify import (
    RobotService,
    RobotWebhook,
)
from service.scoring.rules import Rulebook

# Another process, thread or engine reads what the test writes: real commits.
pytestmark = pytest.mark.commits

VERSION_TABLE = "alembic_version"
UNTIL = date(2026, 11, 20)
# Revisions that change data, not the schema (each says why in its docstring).
DATA_ONLY = frozenset({"0010"})
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def test_database_is_at_head(database: Database) -> None:
    assert current_revision(database.engine) == head_revision()


def test_models_match_migrations(database: Database) -> None:
    assert _differences(database.engine) == []


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences: list[Any] = compare_metadata(context, Base.metadata)
    return differences


# --- empty databases of their own ----------------------------------------------------------


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """Make databases without any table: SQLite files, or PostgreSQL schemas of this run."""
    made: list[tuple[Database, str | None]] = []
    admin = open_database(database_url) if database_url.startswith("postgresql") else None

    def make() -> Database:
        if admin is None:
            database = open_database(f"sqlite:///{tmp_path / f'db{len(made)}.sqlite3'}")
            made.append((database, None))
            return database
        schema = f"jifen_migrate_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with admin.engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        database = open_database(database_url, connect_args={"options": f"-c search_path={schema}"})
        made.append((database, schema))
        return database

    yield make
    for database, schema in made:
        database.dispose()
        if admin is not None and schema is not None:
            with admin.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    if admin is not None:
        admin.dispose()


def _schema(engine: Engine) -> dict[str, Any]:
    """Tables with their columns, keys, indexes and constraints, as the database has them
    (Alembic's own table aside: it stays, empty, once everything is downgraded)."""
    inspector = inspect(engine)
    described: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {VERSION_TABLE}):
        columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)]
        foreign_keys = sorted(
            (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            for fk in inspector.get_foreign_keys(table)
        )
        indexes = sorted(
            (ix["name"] or "", tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
            for ix in inspector.get_indexes(table)
        )
        uniques = sorted(
            tuple(str(c) for c in uq["column_names"])
            for uq in inspector.get_unique_constraints(table)
        )
        primary_key = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        described[table] = (columns, primary_key, foreign_keys, indexes, uniques)
    return described


def test_each_revision_upgrades_and_downgrades_cleanly(
    empty_database: Callable[[], Database],
) -> None:
    """From empty, one revision at a time: up, down to exactly the schema before, up again
    to exactly the same schema; at head the models match; all the way down leaves only
    Alembic's own table."""
    database = empty_database()
    engine = database.engine
    chain = revision_chain()
    assert chain[-1] == head_revision() and chain[0] is not None
    before = _schema(engine)
    assert before == {}
    for revision in chain:
        down = previous_revision(revision)
        upgrade(engine, revision)
        assert current_revision(engine) == revision
        after = _schema(engine)
        assert after != before or revision in DATA_ONLY, f"revision {revision} changed nothing"

        downgrade(engine, down or "base")
        assert current_revision(engine) == down
        assert _schema(engine) == before, f"downgrading {revision} left its traces"

        upgrade(engine, revision)
        assert _schema(engine) == after, f"{revision} built another schema the second time"
        before = after
    assert _differences(engine) == []

    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {VERSION_TABLE}


# --- the previous release's schema with data -------------------------------------------------


def _fill(database: Database, rulebook: Rulebook, seeds_dir: Path) -> None:
    """The demo town, and rows for every table the demo leaves empty (sessions, audit
    events, membership history, sign-in failures, photos, API tokens), through the
    services."""
    with database.transaction() as session:
        load_demo_town(session, rulebook, seeds_dir, until=UNTIL, env="test")
    with database.transaction() as session:
        admin = session.scalars(select(Account).where(Account.username == "admin")).one()
        principal = load_principal(session, admin.id)
        assert principal is not None
        start_session(session, admin, now=NOW, ip_address="127.0.0.1", user_agent="pytest")
        # A pending entry approved: an audit event, ledger lines, summary rows.
        entry = session.scalars(
            select(Entry)
            .where(Entry.status == EntryStatus.PENDING)
            .order_by(Entry.activity_date.desc(), Entry.id)
            .limit(1)
        ).one()
        approve_entry(session, principal, rulebook, entry.id, now=NOW)
        # A transfer: the member's membership history.
        member = session.scalars(
            select(Member).where(Member.id != entry.member_id).order_by(Member.id).limit(1)
        ).one()
        other_branch = session.scalars(
            select(Branch.id).where(Branch.id != member.branch_id).order_by(Branch.id).limit(1)
        ).one()
        transfer_member(
            session,
            principal,
            member.id,
            other_branch,
            date(2026, 11, 21),
            "组织关系转入",
            today=date(2026, 11, 21),
            now=NOW,
        )
        session.add(LoginFailure(username="nobody", address="192.0.2.1", at=NOW))
        session.add(
            EntryPhoto(
                entry_id=entry.id,
                stored_name=f"{uuid.uuid4().hex}.jpg",
                content_type="image/jpeg",
                size_bytes=1234,
                width=640,
                height=480,
                sha256="0" * 64,
                uploaded_at=NOW,
                uploaded_by_id=admin.id,
            )
        )
        issue_token(session, principal, admin.id, "migration test", days=30, now=NOW)
        # A ruleset adopted on the web (0011): the row as adopt_ruleset stores it.
        shipped = seeds_dir.parent / "scoring_rules" / "2027.1.toml"
        toml = shipped.read_text("utf-8").replace('version = "2027.1"', 'version = "2027.2"')
        toml = toml.replace("effective_from = 2027-01-01", "effective_from = 2027-02-01")
        session.add(
            AdoptedRuleset(
                version="2027.2",
                effective_from=date(2027, 2, 1),
                toml=toml,
                digest=hashlib.sha256(toml.encode("utf-8")).hexdigest(),
                adopted_by_id=admin.id,
                adopted_at=NOW,
                reason="迁移测试",
            )
        )
        # 0012's tables the demo leaves empty: a calendar feed, a meeting's amendment and
        # minutes photo (rows as the services store them).
        feed_token(session, principal, secret="migration-test-secret", now=NOW)
        meeting = session.scalars(
            select(Meeting).where(Meeting.status == MeetingStatus.CLOSED).order_by(Meeting.id)
        ).first()
        assert meeting is not None
        member_id = session.scalars(
            select(MeetingAttendance.member_id).where(MeetingAttendance.meeting_id == meeting.id)
        ).first()
        assert member_id is not None
        session.add(
            MeetingAmendment(
                meeting_id=meeting.id,
                member_id=member_id,
                from_outcome=Outcome.ABSENT,
                to_outcome=Outcome.ATTENDED,
                reason="迁移测试",
                created_by_id=admin.id,
                created_at=NOW,
            )
        )
        session.add(
            MeetingOrganiser(
                branch_id=meeting.branch_id,
                account_id=admin.id,
                created_by_id=admin.id,
                created_at=NOW,
            )
        )
        session.add(
            MeetingPhoto(
                meeting_id=meeting.id,
                stored_name=f"{uuid.uuid4().hex}.jpg",
                content_type="image/jpeg",
                size_bytes=1234,
                width=640,
                height=480,
                sha256="0" * 64,
                uploaded_at=NOW,
                uploaded_by_id=admin.id,
            )
        )
        # 0014's tables: a branch's group robot, a broadcast with its robot post, a
        # personal message with its email, a read mark (the demo accounts already have
        # their notification settings and preferences).
        session.add(
            RobotWebhook(
                branch_id=meeting.branch_id,
                service=RobotService.DINGTALK,
                url="https://oapi.dingtalk.com/robot/send?access_token=migration",
                secret="SEC-migration",
                created_by_id=admin.id,
                created_at=NOW,
            )
        )
        session.flush()
        emit(
            session,
            "meeting_scheduled",
            params={"meeting": "主题党日", "branch": "", "date": "", "time": "", "place": ""},
            link=f"/meetings/{meeting.id}",
            branch_id=meeting.branch_id,
            broadcast="branch",
            robots="branch",
            now=NOW,
        )
        (note,) = emit(
            session,
            "publish_ready",
            params={"period": "2026-11"},
            link="/publication",
            accounts=[admin.id],
            now=NOW,
        )
        mark_read(session, admin.id, [note.id], now=NOW)


def _reflect(engine: Engine) -> MetaData:
    metadata = MetaData()
    metadata.reflect(bind=engine)
    return metadata


def _read(engine: Engine, table: Table, columns: list[str]) -> list[tuple[Any, ...]]:
    order = list(table.primary_key.columns) or [table.c[name] for name in columns]
    with engine.connect() as connection:
        query = select(*(table.c[name] for name in columns)).order_by(*order)
        return [tuple(row) for row in connection.execute(query)]


def test_upgrade_from_the_previous_release_keeps_every_row(
    empty_database: Callable[[], Database], rulebook: Rulebook, project_root: Path
) -> None:
    head = head_revision()
    previous = previous_revision("head")
    assert head is not None and previous is not None

    # A: the current schema, full of data.
    current = empty_database()
    upgrade(current.engine)
    _fill(current, rulebook, project_root / "seeds")
    filled = _reflect(current.engine)

    # B: the previous release's schema, given A's rows in every table and column it has.
    older = empty_database()
    upgrade(older.engine, previous)
    assert current_revision(older.engine) == previous
    copied: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    for table in _reflect(older.engine).sorted_tables:  # referenced tables first
        if table.name == VERSION_TABLE:
            continue
        source = filled.tables.get(table.name)
        assert source is not None, f"table {table.name} of {previous} is gone at {head}"
        columns = [column.name for column in table.columns if column.name in source.c]
        rows = _read(current.engine, source, columns)
        assert rows, f"no {table.name} rows to carry over: add some in _fill()"
        # A column referring to its own table (a make-up's attendance row names the later
        # one) is filled in after every row is there.
        later = [
            fk.parent.name
            for fk in table.foreign_keys
            if fk.column.table.name == table.name and fk.parent.name in columns
        ]
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        with older.engine.begin() as connection:
            connection.execute(
                insert(table), [{**record, **dict.fromkeys(later)} for record in records]
            )
            keys = [column for column in table.primary_key.columns]
            for name in later:
                for record in records:
                    if record[name] is not None:
                        connection.execute(
                            table.update()
                            .where(*(key == record[key.name] for key in keys))
                            .values({name: record[name]})
                        )
        copied[table.name] = (columns, rows)

    upgrade(older.engine)

    assert current_revision(older.engine) == head
    upgraded = _reflect(older.engine)
    assert set(upgraded.tables) == set(filled.tables), "head's tables differ from a fresh head"
    for name, (columns, rows) in copied.items():
        assert _read(older.engine, upgraded.tables[name], columns) == rows, (
            f"table {name} changed on the way from {previous} to {head}"
        )
    assert _differences(older.engine) == []


def test_one_open_correction_per_month_repairs_what_the_race_left(
    empty_database: Callable[[], Database], rulebook: Rulebook, project_root: Path
) -> None:
    """0009 (issue 15, item 3): a database in which two "open a correction" requests
    both succeeded still upgrades. A correction left open after its month was published
    again is closed by that publication; of two still open for one month, the first
    stays open with both reasons."""
    database = empty_database()
    # The demo loads at head (it holds meetings, whose tables 0008 lacks), then goes back
    # to 0008 with its data: the downgrades are part of what this exercises.
    upgrade(database.engine)
    with database.transaction() as session:
        load_demo_town(session, rulebook, project_root / "seeds", until=UNTIL, env="test")
    downgrade(database.engine, "0008")
    assert current_revision(database.engine) == "0008"
    with database.engine.begin() as connection:
        # The demo's corrected month: revision 2 published its correction.
        corrected = connection.execute(
            text(
                "SELECT c.id, c.period, c.replaces_id, c.publication_id FROM correction c "
                "WHERE c.publication_id IS NOT NULL ORDER BY c.id LIMIT 1"
            )
        ).one()
        latest = connection.execute(
            text("SELECT id, period FROM publication ORDER BY id DESC LIMIT 1")
        ).one()
        columns = "period, reason, opened_at, opened_by_id, replaces_id, publication_id"
        copy = f"INSERT INTO correction ({columns}) SELECT "
        # The race's leftover: a twin of the published correction, still open.
        connection.execute(
            text(f"{copy} period, '重复的更正', opened_at, opened_by_id, replaces_id, NULL "
                 "FROM correction WHERE id = :id"),
            {"id": corrected.id},
        )  # fmt: skip
        # Two open at once for the month on notice.
        for reason in ("第一次", "第二次"):
            connection.execute(
                text(f"{copy} :period, :reason, opened_at, opened_by_id, :replaces, NULL "
                     "FROM correction WHERE id = :id"),
                {"period": latest.period, "reason": reason, "replaces": latest.id,
                 "id": corrected.id},
            )  # fmt: skip

    upgrade(database.engine)

    assert current_revision(database.engine) == head_revision()
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT period, reason, publication_id FROM correction ORDER BY id")
        ).all()
    leftovers = [row for row in rows if row.reason == "重复的更正"]
    assert [(row.period, row.publication_id) for row in leftovers] == [
        (corrected.period, corrected.publication_id)
    ]
    still_open = [(row.period, row.reason) for row in rows if row.publication_id is None]
    assert still_open == [(latest.period, "第一次; 第二次")]
    assert _differences(database.engine) == []


# --- identifiers stored in full-width characters ------------------------------------------


def test_stored_identifiers_are_folded_and_a_clash_stops_the_upgrade(
    empty_database: Callable[[], Database],
) -> None:
    """Before the forms folded identifiers, ``３２０１…`` and ``3201…`` were two ID
    numbers; the revision folds what is stored, and refuses (changing nothing, naming
    both members) where two stored rows are one value once folded."""
    fold_revision = "0010"
    before = previous_revision(fold_revision)
    assert before is not None
    full_width = str.maketrans("0123456789XMB", "０１２３４５６７８９ＸＭＢ")
    id_number = "11010519491231002X"

    def fill(database: Database, rows: list[tuple[str, str | None, str | None]]) -> None:
        metadata = _reflect(database.engine)
        branch, member = metadata.tables["branch"], metadata.tables["member"]
        with database.engine.begin() as connection:
            connection.execute(
                insert(branch),
                [
                    {
                        "id": 1,
                        "code": "B001".translate(full_width),
                        "name": "金湾",
                        "kind": "joint",
                        "created_at": NOW,
                    }
                ],
            )
            connection.execute(
                insert(member),
                [
                    {
                        "id": number,
                        "code": code,
                        "name": f"党员{number}",
                        "branch_id": 1,
                        "status": "full",
                        "id_number": id_value,
                        "phone": phone,
                        "active": True,
                    }
                    for number, (code, id_value, phone) in enumerate(rows, 1)
                ],
            )

    def stored(database: Database) -> list[tuple[Any, ...]]:
        with database.engine.connect() as connection:
            members = connection.execute(
                text("SELECT code, id_number, phone FROM member ORDER BY id")
            ).all()
            branches = connection.execute(text("SELECT code FROM branch")).all()
        return [tuple(row) for row in members] + [tuple(row) for row in branches]

    clean = empty_database()
    upgrade(clean.engine, before)
    fill(
        clean,
        [
            ("M001".translate(full_width), id_number.translate(full_width), "13８0013８000"),
            ("M002", None, "+86 138-0013-8001"),
        ],
    )
    upgrade(clean.engine, fold_revision)
    assert stored(clean) == [
        ("M001", id_number, "13800138000"),
        ("M002", None, "13800138001"),
        ("B001",),
    ]

    clashing = empty_database()
    upgrade(clashing.engine, before)
    fill(
        clashing,
        [("M001", id_number.translate(full_width), None), ("M002", id_number, None)],
    )
    untouched = stored(clashing)
    with pytest.raises(Exception, match=f"ID number {id_number}: member M001 .* and member M002"):
        upgrade(clashing.engine, fold_revision)
    assert current_revision(clashing.engine) == before
    assert stored(clashing) == untouched
