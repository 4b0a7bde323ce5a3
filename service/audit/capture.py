"""The audit log: who changed what, when, from where, before and after.

Nothing in the services calls this module. A session hook (installed once for every
SQLAlchemy session of the ``Database`` by ``install``; ``service.database.open_database``
puts it there) looks at each flush and writes one ``AuditEvent`` row per created, changed
or deleted record of an audited model, in the same transaction: a change and its audit
line commit or roll back together. ORM bulk statements on audited models
(``session.execute(insert(Member), rows)``, ``update(Member)...``) are recorded too.

Who and from where come from a context variable: the web middleware sets the signed-in
account and the client's address for each request; the CLI sets ip "cli" (and the
account of ``--by``). Inside ``suspended()`` nothing is recorded (the demo seed).

Audit events are append-only: the ORM refuses to change or delete one.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, event, insert, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from service.audit.labels import OBJECT_LABELS as OBJECT_LABELS  # the audit page reads it here
from service.audit.results_tables import NOTIFY_AUDITED, RESULTS_AUDITED, Audited
from service.kernel.i18n import N_
from service.persistence.assessment import Appraisal, AppraisalLine
from service.persistence.guards import refuse_changes
from service.persistence.meetings import (
    CalendarFeed,
    Meeting,
    MeetingAmendment,
    MeetingAttendance,
    MeetingLeave,
    MeetingOrganiser,
    MeetingPhoto,
    PartyGroup,
    PartyGroupMember,
)
from service.persistence.models import (
    Account,
    Adjustment,
    AdoptedRuleset,
    ApiToken,
    AuditEvent,
    Base,
    Branch,
    Correction,
    Entry,
    EntryPhoto,
    Member,
    Membership,
    Objection,
    Organisation,
    Publication,
    RoleGrant,
)
from service.persistence.types import utcnow

CLI_ADDRESS = "cli"


@dataclass(frozen=True)
class AuditContext:
    """Who causes the changes of the current request or command, and from where."""

    actor_id: int | None = None
    ip_address: str = ""
    # The CLI knows a username (``--by``) before any session exists; the hook resolves it.
    actor_username: str | None = None


_NOBODY = AuditContext()

_context: ContextVar[AuditContext | None] = ContextVar("jifen_audit_context", default=None)

_suspended: ContextVar[bool] = ContextVar("jifen_audit_suspended", default=False)


def current_context() -> AuditContext:
    return _context.get() or _NOBODY


@contextmanager
def acting(
    actor_id: int | None, ip_address: str, *, actor_username: str | None = None
) -> Iterator[AuditContext]:
    """Attribute every change made inside the block to ``actor_id`` from ``ip_address``."""
    context = AuditContext(actor_id, ip_address[:64], actor_username)
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


def set_context(actor_id: int | None, ip_address: str) -> Any:
    """Set the context for the rest of the current task; returns the token to reset."""
    return _context.set(AuditContext(actor_id, ip_address[:64]))


def reset_context(token: Any) -> None:
    _context.reset(token)


def act_as_username(username: str | None) -> None:
    """The CLI's ``--by USERNAME``: changes from here on are that account's."""
    if username:
        _context.set(replace(current_context(), actor_id=None, actor_username=username))


@contextmanager
def suspended() -> Iterator[None]:
    """Record nothing inside the block (bulk loads such as the demo town)."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


def is_suspended() -> bool:
    return _suspended.get()


AUDITED: dict[type[Base], Audited] = {
    Branch: Audited("branch", ("name", "code")),
    Organisation: Audited("organisation", ("name",)),
    Member: Audited("member", ("name", "code")),
    Membership: Audited("membership", ("member_id",)),
    # last_login_at moves at every sign-in: a session, not a change to the account.
    Account: Audited(
        "account",
        ("username",),
        ignored=frozenset({"last_login_at"}),
        secret=frozenset({"password_hash"}),
    ),
    RoleGrant: Audited("role_grant", ("role",)),
    Entry: Audited("entry", ("rule_id", "activity_date")),
    EntryPhoto: Audited("entry_photo", ("entry_id",)),
    Adjustment: Audited("adjustment", ("rule_id", "day")),
    Publication: Audited("publication", ("period", "revision")),
    Correction: Audited("correction", ("period",)),
    Objection: Audited("objection", ("publication_id",)),
    # Only the secret's hash is stored, and even that stays out of the log; last_used_at
    # moves with use (at most once a minute), not by anyone's decision.
    ApiToken: Audited(
        "api_token",
        ("name", "prefix"),
        ignored=frozenset({"last_used_at"}),
        secret=frozenset({"token_hash"}),
    ),
    # The TOML text can be long; its digest names it exactly (the export gives the text).
    AdoptedRuleset: Audited(
        "adopted_ruleset", ("version", "effective_from"), ignored=frozenset({"toml"})
    ),
    # Meetings (组织生活); the check-in secret keys the rotating codes: never logged. Who is
    # expected (meeting_invitee) follows from the audience: not recorded row by row.
    Meeting: Audited("meeting", ("title", "day"), secret=frozenset({"checkin_secret"})),
    MeetingLeave: Audited("meeting_leave", ("meeting_id", "member_id")),
    MeetingAttendance: Audited("meeting_attendance", ("meeting_id", "member_id")),
    MeetingAmendment: Audited("meeting_amendment", ("meeting_id", "member_id")),
    MeetingOrganiser: Audited("meeting_organiser", ("branch_id", "account_id")),
    MeetingPhoto: Audited("meeting_photo", ("meeting_id",)),
    PartyGroup: Audited("party_group", ("name",)),
    PartyGroupMember: Audited("party_group_member", ("group_id", "member_id")),
    CalendarFeed: Audited("calendar_feed", ("account_id",), secret=frozenset({"token_hash"})),
    # The annual appraisal: a line's inputs, veto reason and departure reason are private
    # to the member and the branch's reviewers: the log says they changed, not what.
    Appraisal: Audited("appraisal", ("branch_id", "year")),
    AppraisalLine: Audited(
        "appraisal_line",
        ("appraisal_id", "member_id"),
        secret=frozenset({"inputs", "veto_reason", "departure_reason"}),
    ),
    **RESULTS_AUDITED,
    **NOTIFY_AUDITED,
}

_BY_TABLE = {model.__tablename__: model for model in AUDITED}

_AUDIT_TABLE = Base.metadata.tables[AuditEvent.__tablename__]

SECRET_SET = "set"  # noqa: S105 - what the log says instead of a secret

SECRET_CHANGED = "changed"  # noqa: S105

# Kinds the admin page offers in its filter, with their English labels.
ACTIONS = ("create", "update", "delete")

SPECIFIC_KINDS = (
    "entry.approve",
    "entry.reject",
    "entry.withdraw",
    "entry.revoke",
    "entry.adopt",
    "entry.implement",
    "member.transfer",
    "account.password",
    "account.disable",
    "account.enable",
    "account.end_sessions",
    # Written by the services (service/audit/events.py), not by the session hook.
    "account.password_check_failure",
    "account.password_check_throttled",
    "account.setup",
    "sign_in.success",
    "sign_in.failure",
    "sign_in.throttled",
    "objection.resolve",
    "correction.close",
    "checkin.wrong_code",  # a check-in refused for a wrong or expired code (counted)
)


ACTION_LABELS = {
    "create": N_("created"),
    "update": N_("changed"),
    "delete": N_("deleted"),
    # Lines written before bulk statements were recorded row by row still read.
    "bulk_update": N_("changed in bulk"),
    "bulk_delete": N_("deleted in bulk"),
    "approve": N_("approved"),
    "reject": N_("rejected"),
    "withdraw": N_("withdrawn"),
    "revoke": N_("revoked"),
    "adopt": N_("marked adopted"),
    "implement": N_("marked implemented"),
    "transfer": N_("transferred"),
    "password": N_("password changed"),
    "disable": N_("disabled"),
    "enable": N_("enabled"),
    "end_sessions": N_("signed out everywhere"),
    "setup": N_("created as the first office account (jifen setup)"),
    "password_check_failure": N_("wrong current password typed"),
    "password_check_throttled": N_("password change refused: too many wrong passwords"),
    "success": N_("succeeded"),
    "failure": N_("failed: wrong username or password"),
    "throttled": N_("refused: too many failed sign-ins"),
    "resolve": N_("resolved"),
    "close": N_("closed"),
    "wrong_code": N_("refused: wrong or expired code"),
}


def all_kinds() -> list[str]:
    kinds = {
        f"{audited.object_type}.{action}" for audited in AUDITED.values() for action in ACTIONS
    }
    return sorted(kinds | set(SPECIFIC_KINDS))


def kind_parts(kind: str) -> tuple[str, str]:
    object_type, _dot, action = kind.partition(".")
    return object_type, action


def to_json_value(value: Any) -> Any:
    """A column value as JSON: dates, times and decimals as strings, enums by value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return str(Decimal(str(value)))
    return str(value)


def dump_values(values: Mapping[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def _label(obj: Any, audited: Audited, values: Mapping[str, Any] | None = None) -> str:
    parts = []
    for name in audited.label:
        value = values.get(name) if values is not None else getattr(obj, name, None)
        if value is not None:
            parts.append(str(to_json_value(value)))
    return " ".join(parts)[:200]


class _Batch:
    """The audit rows of one flush, written with one INSERT."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.now = utcnow()
        self.context = _resolved_context(session)
        self.rows: list[dict[str, Any]] = []
        self._member_branch: dict[int, int | None] = {}
        self._entry_branch: dict[int, int | None] = {}

    def add(
        self,
        kind: str,
        object_type: str,
        object_id: Any,
        branch_id: int | None,
        summary: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        self.rows.append(
            {
                "at": self.now,
                "actor_id": self.context.actor_id,
                "ip_address": self.context.ip_address,
                "kind": kind[:48],
                "object_type": object_type[:32],
                "object_id": "" if object_id is None else str(object_id)[:64],
                "branch_id": branch_id,
                "summary": summary,
                "before": dump_values(before),
                "after": dump_values(after),
            }
        )

    def branch_of(self, obj: Any, values: Mapping[str, Any] | None = None) -> int | None:
        """The branch an event belongs to: the object's own, else its member's."""
        get = values.get if values is not None else (lambda name: getattr(obj, name, None))
        branch_id = get("branch_id")
        if branch_id is None and (isinstance(obj, Objection) or obj is Objection):
            branch_id = get("line_branch_id")
        if branch_id is not None:
            return int(branch_id)
        member_id = get("member_id")
        if member_id is not None:
            return self.member_branch(int(member_id))
        # A photo has neither: it belongs to the branch of its entry.
        entry_id = get("entry_id")
        if entry_id is None:
            return None
        return self.entry_branch(int(entry_id))

    def member_branch(self, member_id: int) -> int | None:
        if member_id not in self._member_branch:
            self._member_branch[member_id] = self.session.connection().scalar(
                select(Member.__table__.c.branch_id).where(Member.__table__.c.id == member_id)
            )
        return self._member_branch[member_id]

    def entry_branch(self, entry_id: int) -> int | None:
        if entry_id not in self._entry_branch:
            self._entry_branch[entry_id] = self.session.connection().scalar(
                select(Entry.__table__.c.branch_id).where(Entry.__table__.c.id == entry_id)
            )
        return self._entry_branch[entry_id]

    def write(self) -> None:
        if self.rows:
            self.session.connection().execute(insert(_AUDIT_TABLE), self.rows)


def _resolved_context(session: Session) -> AuditContext:
    context = current_context()
    if context.actor_id is None and context.actor_username:
        account_table = Account.__table__
        actor_id = session.connection().scalar(
            select(account_table.c.id).where(account_table.c.username == context.actor_username)
        )
        context = replace(context, actor_id=actor_id, actor_username=None)
        _context.set(context)
    return context


def _columns(obj: Any) -> list[str]:
    return [attr.key for attr in inspect(type(obj)).column_attrs]


def _snapshot(obj: Any, audited: Audited, *, secret_mark: str) -> dict[str, Any]:
    """Every loaded column value of ``obj`` (what a created or deleted record held)."""
    state = inspect(obj)
    values: dict[str, Any] = {}
    for key in _columns(obj):
        if key in audited.ignored:
            continue
        if key not in state.dict:
            continue  # never loaded: unknown, not None
        value = state.dict[key]
        if key in audited.secret:
            values[key] = secret_mark
        elif value is not None:
            values[key] = to_json_value(value)
    return values


def _changes(obj: Any, audited: Audited) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(before, after, raw after values) of the columns this flush changes."""
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    raw_before: dict[str, Any] = {}
    for key in _columns(obj):
        if key in audited.ignored:
            continue
        history = state.attrs[key].history
        if not history.added and not history.deleted:
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if history.deleted and history.added and old == new:
            continue
        if not history.added:
            continue  # only unloaded or expired, not changed
        raw_before[key] = old
        if key in audited.secret:
            before[key], after[key] = "***", SECRET_CHANGED
        else:
            before[key], after[key] = to_json_value(old), to_json_value(new)
    return before, after, raw_before


def _specific_kind(obj: Any, raw_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """A more telling action than "update" when the change is a known step."""
    if isinstance(obj, Entry):
        if "status" in after:
            transitions = {
                ("pending", "approved"): "approve",
                ("pending", "rejected"): "reject",
                ("pending", "withdrawn"): "withdraw",
                ("approved", "revoked"): "revoke",
            }
            old = to_json_value(raw_before.get("status"))
            action = transitions.get((old, after["status"]))
            if action:
                return action
        if raw_before.get("implemented_on") is None and after.get("implemented_on"):
            return "implement"
        if raw_before.get("adopted_on") is None and after.get("adopted_on"):
            return "adopt"
    if isinstance(obj, Member) and "branch_id" in after:
        return "transfer"
    if isinstance(obj, Account):
        if "disabled_at" in after or "is_active" in after:
            disabled = after.get("disabled_at") or after.get("is_active") is False
            return "disable" if disabled else "enable"
        if "password_hash" in after:
            return "password"
    if (
        isinstance(obj, Objection)
        and after.get("status") == "resolved"
        and to_json_value(raw_before.get("status")) == "open"
    ):
        return "resolve"
    if (
        isinstance(obj, Correction)
        and raw_before.get("publication_id") is None
        and after.get("publication_id") is not None
    ):
        return "close"
    return "update"


def _after_flush(session: Session, _context: Any) -> None:
    if _suspended.get():
        return
    if not (session.new or session.dirty or session.deleted):
        return
    batch: _Batch | None = None

    def get_batch() -> _Batch:
        nonlocal batch
        if batch is None:
            batch = _Batch(session)
        return batch

    for obj in list(session.new):
        audited = AUDITED.get(type(obj))
        if audited is None:
            continue
        b = get_batch()
        after = _snapshot(obj, audited, secret_mark=SECRET_SET)
        branch_id = obj.id if isinstance(obj, Branch) else b.branch_of(obj)
        b.add(
            f"{audited.object_type}.create",
            audited.object_type,
            _identity(obj),
            branch_id,
            _label(obj, audited),
            None,
            after,
        )
    for obj in list(session.dirty):
        audited = AUDITED.get(type(obj))
        if audited is None or not session.is_modified(obj, include_collections=False):
            continue
        before, after, raw_before = _changes(obj, audited)
        if not after:
            continue
        b = get_batch()
        action = _specific_kind(obj, raw_before, after)
        branch_id = obj.id if isinstance(obj, Branch) else b.branch_of(obj)
        b.add(
            f"{audited.object_type}.{action}",
            audited.object_type,
            _identity(obj),
            branch_id,
            _label(obj, audited),
            before,
            after,
        )
    for obj in list(session.deleted):
        audited = AUDITED.get(type(obj))
        if audited is None:
            continue
        b = get_batch()
        before = _snapshot(obj, audited, secret_mark=SECRET_CHANGED)
        # A deleted branch's id would point nowhere: its events keep the id in object_id.
        branch_id = None if isinstance(obj, Branch) else b.branch_of(obj)
        b.add(
            f"{audited.object_type}.delete",
            audited.object_type,
            _identity(obj),
            branch_id,
            _label(obj, audited),
            before,
            None,
        )
    if batch is not None:
        batch.write()


def _identity(obj: Any) -> str:
    # New objects get their identity key only after the flush; the mapper reads the
    # primary key from the instance, which the INSERT has filled in.
    key = inspect(type(obj)).primary_key_from_instance(obj)
    return "/".join("" if part is None else str(part) for part in key)


def _bulk_statement(state: ORMExecuteState) -> Any:
    """Record ORM bulk INSERT/UPDATE/DELETE statements on audited models, after the
    statement ran (the audit rows refer to what it wrote): one line per row, as if the
    rows had been changed one by one."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    statement: Any = state.statement
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    if name == AuditEvent.__tablename__ and not state.is_insert:
        raise RuntimeError("audit events are append-only")
    model = _BY_TABLE.get(name or "")
    if model is None or _suspended.get():
        return None
    audited = AUDITED[model]
    if state.is_insert:
        result = state.invoke_statement()
        changed: list[tuple[str, Any, Mapping[str, Any], Any, Any]] = []
    else:
        result, changed = _run_bulk_change(state, model, audited)
    batch = _Batch(state.session)
    parameters = state.parameters
    if state.is_insert:
        rows: Sequence[Mapping[str, Any]]
        if isinstance(parameters, list):
            rows = parameters
        elif isinstance(parameters, Mapping) and parameters:
            rows = [parameters]
        else:
            rows = [{}]
        for row in rows:
            after = {
                key: (SECRET_SET if key in audited.secret else to_json_value(value))
                for key, value in row.items()
                if key not in audited.ignored and value is not None
            }
            branch_id = row.get("id") if model is Branch else batch.branch_of(model, row)
            batch.add(
                f"{audited.object_type}.create",
                audited.object_type,
                row.get("id"),
                branch_id,
                _label(None, audited, row),
                None,
                after,
            )
    else:
        for kind, key, row, before, after in changed:
            branch_id = key if model is Branch else batch.branch_of(model, row)
            batch.add(
                f"{audited.object_type}.{kind}",
                audited.object_type,
                key,
                branch_id,
                _label(None, audited, row),
                before,
                after,
            )
    batch.write()
    return result


def _run_bulk_change(
    state: ORMExecuteState, model: type[Base], audited: Audited
) -> tuple[Any, list[tuple[str, Any, Mapping[str, Any], Any, Any]]]:
    """Run a bulk UPDATE or DELETE, and say in the model's terms what it did to each row
    it touched: (action, primary key, the row as it was, before, after) with the changed
    columns only, as a flush's line would; not the statement's SQL, which no one in the
    office reads (and which names no record).

    The rows are read under the statement's own WHERE clause before it runs, locked so
    that no one changes them in between, and read again by primary key after it ran.
    """
    table = model.__table__
    assert isinstance(table, Table)
    statement: Any = state.statement
    (primary,) = table.primary_key.columns
    connection = state.session.connection()
    query = select(table)
    if statement.whereclause is not None:
        query = query.where(statement.whereclause)
    if isinstance(state.parameters, list):
        # An UPDATE by primary key, one parameter set per row: only those rows.
        query = query.where(primary.in_([row.get(primary.key) for row in state.parameters]))
    old_rows = {
        row[primary.name]: dict(row)
        for row in connection.execute(query.with_for_update()).mappings()
    }
    result = state.invoke_statement()
    changes: list[tuple[str, Any, Mapping[str, Any], Any, Any]] = []
    if state.is_delete:
        for key, row in old_rows.items():
            held = {
                name: (SECRET_CHANGED if name in audited.secret else to_json_value(value))
                for name, value in row.items()
                if name not in audited.ignored and value is not None
            }
            changes.append(("delete", key, row, held, None))
        return result, changes
    if not old_rows:
        return result, changes
    new_rows = {
        row[primary.name]: dict(row)
        for row in connection.execute(select(table).where(primary.in_(list(old_rows)))).mappings()
    }
    for key, old in old_rows.items():
        new = new_rows.get(key, {})
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for name, value in new.items():
            if name in audited.ignored or old.get(name) == value:
                continue
            if name in audited.secret:
                before[name], after[name] = "***", SECRET_CHANGED
            else:
                before[name], after[name] = to_json_value(old.get(name)), to_json_value(value)
        if after:
            # Its branch is the one it belongs to now (a moved entry: the new one).
            changes.append(("update", key, {**old, **new}, before, after))
    return result, changes


def _append_only(session: Session, _context: Any, _instances: Any) -> None:
    refuse_changes(session, (AuditEvent,), "audit events are append-only")


def install(sessions: sessionmaker[Session]) -> None:
    """Record every change made through the sessions of ``sessions`` (a session hook of
    ``service.persistence.db.Database``)."""
    event.listen(sessions, "before_flush", _append_only)
    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "do_orm_execute", _bulk_statement)
