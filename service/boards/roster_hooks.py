"""The roster's session hooks: a member's class (exempt, active) or branch changes
through the ORM, and the board totals and counts move with it in the same flush.

``install`` puts them on a session factory; the ``Database`` that
``service.database.open_database`` opens installs them on every session it makes, so
the web, the ``jifen`` command, the benchmark and the tests all keep the totals.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    event,
    inspect,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from service.boards.rebuild import STALE, rebuild
from service.boards.totals import (
    ROSTER,
    ZERO,
    MemberClass,
    group_bucket,
    move_branches,
    move_counts,
    move_groups,
    move_roster,
    span_keys,
    table_of,
)
from service.persistence.models import (
    Member,
    MemberStatus,
    Participation,
    PointsSummary,
    PointsTotal,
)


def _history(obj: Member, name: str) -> tuple[Any, Any] | None:
    """(before, after) of an attribute changed in this flush, or None."""
    state = inspect(obj)
    history = state.attrs[name].history
    if not history.has_changes():
        return None
    before = history.deleted[0] if history.deleted else None
    after = history.added[0] if history.added else getattr(obj, name)
    return before, after


def _class_of(status: Any, active: Any) -> MemberClass:
    return MemberClass(MemberStatus(status) is MemberStatus.EXEMPT, bool(active))


def _member_changes(session: Session, _context: Any) -> None:
    connection: Connection | None = None
    for obj in list(session.new):
        if isinstance(obj, Member):
            connection = connection or session.connection()
            _roster_joined(connection, obj.id, obj.branch_id, _class_of(obj.status, obj.active))
    for obj in list(session.dirty):
        if not isinstance(obj, Member) or not session.is_modified(obj):
            continue
        status = _history(obj, "status")
        active = _history(obj, "active")
        branch = _history(obj, "branch_id")
        if status is None and active is None and branch is None:
            continue
        before = _class_of(status[0] if status else obj.status, active[0] if active else obj.active)
        after = _class_of(obj.status, obj.active)
        old_branch = branch[0] if branch else obj.branch_id
        if before == after and old_branch == obj.branch_id:
            continue
        connection = connection or session.connection()
        _member_moved(connection, obj.id, old_branch, obj.branch_id, before, after)
    for obj in list(session.deleted):
        if isinstance(obj, Member):
            connection = connection or session.connection()
            member = _class_of(obj.status, obj.active)
            move_counts(connection, {(ROSTER, member.exempt, member.active): -1})
            if member.eligible:
                move_roster(connection, {obj.branch_id: -1})


def _roster_joined(
    connection: Connection, member_id: int, branch_id: int, member: MemberClass
) -> None:
    move_counts(connection, {(ROSTER, member.exempt, member.active): 1})
    if member.eligible:
        move_roster(connection, {branch_id: 1})


def _member_moved(
    connection: Connection,
    member_id: int,
    old_branch: int,
    new_branch: int,
    before: MemberClass,
    after: MemberClass,
) -> None:
    """Move a member's totals and counts from one class (and branch) to another."""
    # The roster first: the lock order of approvals is the branch's roster row, then its
    # span rows (service.boards.totals.move_branches).
    roster: dict[int, int] = defaultdict(int)
    if before.eligible:
        roster[old_branch] -= 1
    if after.eligible:
        roster[new_branch] += 1
    move_roster(connection, roster)
    if before != after:
        groups: dict[tuple[str, str, int], Decimal] = defaultdict(lambda: ZERO)
        totals = connection.execute(
            select(PointsTotal.period, PointsTotal.points).where(PointsTotal.member_id == member_id)
        ).all()
        if before.exempt != after.exempt:
            table = table_of(PointsTotal)
            connection.execute(
                table.update().where(table.c.member_id == member_id).values(exempt=after.exempt)
            )
            # The member's points count for their branches (and the town's groups)
            # again, or no longer.
            sign = 1 if before.exempt else -1
            points: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
            for period, branch_id, rule_id, total in connection.execute(
                select(
                    PointsSummary.period,
                    PointsSummary.branch_id,
                    PointsSummary.rule_id,
                    PointsSummary.points,
                ).where(PointsSummary.member_id == member_id)
            ):
                groups[(period, rule_id, group_bucket(branch_id))] += sign * total
                for span in span_keys(period):
                    points[(span, branch_id)] += sign * total
        else:
            points = {}
        joined: dict[tuple[str, int], int] = {}
        if before.eligible != after.eligible:
            sign = 1 if after.eligible else -1
            for period, branch_id in connection.execute(
                select(Participation.period, Participation.branch_id).where(
                    Participation.member_id == member_id
                )
            ):
                joined[(period, branch_id)] = sign
        move_branches(connection, points, joined)
        counts: dict[tuple[str, bool, bool], int] = defaultdict(int)
        counts[(ROSTER, before.exempt, before.active)] -= 1
        counts[(ROSTER, after.exempt, after.active)] += 1
        for period, total in totals:
            if total != 0:
                counts[(period, before.exempt, before.active)] -= 1
                counts[(period, after.exempt, after.active)] += 1
        move_counts(connection, counts)
        move_groups(connection, groups)


def _bulk_statement(state: ORMExecuteState) -> None:
    """ORM bulk statements that change what the board tables are sums of (members, the
    summary, entries' status) bypass the flush hook and the ledger's deltas: the board
    tables are then recomputed before the commit. The app issues none on a live
    database (a transfer's update of pending entries' branch does not count); bulk
    loads and tests do."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    statement: Any = state.statement
    name = getattr(getattr(statement, "table", None), "name", None)
    if name in (Member.__tablename__, PointsSummary.__tablename__, "ledger_line") or (
        name == "entry" and (state.is_delete or state.is_insert)
    ):
        state.session.info[STALE] = True
    elif name == "entry":
        changed = {getattr(column, "key", str(column)) for column in _updated(statement)}
        if changed & {"status", "period"}:
            state.session.info[STALE] = True


def _updated(statement: Any) -> list[Any]:
    values = getattr(statement, "_values", None) or {}
    return list(values)


def _before_commit(session: Session) -> None:
    if session.info.pop(STALE, False):
        rebuild(session)


def _after_rollback(session: Session) -> None:
    session.info.pop(STALE, None)


def install(sessions: sessionmaker[Session]) -> None:
    """Keep the board totals with the roster in the sessions of ``sessions`` (a session
    hook of ``service.persistence.db.Database``)."""
    event.listen(sessions, "after_flush", _member_changes)
    event.listen(sessions, "do_orm_execute", _bulk_statement)
    event.listen(sessions, "before_commit", _before_commit)
    event.listen(sessions, "after_rollback", _after_rollback)
