"""Results lists published through the same chain as the month boards: a period's red
list (红榜), a year's 优秀 members, a round's branch stars (星级支部).

A results list is a ``Publication`` of another ``kind`` whose lines are
``PublishedResultRow``s; its digest covers its kind and lines and links to the
publication stored just before it, whatever its kind (``service.publication.chain``),
so ``publish verify`` checks it with the boards. Only what a public notice shows goes
in: name, branch, the points or total, the label (red, excellent, stars) and the rank.
A list is never changed: publishing the same kind and period again is refused.

The callers (``service.assessment``) check who may publish and what goes on the list;
this module stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import Conflict
from service.kernel.i18n import N_, Message
from service.persistence.assessment import PublishedResultRow
from service.persistence.models import Publication, PublicationKind
from service.publication.chain import result_dict, streamed_digest
from service.publication.state import lock_months


@dataclass(frozen=True)
class ResultLine:
    """One line of a results list, as the public notice shows it."""

    subject_id: int  # the member's id (red and 优秀 lists) or the branch's (stars)
    code: str
    name: str
    branch_id: int
    branch_name: str
    value: str  # "12.5" points, "86.4" a rating total
    label: str  # "red", "excellent", or the stars as text ("4")
    rank: int | None = None


def already_listed(kind: PublicationKind, period: str) -> Conflict:
    return Conflict(
        Message(
            N_("This list for %(period)s is already published; a published list is frozen."),
            {"period": period},
        )
    )


def publish_results(
    session: Session,
    actor: Principal,
    *,
    kind: PublicationKind,
    period: str,
    lines: list[ResultLine],
    ruleset_version: str,
    notice_days: int,
    now: datetime,
) -> Publication:
    """Store a results list as the next link of the chain, under the month lock (the
    lock that keeps the chain a line: two publications never take the same
    predecessor). Flushes; the caller commits with its own rows."""
    if kind is PublicationKind.MONTH:
        raise ValueError("a month's board is published by service.publication.publish")
    lock_months(session)
    if published_results(session, kind, period) is not None:
        raise already_listed(kind, period)
    published_at = now.astimezone(UTC).replace(microsecond=0)
    previous = session.scalar(select(Publication.digest).order_by(Publication.id.desc()).limit(1))
    publication = Publication(
        kind=kind,
        period=period,
        revision=1,
        published_at=published_at,
        published_by_id=actor.account_id,
        notice_days=notice_days,
        window_ends_at=published_at + timedelta(days=notice_days),
        ruleset_version=ruleset_version,
        previous_digest=previous or "",
        replaces_id=None,
        reason="",
    )
    rows = sorted((_row(line) for line in lines), key=lambda row: row["subject_id"])
    publication.digest = streamed_digest(publication, (), (), "", [result_dict(r) for r in rows])
    try:
        with session.begin_nested():
            session.add(publication)
    except IntegrityError as exc:
        raise already_listed(kind, period) from exc
    if rows:
        session.execute(
            insert(PublishedResultRow), [{**row, "publication_id": publication.id} for row in rows]
        )
    return publication


def _row(line: ResultLine) -> dict[str, Any]:
    return {
        "subject_id": line.subject_id,
        "code": line.code,
        "name": line.name,
        "branch_id": line.branch_id,
        "branch_name": line.branch_name,
        "value": line.value,
        "label": line.label,
        "rank": line.rank,
    }


def published_results(session: Session, kind: PublicationKind, period: str) -> Publication | None:
    return session.scalar(
        select(Publication).where(Publication.kind == kind, Publication.period == period)
    )


def result_lines(session: Session, publication_id: int) -> list[ResultLine]:
    """A published list's lines in rank order (then code), as stored."""
    rows = session.scalars(
        select(PublishedResultRow)
        .where(PublishedResultRow.publication_id == publication_id)
        .order_by(
            PublishedResultRow.rank.is_(None), PublishedResultRow.rank, PublishedResultRow.code
        )
    )
    return [
        ResultLine(
            subject_id=row.subject_id,
            code=row.code,
            name=row.name,
            branch_id=row.branch_id,
            branch_name=row.branch_name,
            value=row.value,
            label=row.label,
            rank=row.rank,
        )
        for row in rows
    ]


def published_lists(session: Session, kind: PublicationKind | None = None) -> list[Publication]:
    """Every published results list (of one kind), newest first."""
    query = select(Publication).where(Publication.kind != PublicationKind.MONTH)
    if kind is not None:
        query = query.where(Publication.kind == kind)
    return list(session.scalars(query.order_by(Publication.published_at.desc(), Publication.id)))
