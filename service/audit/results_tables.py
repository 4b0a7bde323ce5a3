"""How the audit log records each model (``Audited``), and the tables of acting on results
(结果运用) that ``capture`` adds to its own: bands and warning cases, branch ratings (星级支部).

The branch's notes, the auditor's reasons, evidence file names and veto reasons are
private (``service.assessment.access``): the log says that they changed, never what
they say. The scores themselves are logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.kernel.i18n import N_
from service.persistence.assessment import (
    BandLine,
    BandRun,
    BranchRating,
    RatingRound,
    RatingScore,
    RatingVeto,
    WarningCase,
    WarningTalk,
)
from service.persistence.models import Base
from service.persistence.notify import NotifyPreference, NotifySettings, RobotWebhook


@dataclass(frozen=True)
class Audited:
    """How one model is recorded."""

    object_type: str
    label: tuple[str, ...]  # attributes that name the object in the summary
    ignored: frozenset[str] = field(default_factory=frozenset)  # noise, never recorded
    secret: frozenset[str] = field(default_factory=frozenset)  # recorded as "changed"


RESULTS_AUDITED: dict[type[Base], Audited] = {
    # Bands and warning cases: a talk's notes and agreed actions, a case's outcome note
    # and the member's response are private.
    BandRun: Audited("band_run", ("period",)),
    BandLine: Audited("band_line", ("run_id", "member_id")),
    WarningCase: Audited(
        "warning_case", ("member_id",), secret=frozenset({"outcome_note", "member_response"})
    ),
    WarningTalk: Audited(
        "warning_talk", ("case_id", "talked_on"), secret=frozenset({"notes", "actions"})
    ),
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
    "band_run": N_("Banding"),
    "band_line": N_("Red or yellow list line"),
    "warning_case": N_("Warning case"),
    "warning_talk": N_("Warning talk"),
    "rating_round": N_("Rating round"),
    "branch_rating": N_("Branch rating"),
    "rating_score": N_("Assessed rating score"),
    "rating_veto": N_("Rating veto"),
}


# Telling people (service/notify): the group robots and each account's settings. A
# webhook's URL and signing secret are secrets (anyone holding the URL can post to the
# group): the log says they changed, never what they are. Notifications, read marks and
# deliveries are not audited: they are the outbox's own record, written by the events
# the log already holds.
NOTIFY_AUDITED: dict[type[Base], Audited] = {
    RobotWebhook: Audited(
        "robot_webhook", ("service", "branch_id"), secret=frozenset({"url", "secret"})
    ),
    NotifySettings: Audited(
        "notify_settings", ("account_id",), secret=frozenset({"unsubscribe_token"})
    ),
    NotifyPreference: Audited("notify_preference", ("kind",)),
}

NOTIFY_LABELS = {
    "robot_webhook": N_("Group robot"),
    "notify_settings": N_("Notification settings"),
    "notify_preference": N_("Notification preference"),
}
