"""How the audit log records each model (``Audited``), and the tables of acting on results
(结果运用) that ``capture`` adds to its own: branch ratings (星级支部) for now.

The branch's notes, the auditor's reasons, evidence file names and veto reasons are
private (``service.assessment.access``): the log says that they changed, never what
they say. The scores themselves are logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.kernel.i18n import N_
from service.persistence.assessment import BranchRating, RatingRound, RatingScore, RatingVeto
from service.persistence.models import Base


@dataclass(frozen=True)
class Audited:
    """How one model is recorded."""

    object_type: str
    label: tuple[str, ...]  # attributes that name the object in the summary
    ignored: frozenset[str] = field(default_factory=frozenset)  # noise, never recorded
    secret: frozenset[str] = field(default_factory=frozenset)  # recorded as "changed"


RESULTS_AUDITED: dict[type[Base], Audited] = {
    RatingRound: Audited("rating_round", ("period",)),
    BranchRating: Audited("branch_rating", ("round_id", "branch_id")),
    RatingScore: Audited(
        "rating_score",
        ("rating_id", "indicator"),
        secret=frozenset({"self_note", "audit_reason", "evidence_path"}),
    ),
    RatingVeto: Audited("rating_veto", ("rating_id", "veto"), secret=frozenset({"reason"})),
}

RESULTS_LABELS = {
    "rating_round": N_("Rating round"),
    "branch_rating": N_("Branch rating"),
    "rating_score": N_("Assessed rating score"),
    "rating_veto": N_("Rating veto"),
}
