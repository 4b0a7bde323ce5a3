"""The demo town's branch stars (星级支部): last year's round, through the rating services.

The office opens the round of the year before ``until`` (the ruleset in force on its
31 December decides the indicators: 2025.1's three assessed ones), every branch
self-scores (the demo secretary their own branch, the office the others, as a branch
without an account would hand in its sheet) and is audited (the demo instructor their
branches, the office the others), a few audits lower a score with a reason, one branch
is vetoed, and the office publishes the stars.

The spread is drawn with a generator of its own (the rest of the town is the same
without it): about 15 % of branches five stars, most three or four, a few one or two.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.rating import open_round, publish_round, round_policy
from service.assessment.rating_sheet import AuditScore, SelfScore, audit, self_assess
from service.scoring.rules import Rulebook

SEED = 1827
# (share of branches, lowest and highest total aimed at): 5, 4, 3, 2 and 1 stars with
# the thresholds 60/70/80/90/95.
SPREAD = (
    (0.15, 95.5, 99.0),
    (0.30, 90.5, 94.5),
    (0.40, 80.5, 89.5),
    (0.10, 70.5, 79.5),
    (0.05, 61.0, 69.5),
)
NOTES = {
    "organisation": (
        "按期完成支部换届,支委会分工明确,党员名册和组织关系台账齐全",
        "“三会一课”记录完整,党员发展和组织关系转接按程序办理",
        "支部班子健全,党费收缴及时足额,党员信息库按月更新",
    ),
    "rules_kept": (
        "主题党日每月开展,组织生活会和民主评议党员按时召开",
        "积分申报、审核、公示按细则执行,台账清楚",
        "支部学习制度落实,党员集中学习全年不少于12次",
    ),
    "role": (
        "组织党员志愿服务,参与园区安全生产和防汛值守",
        "党员先锋岗覆盖生产一线,带动企业技术革新和职工关爱",
        "围绕企业发展建言献策,多条建议被企业采纳落实",
    ),
}
GENERIC_NOTES = ("按细则自评,佐证材料已存支部台账", "对照评分标准逐项自查")
AUDIT_REASONS = (
    "抽查台账,部分组织生活记录不完整,酌情扣分",
    "佐证材料不足,按实际开展情况核减",
    "实地走访核实,党员作用发挥情况与自评有差距",
)
VETO = "safety_accident"
VETO_REASON = "该企业年内发生一起重大安全生产事故,经镇党委研究实行一票否决"


def _target(rng: random.Random) -> float:
    draw, cumulative = rng.random(), 0.0
    for share, low, high in SPREAD:
        cumulative += share
        if draw < cumulative:
            return rng.uniform(low, high)
    return rng.uniform(SPREAD[-1][1], SPREAD[-1][2])


def _score(value: float) -> Decimal:
    return Decimal(str(round(min(max(value, 0.0), 100.0), 1)))


def seed_branch_stars(
    session: Session,
    rulebook: Rulebook,
    *,
    admin: Principal,
    secretaries: dict[int, Principal],
    instructors: dict[int, Principal],
    branch_ids: list[int],
    until: date,
    timezone: str,
    now: datetime,
) -> str | None:
    """Rate and publish every branch for the year before ``until``; the period, or None
    when no ruleset in force at that year's end rates branches."""
    year = until.year - 1
    ruleset = rulebook.in_force(date(year, 12, 31))
    if ruleset is None or ruleset.branch_rating is None or not branch_ids:
        return None
    rng = random.Random(SEED)
    # The town's rows loaded so far are done with: a small session flushes quickly.
    session.flush()
    session.expunge_all()
    rating_round = open_round(
        session, admin, rulebook, str(year), today=until, timezone=timezone, now=now
    )
    policy = round_policy(rulebook, rating_round)
    assessed = [indicator.id for indicator in policy.assessed()]
    ordered = sorted(branch_ids)
    changed = set(rng.sample(ordered, k=min(len(ordered), max(1, len(ordered) // 25))))
    # One veto, never on a branch the demo accounts look after.
    candidates = [b for b in ordered if b not in secretaries and b not in instructors]
    vetoed = rng.choice(candidates) if candidates and policy.vetoes else None
    veto = VETO if policy.veto(VETO) is not None else (policy.vetoes[0].id if policy.vetoes else "")
    for branch_id in ordered:
        target = _target(rng)
        own = {
            indicator: SelfScore(
                str(_score(target + rng.uniform(-3.0, 3.0))),
                rng.choice(NOTES.get(indicator, GENERIC_NOTES)),
            )
            for indicator in assessed
        }
        self_assess(
            session, secretaries.get(branch_id, admin), rulebook, rating_round.id, branch_id,
            own, submit=True, store=None, now=now,
        )  # fmt: skip
        scores: dict[str, AuditScore] = {}
        if branch_id in changed and assessed:
            indicator = rng.choice(assessed)
            lowered = Decimal(own[indicator].score) - Decimal(rng.choice((2, 3, 5, 8)))
            scores[indicator] = AuditScore(str(max(lowered, Decimal(0))), rng.choice(AUDIT_REASONS))
        vetoes = {veto: VETO_REASON} if branch_id == vetoed else {}
        audit(
            session, instructors.get(branch_id, admin), rulebook, rating_round.id, branch_id,
            scores, vetoes, now=now,
        )  # fmt: skip
    publish_round(session, admin, rulebook, rating_round.id, now=now)
    return rating_round.period
