"""A branch's rating sheet in a round: what the office, the branch's instructor and its
secretary see (``rating_sheet``, ``round_page``) and do: the secretary self-scores the
assessed indicators with a note and an optional evidence photo and submits
(``self_assess``); the instructor or the office audits, keeping or changing each score
(a change needs a reason) and recording vetoes with their reasons (``audit``).

Everything here is private to the branch, its instructor and the office
(``service.assessment.access``); the public sees only the published stars.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.access import (
    NOT_FOUND,
    is_approver_of,
    is_secretary_of,
    overseen_branch_ids,
    require_approver,
    require_private,
    require_secretary,
)
from service.assessment.rating import get_round, rate_stored, round_policy, stored_inputs
from service.entries.evidence import (
    PhotoStore,
    PhotoUpload,
    StoredPhoto,
    prepare_photos,
    stored_photo,
    write_photo_files,
)
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.persistence.assessment import (
    BranchRating,
    RatingRound,
    RatingScore,
    RatingStatus,
    RatingVeto,
    RoundStatus,
)
from service.persistence.models import Branch
from service.persistence.pagination import PAGE_SIZE, Page, page_bounds
from service.scoring.policies import BranchRatingPolicy
from service.scoring.rating import RatingResult
from service.scoring.rules import Rulebook

NOTE_MAX = 2000
SCORE_FORMAT = N_("A score is a number from 0 to 100 with at most one decimal, e.g. 85.5.")
NO_ACCESS = N_("Only the organisation office, instructors and secretaries see branch ratings.")
ROUND_CLOSED = N_("This round is published; its sheets are frozen.")


def parse_score(text: str | None) -> Decimal | None:
    """A score from a form: 0 to 100, at most one decimal; None when empty; InvalidInput
    (under ``field``) for anything else (raised by the caller)."""
    value = (text or "").strip()
    if not value:
        return None
    if len(value) > 6 or not all(c in "0123456789." for c in value):
        raise ValueError(value)
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(value) from exc
    exponent = number.as_tuple().exponent
    if (
        not number.is_finite()
        or not 0 <= number <= 100
        or (isinstance(exponent, int) and exponent < -1)
    ):
        raise ValueError(value)
    return number.quantize(Decimal("0.1"))


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetScore:
    indicator: str
    self_score: Decimal | None
    self_note: str
    has_evidence: bool
    audited_score: Decimal | None
    audit_reason: str


@dataclass(frozen=True)
class Sheet:
    rating_round: RatingRound
    rating: BranchRating
    branch: Branch
    policy: BranchRatingPolicy
    computed: dict[str, dict[str, Any]]
    scores: dict[str, SheetScore]
    vetoes: dict[str, str]  # veto id: reason
    result: RatingResult
    may_self_assess: bool
    may_audit: bool

    @property
    def round_open(self) -> bool:
        return self.rating_round.status is RoundStatus.OPEN


def _rating(session: Session, round_id: int, branch_id: int) -> tuple[RatingRound, BranchRating]:
    rating_round = get_round(session, round_id)
    rating = session.scalar(
        select(BranchRating).where(
            BranchRating.round_id == round_id, BranchRating.branch_id == branch_id
        )
    )
    if rating is None:
        raise NotFound(Message(NOT_FOUND))
    return rating_round, rating


def rating_sheet(
    session: Session, actor: Principal, rulebook: Rulebook, round_id: int, branch_id: int
) -> Sheet:
    """The branch's sheet for the office, its instructor and its secretaries; NotFound
    to anyone else."""
    require_private(actor, member_id=None, branch_id=branch_id)
    rating_round, rating = _rating(session, round_id, branch_id)
    policy = round_policy(rulebook, rating_round)
    branch = session.get(Branch, branch_id)
    assert branch is not None
    rows = session.scalars(select(RatingScore).where(RatingScore.rating_id == rating.id)).all()
    scores = {
        row.indicator: SheetScore(
            indicator=row.indicator,
            self_score=row.self_score,
            self_note=row.self_note,
            has_evidence=bool(row.evidence_path),
            audited_score=row.audited_score,
            audit_reason=row.audit_reason,
        )
        for row in rows
    }
    vetoes = {
        veto: reason
        for veto, reason in session.execute(
            select(RatingVeto.veto, RatingVeto.reason).where(RatingVeto.rating_id == rating.id)
        )
    }
    effective, veto_ids = stored_inputs(session, [rating.id])
    result = rate_stored(policy, rating, effective.get(rating.id, {}), veto_ids.get(rating.id, []))
    is_open = rating_round.status is RoundStatus.OPEN
    return Sheet(
        rating_round=rating_round,
        rating=rating,
        branch=branch,
        policy=policy,
        computed=json.loads(rating.computed),
        scores=scores,
        vetoes=vetoes,
        result=result,
        may_self_assess=is_open
        and rating.status is RatingStatus.DRAFT
        and is_secretary_of(actor, branch_id),
        may_audit=is_open
        and rating.status is not RatingStatus.DRAFT
        and is_approver_of(actor, branch_id),
    )


@dataclass(frozen=True)
class RoundRow:
    branch_id: int
    code: str
    name: str
    status: RatingStatus
    total: Decimal | None
    stars: int | None


@dataclass(frozen=True)
class RoundView:
    rating_round: RatingRound
    page: Page[RoundRow]
    counts: dict[str, int] = field(default_factory=dict)  # status: branches (in scope)


def _scope(actor: Principal) -> frozenset[int] | None:
    scope = overseen_branch_ids(actor)
    if scope is not None and not scope:
        raise PermissionDenied(Message(NO_ACCESS))
    return scope


def list_rounds(session: Session, actor: Principal) -> list[RatingRound]:
    """Every round, newest period first (for those who oversee a branch)."""
    _scope(actor)
    return list(session.scalars(select(RatingRound).order_by(RatingRound.period.desc())))


def round_page(
    session: Session,
    actor: Principal,
    round_id: int,
    *,
    status: RatingStatus | None = None,
    page: int = 1,
) -> RoundView:
    """The round's branches the actor oversees (the office: all), by code, a page at a
    time, optionally with one status only; with the count of each status."""
    scope = _scope(actor)
    rating_round = get_round(session, round_id)
    where: list[Any] = [BranchRating.round_id == round_id]
    if scope is not None:
        where.append(BranchRating.branch_id.in_(sorted(scope)))
    counts = {
        str(state): int(count)
        for state, count in session.execute(
            select(BranchRating.status, func.count()).where(*where).group_by(BranchRating.status)
        )
    }
    if status is not None:
        where.append(BranchRating.status == status)
    total = session.scalar(select(func.count()).select_from(BranchRating).where(*where)) or 0
    pages, number = page_bounds(total, page, PAGE_SIZE)
    rows = session.execute(
        select(
            BranchRating.branch_id,
            Branch.code,
            Branch.name,
            BranchRating.status,
            BranchRating.total,
            BranchRating.stars,
        )
        .join(Branch, Branch.id == BranchRating.branch_id)
        .where(*where)
        .order_by(Branch.code, Branch.id)
        .limit(PAGE_SIZE)
        .offset((number - 1) * PAGE_SIZE)
    )
    items = [RoundRow(*row) for row in rows]
    return RoundView(rating_round, Page(items, total, number, pages, PAGE_SIZE), counts)


# --- self-assessment -------------------------------------------------------------------


@dataclass(frozen=True)
class SelfScore:
    """What the secretary typed for one assessed indicator."""

    score: str
    note: str
    photo: PhotoUpload | None = None


def _writable(session: Session, round_id: int, branch_id: int) -> tuple[RatingRound, BranchRating]:
    rating_round, rating = _rating(session, round_id, branch_id)
    if rating_round.status is not RoundStatus.OPEN:
        raise Conflict(Message(ROUND_CLOSED))
    return rating_round, rating


def _score_rows(session: Session, rating: BranchRating) -> dict[str, RatingScore]:
    return {
        row.indicator: row
        for row in session.scalars(select(RatingScore).where(RatingScore.rating_id == rating.id))
    }


def _refresh_total(
    policy: BranchRatingPolicy,
    rating: BranchRating,
    rows: Mapping[str, RatingScore],
    vetoes: Sequence[str],
) -> RatingResult:
    """Rate from the rows in hand (no flush, no query: a town's round stays quick)."""
    scores = {
        indicator: row.audited_score if row.audited_score is not None else row.self_score
        for indicator, row in rows.items()
    }
    result = rate_stored(policy, rating, scores, list(vetoes))
    rating.total, rating.stars = result.total, result.stars
    return result


def _veto_rows(session: Session, rating: BranchRating) -> dict[str, RatingVeto]:
    return {
        row.veto: row
        for row in session.scalars(select(RatingVeto).where(RatingVeto.rating_id == rating.id))
    }


def self_assess(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    round_id: int,
    branch_id: int,
    entries: Mapping[str, SelfScore],
    *,
    submit: bool,
    store: PhotoStore | None,
    now: datetime,
) -> BranchRating:
    """Save the branch's own scores (its secretary or the office), and with ``submit``
    send them to the audit: then every assessed indicator needs a score and a note.
    InvalidInput names each field (``score_<id>``, ``note_<id>``, ``photo_<id>``)."""
    require_private(actor, member_id=None, branch_id=branch_id)
    require_secretary(actor, branch_id)
    rating_round, rating = _writable(session, round_id, branch_id)
    if rating.status is not RatingStatus.DRAFT:
        raise Conflict(Message(N_("The self-assessment is submitted; the audit comes next.")))
    policy = round_policy(rulebook, rating_round)
    errors: dict[str, Message] = {}
    parsed: dict[str, tuple[Decimal | None, str]] = {}
    for indicator in policy.assessed():
        given = entries.get(indicator.id, SelfScore("", ""))
        note = given.note.strip()
        try:
            score = parse_score(given.score)
        except ValueError:
            errors[f"score_{indicator.id}"] = Message(SCORE_FORMAT)
            continue
        if len(note) > NOTE_MAX:
            errors[f"note_{indicator.id}"] = Message(
                N_("At most %(max)d characters."), {"max": NOTE_MAX}
            )
        if submit and score is None:
            errors[f"score_{indicator.id}"] = Message(N_("Give a score before submitting."))
        if submit and not note:
            errors[f"note_{indicator.id}"] = Message(N_("Say what the score rests on."))
        parsed[indicator.id] = (score, note)
    photos: dict[str, Any] = {}
    for indicator_id, given in entries.items():
        if given.photo is None or policy.indicator(indicator_id) is None:
            continue
        if store is None:
            raise ValueError("evidence photos need a photo store")
        prepared, problem = prepare_photos([given.photo], store)
        if problem is not None:
            errors[f"photo_{indicator_id}"] = problem
        else:
            photos[indicator_id] = prepared[0]
    if errors:
        raise InvalidInput(errors)
    rows = _score_rows(session, rating)
    for indicator_id, (score, note) in parsed.items():
        row = rows.get(indicator_id)
        if row is None:
            row = RatingScore(rating_id=rating.id, indicator=indicator_id)
            rows[indicator_id] = row
            session.add(row)
        row.self_score, row.self_note = score, note
        if indicator_id in photos and store is not None:
            row.evidence_path = write_photo_files(session, store, photos[indicator_id])
    if submit:
        rating.status = RatingStatus.SUBMITTED
        rating.submitted_by_id = actor.account_id
        rating.submitted_at = now
    # A draft has no veto: vetoes are recorded by the audit, after which the sheet is
    # never a draft again.
    _refresh_total(policy, rating, rows, ())
    session.flush()
    return rating


def evidence_photo(
    session: Session,
    actor: Principal,
    store: PhotoStore,
    round_id: int,
    branch_id: int,
    indicator: str,
    *,
    thumbnail: bool = False,
) -> StoredPhoto:
    """An assessed indicator's evidence photo, for those who see the sheet."""
    require_private(actor, member_id=None, branch_id=branch_id)
    _round, rating = _rating(session, round_id, branch_id)
    row = _score_rows(session, rating).get(indicator)
    if row is None or not row.evidence_path:
        raise NotFound(Message(N_("No such photo.")))
    content_type = "image/png" if row.evidence_path.endswith(".png") else "image/jpeg"
    found = stored_photo(
        store,
        row.evidence_path,
        content_type,
        stem=f"rating-{round_id}-{branch_id}-{indicator}",
        thumbnail=thumbnail,
    )
    if found is None:
        raise NotFound(Message(N_("The photo file is missing on the server.")))
    return found


# --- audit -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditScore:
    """The auditor's score for one assessed indicator (empty: keep the branch's) and
    the reason for a change."""

    score: str
    reason: str = ""


def audit(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    round_id: int,
    branch_id: int,
    scores: Mapping[str, AuditScore],
    vetoes: Mapping[str, str],
    *,
    now: datetime,
) -> BranchRating:
    """Audit a submitted sheet (the branch's instructor or the office): each assessed
    indicator keeps the branch's score or gets the auditor's, with a reason when it
    differs; ``vetoes`` {veto id: reason} replaces the recorded vetoes (each needs a
    reason). The sheet is then audited; it may be audited again until publication."""
    require_private(actor, member_id=None, branch_id=branch_id)
    require_approver(actor, branch_id)
    rating_round, rating = _writable(session, round_id, branch_id)
    if rating.status is RatingStatus.DRAFT:
        raise Conflict(Message(N_("The branch has not submitted its self-assessment yet.")))
    policy = round_policy(rulebook, rating_round)
    rows = _score_rows(session, rating)
    recorded = _veto_rows(session, rating)
    errors: dict[str, Message] = {}
    decided: dict[str, tuple[Decimal, str]] = {}
    for indicator in policy.assessed():
        given = scores.get(indicator.id, AuditScore(""))
        row = rows.get(indicator.id)
        own = row.self_score if row is not None else None
        reason = given.reason.strip()
        try:
            score = parse_score(given.score)
        except ValueError:
            errors[f"audit_{indicator.id}"] = Message(SCORE_FORMAT)
            continue
        if score is None:
            score = own
        if score is None:
            errors[f"audit_{indicator.id}"] = Message(N_("Give a score."))
            continue
        if own is not None and score != own and not reason:
            errors[f"reason_{indicator.id}"] = Message(
                N_("Say why the score differs from the branch's own.")
            )
        if len(reason) > NOTE_MAX:
            errors[f"reason_{indicator.id}"] = Message(
                N_("At most %(max)d characters."), {"max": NOTE_MAX}
            )
        decided[indicator.id] = (score, reason)
    for veto_id, reason in vetoes.items():
        if policy.veto(veto_id) is None:
            errors[f"veto_{veto_id}"] = Message(N_("No such veto item in this ruleset."))
        elif not reason.strip():
            errors[f"veto_reason_{veto_id}"] = Message(N_("A veto needs its reason."))
        elif len(reason.strip()) > NOTE_MAX:
            errors[f"veto_reason_{veto_id}"] = Message(
                N_("At most %(max)d characters."), {"max": NOTE_MAX}
            )
    if errors:
        raise InvalidInput(errors)
    for indicator_id, (score, reason) in decided.items():
        row = rows.get(indicator_id)
        if row is None:
            row = RatingScore(rating_id=rating.id, indicator=indicator_id)
            rows[indicator_id] = row
            session.add(row)
        if row.audited_score != score or row.audit_reason != reason:
            row.audited_score, row.audit_reason = score, reason
            row.audited_by_id, row.audited_at = actor.account_id, now
    for veto_id, veto_row in recorded.items():
        if veto_id not in vetoes:
            session.delete(veto_row)
    for veto_id, reason in vetoes.items():
        existing = recorded.get(veto_id)
        if existing is None:
            session.add(
                RatingVeto(
                    rating_id=rating.id,
                    veto=veto_id,
                    reason=reason.strip(),
                    recorded_by_id=actor.account_id,
                    recorded_at=now,
                )
            )
        elif existing.reason != reason.strip():
            existing.reason = reason.strip()
    rating.status = RatingStatus.AUDITED
    rating.audited_by_id, rating.audited_at = actor.account_id, now
    _refresh_total(policy, rating, rows, list(vetoes))
    session.flush()
    return rating


def waiting_branches(session: Session, round_id: int) -> Sequence[str]:
    """The names of the round's branches not audited yet, by code."""
    return (
        session.execute(
            select(Branch.name)
            .join(BranchRating, BranchRating.branch_id == Branch.id)
            .where(BranchRating.round_id == round_id, BranchRating.status != RatingStatus.AUDITED)
            .order_by(Branch.code)
        )
        .scalars()
        .all()
    )
