"""The appraisals around one sheet: the list of a year's sheets (one row per branch the
actor oversees), the year's 优秀 list published through the publication chain, and the
check that recomputes every frozen sheet (``verify_appraisals``, ledger verify's
cousin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.access import (
    is_secretary_of,
    overseen_branch_ids,
    require_office,
)
from service.assessment.appraisal import appraisal_rules, sheet_digest, stored_inputs
from service.kernel.errors import Conflict
from service.kernel.i18n import N_, Message
from service.persistence.assessment import Appraisal, AppraisalLine, AppraisalStatus, Grade
from service.persistence.models import Branch, Member, Publication, PublicationKind
from service.persistence.pagination import Page, fetch_page
from service.publication.results import ResultLine, publish_results, published_results
from service.scoring.appraisal import ScoredLine, appraisal_score, suggest
from service.scoring.rules import Rulebook

NONE_APPROVED = N_(
    "No branch's appraisal of %(year)s is approved yet: there is nothing to publish."
)


@dataclass(frozen=True)
class AppraisalRow:
    branch_id: int
    branch_code: str
    branch_name: str
    appraisal_id: int | None
    status: AppraisalStatus | None
    members: int
    may_open: bool


def appraisals_for(
    session: Session, actor: Principal, year: int, *, page: int
) -> Page[AppraisalRow]:
    """One row per branch the actor oversees (every branch for the office, paged) with
    its appraisal of ``year``, if opened."""
    overseen = overseen_branch_ids(actor)
    statement = select(Branch.id, Branch.code, Branch.name).order_by(Branch.code, Branch.id)
    if overseen is not None:
        statement = statement.where(Branch.id.in_(sorted(overseen)))
    rows, total, page, pages = fetch_page(session, statement, page=page, size=50)
    ids = [row[0] for row in rows]
    sheets = {
        row[0]: (row[1], row[2])
        for row in session.execute(
            select(Appraisal.branch_id, Appraisal.id, Appraisal.status).where(
                Appraisal.year == year, Appraisal.branch_id.in_(ids)
            )
        )
    }
    counts: dict[int, int] = {}
    if sheets:
        for appraisal_id in (value[0] for value in sheets.values()):
            counts[appraisal_id] = len(
                session.scalars(
                    select(AppraisalLine.id).where(AppraisalLine.appraisal_id == appraisal_id)
                ).all()
            )
    items = []
    for branch_id, code, name in rows:
        sheet = sheets.get(branch_id)
        items.append(
            AppraisalRow(
                branch_id=branch_id,
                branch_code=code,
                branch_name=name,
                appraisal_id=sheet[0] if sheet else None,
                status=sheet[1] if sheet else None,
                members=counts.get(sheet[0], 0) if sheet else 0,
                may_open=sheet is None and is_secretary_of(actor, branch_id),
            )
        )
    return Page(items=items, total=total, page=page, pages=pages, size=50)


@dataclass(frozen=True)
class OwnLine:
    """A member's own line of an approved sheet: what the member may see of it."""

    year: int
    branch_name: str
    score: Decimal | None
    suggested: Grade | None
    grade: Grade | None
    veto_reason: str
    departure_reason: str


def own_appraisal_lines(session: Session, actor: Principal) -> list[OwnLine]:
    """The actor's own lines of approved sheets, the latest year first (nobody else's:
    another member's line is private to them and the branch's reviewers)."""
    if actor.member_id is None:
        return []
    rows = session.execute(
        select(Appraisal.year, Branch.name, AppraisalLine)
        .join(Appraisal, Appraisal.id == AppraisalLine.appraisal_id)
        .join(Branch, Branch.id == Appraisal.branch_id)
        .where(
            AppraisalLine.member_id == actor.member_id,
            Appraisal.status == AppraisalStatus.APPROVED,
        )
        .order_by(Appraisal.year.desc(), Appraisal.id)
    )
    return [
        OwnLine(
            year=year,
            branch_name=name,
            score=line.score,
            suggested=line.suggested,
            grade=line.grade,
            veto_reason=line.veto_reason if line.veto else "",
            departure_reason=line.departure_reason if line.grade != line.suggested else "",
        )
        for year, name, line in rows
    ]


# --- the 优秀 list -------------------------------------------------------------------------


def excellent_lines(session: Session, year: int) -> list[ResultLine]:
    """The 优秀 members of the year's approved sheets, the public fields only."""
    rows = session.execute(
        select(AppraisalLine.member_id, AppraisalLine.score, Member.code, Member.name, Branch)
        .join(Appraisal, Appraisal.id == AppraisalLine.appraisal_id)
        .join(Member, Member.id == AppraisalLine.member_id)
        .join(Branch, Branch.id == Appraisal.branch_id)
        .where(
            Appraisal.year == year,
            Appraisal.status == AppraisalStatus.APPROVED,
            AppraisalLine.grade == Grade.EXCELLENT,
        )
        .order_by(Branch.code, Member.code)
    )
    return [
        ResultLine(
            subject_id=member_id,
            code=code,
            name=name,
            branch_id=branch.id,
            branch_name=branch.name,
            value="" if score is None else str(score),
            label="excellent",
        )
        for member_id, score, code, name, branch in rows
    ]


def publish_excellent(
    session: Session, actor: Principal, rulebook: Rulebook, year: int, *, now: datetime
) -> Publication:
    """Publish the year's 优秀 list (the office): the approved sheets' 优秀 members, as a
    link of the publication chain. Once per year."""
    require_office(actor)
    ruleset, _policy = appraisal_rules(rulebook, year)
    approved = session.scalar(
        select(Appraisal.id)
        .where(Appraisal.year == year, Appraisal.status == AppraisalStatus.APPROVED)
        .limit(1)
    )
    if approved is None:
        raise Conflict(Message(NONE_APPROVED, {"year": year}))
    return publish_results(
        session,
        actor,
        kind=PublicationKind.EXCELLENT,
        period=str(year),
        lines=excellent_lines(session, year),
        ruleset_version=ruleset.version,
        notice_days=ruleset.notice_days,
        now=now,
    )


def excellent_published(session: Session, year: int) -> Publication | None:
    return published_results(session, PublicationKind.EXCELLENT, str(year))


# --- verify ------------------------------------------------------------------------------


def verify_appraisals(session: Session, rulebook: Rulebook) -> list[str]:
    """Recompute every approved sheet's scores and suggestions from its stored points and
    inputs, and its digest; one sentence per difference (empty: all agree)."""
    problems: list[str] = []
    appraisals = session.scalars(
        select(Appraisal)
        .where(Appraisal.status == AppraisalStatus.APPROVED)
        .order_by(Appraisal.year, Appraisal.branch_id)
    ).all()
    for appraisal in appraisals:
        branch = session.get(Branch, appraisal.branch_id)
        where = f"appraisal {appraisal.year} of {branch.code if branch else appraisal.branch_id}"
        ruleset = rulebook.version(appraisal.ruleset_version)
        if ruleset is None or ruleset.appraisal is None:
            problems.append(f"{where}: ruleset {appraisal.ruleset_version} has no appraisal")
            continue
        policy = ruleset.appraisal
        lines = session.scalars(
            select(AppraisalLine)
            .where(AppraisalLine.appraisal_id == appraisal.id)
            .order_by(AppraisalLine.member_id)
        ).all()
        codes = dict(
            session.execute(
                select(Member.id, Member.code).where(Member.id.in_([x.member_id for x in lines]))
            ).all()
        )
        scores = {x.id: appraisal_score(policy, x.points, stored_inputs(x)) for x in lines}
        suggested = suggest(
            policy, [ScoredLine(key=x.id, score=scores[x.id], veto=x.veto) for x in lines]
        )
        for line in lines:
            member = codes.get(line.member_id, str(line.member_id))
            if scores[line.id] != line.score:
                problems.append(
                    f"{where}, member {member}: stored score {line.score}, "
                    f"recomputed {scores[line.id]}"
                )
            expected = suggested[line.id]
            stored = None if line.suggested is None else line.suggested.value
            if (None if expected is None else expected.value) != stored:
                problems.append(
                    f"{where}, member {member}: stored suggestion {stored}, "
                    f"recomputed {None if expected is None else expected.value}"
                )
        if sheet_digest(appraisal, lines) != appraisal.digest:
            problems.append(f"{where}: the digest does not match the sheet's lines")
    return problems
