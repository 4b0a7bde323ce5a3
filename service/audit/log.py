"""Reading the audit log: filters, a page at a time for the office's page, and the whole
selection as CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from service.audit.capture import dump_values
from service.audit.events import SIGN_IN
from service.kernel.spreadsheet import text_cell
from service.persistence.models import (
    Account,
    AuditEvent,
    Branch,
)
from service.persistence.pagination import PAGE_SIZE, Page, page_bounds


@dataclass(frozen=True)
class AuditFilter:
    account: str | None = None  # username: what they did, and sign-ins tried with it
    branch: str | None = None  # branch code
    kind: str | None = None  # a full kind ("entry.approve") or an object type ("entry")
    since: date | None = None  # town dates, inclusive
    until: date | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor_id: int | None
    actor: str | None  # username
    actor_name: str | None
    ip_address: str
    kind: str
    object_type: str
    object_id: str
    branch_id: int | None
    branch: str | None  # name
    summary: str
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def fields(self) -> list[tuple[str, Any, Any]]:
        """(field, before, after) of each recorded column, in name order."""
        names = sorted(set(self.before) | set(self.after))
        return [(name, self.before.get(name), self.after.get(name)) for name in names]


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def _filtered(query: Select[Any], criteria: AuditFilter, timezone: str) -> Select[Any]:
    zone = ZoneInfo(timezone)
    if criteria.account:
        username = criteria.account.strip()
        # The person's own actions, and every sign-in attempt made with their username
        # (a failed one has no actor: nobody was signed in), known account or not.
        query = query.where(
            or_(
                AuditEvent.actor_id.in_(select(Account.id).where(Account.username == username)),
                and_(
                    AuditEvent.object_type == SIGN_IN,
                    func.lower(AuditEvent.summary) == username.lower(),
                ),
            )
        )
    if criteria.branch:
        query = query.where(
            AuditEvent.branch_id.in_(select(Branch.id).where(Branch.code == criteria.branch))
        )
    if criteria.kind:
        if "." in criteria.kind:
            query = query.where(AuditEvent.kind == criteria.kind)
        else:
            query = query.where(AuditEvent.object_type == criteria.kind)
    if criteria.since:
        query = query.where(AuditEvent.at >= _day_start(criteria.since, zone))
    if criteria.until:
        query = query.where(AuditEvent.at < _day_start(criteria.until + timedelta(days=1), zone))
    return query


def _rows_query() -> Any:
    actor = aliased(Account)
    return (
        select(
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.actor_id,
            actor.username,
            actor.display_name,
            AuditEvent.ip_address,
            AuditEvent.kind,
            AuditEvent.object_type,
            AuditEvent.object_id,
            AuditEvent.branch_id,
            Branch.name,
            AuditEvent.summary,
            AuditEvent.before,
            AuditEvent.after,
        )
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .outerjoin(Branch, Branch.id == AuditEvent.branch_id)
    )


def _to_row(row: Any) -> AuditRow:
    return AuditRow(
        id=row[0],
        at=row[1],
        actor_id=row[2],
        actor=row[3],
        actor_name=row[4],
        ip_address=row[5],
        kind=row[6],
        object_type=row[7],
        object_id=row[8],
        branch_id=row[9],
        branch=row[10],
        summary=row[11],
        before=json.loads(row[12]) if row[12] else {},
        after=json.loads(row[13]) if row[13] else {},
    )


def count_events(session: Session, criteria: AuditFilter, *, timezone: str) -> int:
    query = _filtered(select(func.count()).select_from(AuditEvent), criteria, timezone)
    return session.scalar(query) or 0


def audit_page(
    session: Session,
    criteria: AuditFilter,
    *,
    timezone: str,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page[AuditRow]:
    """One page of the filtered log, newest first."""
    total = count_events(session, criteria, timezone=timezone)
    pages, page = page_bounds(total, page, size)
    query = _filtered(_rows_query(), criteria, timezone).order_by(
        AuditEvent.at.desc(), AuditEvent.id.desc()
    )
    result = session.execute(query.limit(size).offset((page - 1) * size))
    items = [_to_row(row) for row in result]
    return Page(items=items, total=total, page=page, pages=pages, size=size)


def iter_events(
    session: Session, criteria: AuditFilter, *, timezone: str, limit: int | None = None
) -> Iterator[AuditRow]:
    """Every filtered event, newest first."""
    query = _filtered(_rows_query(), criteria, timezone).order_by(
        AuditEvent.at.desc(), AuditEvent.id.desc()
    )
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query.execution_options(yield_per=1000)):
        yield _to_row(row)


CSV_COLUMNS = (
    "id",
    "at",
    "account",
    "ip_address",
    "kind",
    "object_type",
    "object_id",
    "branch",
    "summary",
    "before",
    "after",
)


def to_csv(rows: Iterator[AuditRow], headings: Sequence[str], *, timezone: str) -> bytes:
    """The rows as CSV, UTF-8 with a BOM (Excel reads the Chinese names); times in town
    time with their offset."""
    zone = ZoneInfo(timezone)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headings)
    for row in rows:
        writer.writerow(
            [
                text_cell(value)
                for value in (
                    row.id,
                    row.at.astimezone(zone).isoformat(timespec="seconds"),
                    row.actor or "",
                    row.ip_address,
                    row.kind,
                    row.object_type,
                    row.object_id,
                    row.branch or "",
                    row.summary,
                    dump_values(row.before) if row.before else "",
                    dump_values(row.after) if row.after else "",
                )
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
