"""Branch rating rounds (星级支部): the office opens a round for a period, which rates
every branch on the ruleset's computed indicators at once; each branch self-scores the
assessed ones and the instructor or the office audits them (``rating_sheet``); once
every branch is audited the office publishes the stars through the publication chain;
``verify_ratings`` recomputes every published round and names each difference.

A round's period is a year ("2025") or, when the ruleset rates quarterly, a quarter
("2026-Q3"); its policy is the ``[branch_rating]`` of the ruleset in force on the
period's last day. A round may be opened from the period's last month on (a year's
from December: the office prepares the sheets while the year closes), never earlier.

The computed values are taken when the round opens and stored with what explains
them (``BranchRating.computed``, JSON {metric: {"value": text, ...its parts}}):

- points_per_member and participation: the branch board's figures for the period
  (``service.boards.live.branch_board``: points of non-exempt members ÷ members, and
  the share of members with an approved entry);
- meetings: meetings held ÷ required by the year's compliance
  (``service.meetings.compliance``; each type counts at most what it requires; 1 when
  nothing is required);
- suggestions: the branch's approved entries adopted or implemented in the period;
- warnings_closed: the share of the branch's warning cases opened in the period that
  are closed (1 when none was opened).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, insert, or_, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.access import require_office
from service.boards.live import branch_board
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.kernel.periods import is_year
from service.meetings.compliance import compliance_table
from service.persistence.assessment import (
    BranchRating,
    CaseStatus,
    RatingRound,
    RatingScore,
    RatingStatus,
    RatingVeto,
    RoundStatus,
    WarningCase,
)
from service.persistence.models import Branch, Entry, EntryStatus, PublicationKind
from service.publication.results import ResultLine, publish_results, result_lines
from service.scoring.policies import BranchRatingPolicy, Metric
from service.scoring.rating import RatingResult, rank_totals, rate
from service.scoring.rules import Rulebook, Ruleset

ROUND_PERIOD = re.compile(r"([0-9]{4})(?:-Q([1-4]))?")
RATIO_PLACES = Decimal("0.0001")
CENT = Decimal("0.01")

NO_SUCH_ROUND = N_("No such rating round.")
PERIOD_FORMAT = N_("A rating is for a year (2025) or a quarter (2026-Q3).")


@dataclass(frozen=True)
class RoundPeriod:
    key: str  # "2025" or "2026-Q3"
    year: int
    quarter: int | None
    first_day: date
    last_day: date

    @property
    def board_key(self) -> str:
        return self.key


def parse_round_period(text: str) -> RoundPeriod:
    match = ROUND_PERIOD.fullmatch((text or "").strip())
    if match is None or not is_year(int(match.group(1))):
        raise InvalidInput({"period": Message(PERIOD_FORMAT)})
    year = int(match.group(1))
    if match.group(2) is None:
        return RoundPeriod(f"{year:04d}", year, None, date(year, 1, 1), date(year, 12, 31))
    quarter = int(match.group(2))
    first = date(year, (quarter - 1) * 3 + 1, 1)
    last = date(year + 1, 1, 1) if quarter == 4 else date(year, quarter * 3 + 1, 1)
    return RoundPeriod(f"{year:04d}-Q{quarter}", year, quarter, first, last - timedelta(days=1))


def policy_for(rulebook: Rulebook, period: RoundPeriod) -> tuple[Ruleset, BranchRatingPolicy]:
    """The ruleset in force on the period's last day and its ``[branch_rating]``."""
    ruleset = rulebook.in_force(period.last_day)
    if ruleset is None or ruleset.branch_rating is None:
        raise InvalidInput(
            {
                "period": Message(
                    N_("No ruleset in force on %(day)s rates branches."),
                    {"day": period.last_day.isoformat()},
                )
            }
        )
    return ruleset, ruleset.branch_rating


def round_policy(rulebook: Rulebook, rating_round: RatingRound) -> BranchRatingPolicy:
    """The policy a round was opened with (its stored ruleset version)."""
    ruleset = rulebook.version(rating_round.ruleset_version)
    if ruleset is None or ruleset.branch_rating is None:
        raise Conflict(
            Message(
                N_("Ruleset %(version)s of this round is not in the rulebook."),
                {"version": rating_round.ruleset_version},
            )
        )
    return ruleset.branch_rating


def get_round(session: Session, round_id: int) -> RatingRound:
    found = session.get(RatingRound, round_id)
    if found is None:
        raise NotFound(Message(NO_SUCH_ROUND))
    return found


# --- the computed values --------------------------------------------------------------


def _ratio(part: int, whole: int, *, empty: Decimal) -> str:
    if whole == 0:
        return str(empty)
    share = (Decimal(part) / Decimal(whole)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)
    return str(share.normalize()) if share else "0"  # a share is 0 to 1: never "1E+2"


def _utc_bounds(period: RoundPeriod, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    start = datetime.combine(period.first_day, time(0), zone).astimezone(UTC)
    end = datetime.combine(period.last_day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def compute_metrics(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    period: RoundPeriod,
    *,
    timezone: str,
) -> dict[int, dict[str, dict[str, Any]]]:
    """{branch id: {metric: {"value": text, ...its parts}}} for every branch: a handful
    of grouped queries for the whole town."""
    result: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for ranked in branch_board(session, period.board_key).by_total:
        line = ranked.item
        result[line.branch_id][Metric.POINTS_PER_MEMBER] = {
            "value": str(line.per_member),
            "points": str(line.total),
            "members": line.members,
        }
        result[line.branch_id][Metric.PARTICIPATION] = {
            "value": _ratio(line.participants, line.members, empty=Decimal(0)),
            "participants": line.participants,
            "members": line.members,
        }
    # As of the day after the period: everything due by its end is due.
    as_of = period.last_day + timedelta(days=1)
    for row in compliance_table(session, actor, rulebook, period.year, as_of=as_of):
        applying = [kind for kind in row.kinds if kind.applies and kind.due_so_far > 0]
        required = sum(kind.due_so_far for kind in applying)
        held = sum(min(kind.held, kind.due_so_far) for kind in applying)
        result[row.branch_id][Metric.MEETINGS] = {
            "value": _ratio(held, required, empty=Decimal(1)),
            "held": held,
            "required": required,
        }
    first, last = period.first_day, period.last_day
    adopted = Entry.adopted_on.between(first, last)
    implemented = Entry.implemented_on.between(first, last)
    suggestions = session.execute(
        select(
            Entry.branch_id,
            func.count(),
            func.sum(case((adopted, 1), else_=0)),
            func.sum(case((implemented, 1), else_=0)),
        )
        .where(Entry.status == EntryStatus.APPROVED, or_(adopted, implemented))
        .group_by(Entry.branch_id)
    )
    counted = {
        branch_id: (int(count), int(adopted_count or 0), int(implemented_count or 0))
        for branch_id, count, adopted_count, implemented_count in suggestions
    }
    start, end = _utc_bounds(period, timezone)
    cases = session.execute(
        select(WarningCase.branch_id, WarningCase.status, func.count())
        .where(WarningCase.opened_at >= start, WarningCase.opened_at < end)
        .group_by(WarningCase.branch_id, WarningCase.status)
    )
    opened: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for branch_id, status, count in cases:
        opened[branch_id][0] += count
        if status != CaseStatus.OPEN:
            opened[branch_id][1] += count
    for branch_id, metrics in result.items():
        count, adopted_count, implemented_count = counted.get(branch_id, (0, 0, 0))
        metrics[Metric.SUGGESTIONS] = {
            "value": str(count),
            "adopted": adopted_count,
            "implemented": implemented_count,
        }
        total, closed = opened.get(branch_id, (0, 0))
        metrics[Metric.WARNINGS_CLOSED] = {
            "value": _ratio(closed, total, empty=Decimal(1)),
            "closed": closed,
            "opened": total,
        }
    return dict(result)


def metric_values(computed: str | dict[str, Any]) -> dict[str, Decimal]:
    """{metric: value} from a rating's stored ``computed`` JSON."""
    data = json.loads(computed) if isinstance(computed, str) else computed
    return {name: Decimal(str(parts["value"])) for name, parts in data.items()}


# --- opening a round ------------------------------------------------------------------


def open_round(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    period_text: str,
    *,
    today: date,
    timezone: str,
    now: datetime,
) -> RatingRound:
    """Open the round of ``period_text`` (office only): a draft rating per branch with
    its computed values. Refused twice, before the period's last month, and for a
    quarter when the ruleset rates only years."""
    require_office(actor)
    period = parse_round_period(period_text)
    ruleset, policy = policy_for(rulebook, period)
    if period.quarter is not None and not policy.quarterly:
        raise InvalidInput(
            {
                "period": Message(
                    N_("Ruleset %(version)s rates branches by the year only."),
                    {"version": ruleset.version},
                )
            }
        )
    opens_on = period.last_day.replace(day=1)
    if today < opens_on:
        raise InvalidInput(
            {
                "period": Message(
                    N_("The round of %(period)s can be opened from %(day)s on."),
                    {"period": period.key, "day": opens_on.isoformat()},
                )
            }
        )
    if session.scalar(select(RatingRound.id).where(RatingRound.period == period.key)):
        raise Conflict(
            Message(N_("The round of %(period)s is already open."), {"period": period.key})
        )
    rating_round = RatingRound(
        period=period.key,
        ruleset_version=ruleset.version,
        status=RoundStatus.OPEN,
        opened_by_id=actor.account_id,
        opened_at=now,
    )
    session.add(rating_round)
    session.flush()
    metrics = compute_metrics(session, actor, rulebook, period, timezone=timezone)
    branch_ids = session.scalars(select(Branch.id).order_by(Branch.id)).all()
    if branch_ids:
        session.execute(
            insert(BranchRating),
            [
                {
                    "round_id": rating_round.id,
                    "branch_id": branch_id,
                    "status": RatingStatus.DRAFT,
                    "computed": json.dumps(metrics.get(branch_id, {}), sort_keys=True),
                }
                for branch_id in branch_ids
            ],
        )
    return rating_round


# --- rating from what is stored --------------------------------------------------------


def stored_inputs(
    session: Session, rating_ids: list[int]
) -> tuple[dict[int, dict[str, Decimal | None]], dict[int, list[str]]]:
    """({rating id: {indicator: score}}, {rating id: [veto ids]}): each assessed
    indicator's audited score if audited, else the branch's own."""
    scores: dict[int, dict[str, Decimal | None]] = defaultdict(dict)
    vetoes: dict[int, list[str]] = defaultdict(list)
    if not rating_ids:
        return scores, vetoes
    for start in range(0, len(rating_ids), 500):
        chunk = rating_ids[start : start + 500]
        for rating_id, indicator, own, audited in session.execute(
            select(
                RatingScore.rating_id,
                RatingScore.indicator,
                RatingScore.self_score,
                RatingScore.audited_score,
            ).where(RatingScore.rating_id.in_(chunk))
        ):
            scores[rating_id][indicator] = audited if audited is not None else own
        for rating_id, veto in session.execute(
            select(RatingVeto.rating_id, RatingVeto.veto).where(RatingVeto.rating_id.in_(chunk))
        ):
            vetoes[rating_id].append(veto)
    return scores, vetoes


def rate_stored(
    policy: BranchRatingPolicy,
    rating: BranchRating | Any,
    scores: dict[str, Decimal | None],
    vetoes: list[str],
) -> RatingResult:
    return rate(policy, metric_values(rating.computed), scores, vetoes)


# --- publishing -----------------------------------------------------------------------


def publish_round(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    round_id: int,
    *,
    now: datetime,
) -> RatingRound:
    """Publish the round's stars (office only) once every branch is audited: one line
    per branch with its total, its stars (0 under a veto, whose reason stays private)
    and its rank by total (ties share a rank)."""
    require_office(actor)
    rating_round = get_round(session, round_id)
    if rating_round.status is RoundStatus.PUBLISHED:
        raise Conflict(
            Message(
                N_("The stars of %(period)s are already published."),
                {"period": rating_round.period},
            )
        )
    policy = round_policy(rulebook, rating_round)
    waiting = (
        session.execute(
            select(Branch.name)
            .join(BranchRating, BranchRating.branch_id == Branch.id)
            .where(
                BranchRating.round_id == round_id,
                BranchRating.status != RatingStatus.AUDITED,
            )
            .order_by(Branch.code)
        )
        .scalars()
        .all()
    )
    if waiting:
        shown = "、".join(waiting[:10]) + ("…" if len(waiting) > 10 else "")
        raise Conflict(
            Message(
                N_("%(count)d branches are not audited yet: %(names)s."),
                {"count": len(waiting), "names": shown},
            )
        )
    rows = session.execute(
        select(BranchRating, Branch.code, Branch.name)
        .join(Branch, Branch.id == BranchRating.branch_id)
        .where(BranchRating.round_id == round_id)
    ).all()
    scores, vetoes = stored_inputs(session, [row[0].id for row in rows])
    totals: dict[int, tuple[Decimal, int]] = {}
    names: dict[int, tuple[str, str]] = {}
    for rating, code, name in rows:
        result = rate_stored(policy, rating, scores.get(rating.id, {}), vetoes.get(rating.id, []))
        if result.total is None or result.stars is None:
            raise Conflict(
                Message(
                    N_("%(branch)s has an assessed indicator without a score."), {"branch": name}
                )
            )
        rating.total, rating.stars = result.total, result.stars
        totals[rating.branch_id] = (result.total, result.stars)
        names[rating.branch_id] = (code, name)
    lines = [
        ResultLine(
            subject_id=standing.subject_id,
            code=names[standing.subject_id][0],
            name=names[standing.subject_id][1],
            branch_id=standing.subject_id,
            branch_name=names[standing.subject_id][1],
            value=str(standing.total),
            label=str(standing.stars),
            rank=standing.rank,
        )
        for standing in rank_totals(totals)
    ]
    ruleset = rulebook.version(rating_round.ruleset_version)
    publication = publish_results(
        session,
        actor,
        kind=PublicationKind.BRANCH_STARS,
        period=rating_round.period,
        lines=lines,
        ruleset_version=rating_round.ruleset_version,
        notice_days=ruleset.notice_days if ruleset is not None else 7,
        now=now,
    )
    rating_round.status = RoundStatus.PUBLISHED
    rating_round.publication_id = publication.id
    session.flush()
    return rating_round


# --- verification ---------------------------------------------------------------------


def verify_ratings(session: Session, rulebook: Rulebook) -> list[str]:
    """Recompute every published round's totals, stars and ranks from the stored
    computed values, scores and vetoes, compare them with its published list, and name
    each difference (an empty list: all agree)."""
    problems: list[str] = []
    published = session.scalars(
        select(RatingRound)
        .where(RatingRound.status == RoundStatus.PUBLISHED)
        .order_by(RatingRound.period)
    ).all()
    for rating_round in published:
        label = f"branch stars {rating_round.period}"
        ruleset = rulebook.version(rating_round.ruleset_version)
        if ruleset is None or ruleset.branch_rating is None:
            problems.append(f"{label}: ruleset {rating_round.ruleset_version} is missing")
            continue
        if rating_round.publication_id is None:
            problems.append(f"{label}: marked published without a publication")
            continue
        ratings = session.execute(
            select(BranchRating, Branch.code)
            .join(Branch, Branch.id == BranchRating.branch_id)
            .where(BranchRating.round_id == rating_round.id)
        ).all()
        scores, vetoes = stored_inputs(session, [rating.id for rating, _ in ratings])
        totals: dict[int, tuple[Decimal, int]] = {}
        codes: dict[int, str] = {}
        for rating, code in ratings:
            codes[rating.branch_id] = code
            result = rate_stored(
                ruleset.branch_rating, rating, scores.get(rating.id, {}), vetoes.get(rating.id, [])
            )
            if result.total is None or result.stars is None:
                problems.append(f"{label}: branch {code} has an assessed indicator without a score")
                continue
            totals[rating.branch_id] = (result.total, result.stars)
        expected = {s.subject_id: s for s in rank_totals(totals)}
        lines = {
            line.subject_id: line for line in result_lines(session, rating_round.publication_id)
        }
        for branch_id in sorted(set(expected) | set(lines)):
            code = codes.get(branch_id, str(branch_id))
            want, got = expected.get(branch_id), lines.get(branch_id)
            if want is None:
                problems.append(f"{label}: branch {code} is published but not rated")
            elif got is None:
                problems.append(f"{label}: branch {code} is rated but not on the list")
            else:
                for what, recomputed, shown in (
                    ("total", str(want.total), got.value),
                    ("stars", str(want.stars), got.label),
                    ("rank", want.rank, got.rank),
                ):
                    if recomputed != shown:
                        problems.append(
                            f"{label}: branch {code} {what} published {shown}, "
                            f"recomputed {recomputed}"
                        )
    return problems
