"""What the audit log records of acting on results (结果运用): bands, warning cases and
talks, kept here so that ``capture``'s table stays short. Each entry is the arguments of
``capture.Audited``: (object type, label attributes, ignored, secret). Private texts
(a talk's notes and agreed actions, a case's outcome note, the member's response) are
secret: the log says they were set or changed, never what they say."""

from __future__ import annotations

from service.kernel.i18n import N_
from service.persistence.assessment import BandLine, BandRun, WarningCase, WarningTalk
from service.persistence.models import Base

NONE: frozenset[str] = frozenset()

RESULTS_AUDITED: dict[type[Base], tuple[str, tuple[str, ...], frozenset[str], frozenset[str]]] = {
    BandRun: ("band_run", ("period",), NONE, NONE),
    BandLine: ("band_line", ("run_id", "member_id"), NONE, NONE),
    WarningCase: (
        "warning_case",
        ("member_id",),
        NONE,
        frozenset({"outcome_note", "member_response"}),
    ),
    WarningTalk: ("warning_talk", ("case_id", "talked_on"), NONE, frozenset({"notes", "actions"})),
}

RESULTS_LABELS = {
    "band_run": N_("Banding"),
    "band_line": N_("Red or yellow list line"),
    "warning_case": N_("Warning case"),
    "warning_talk": N_("Warning talk"),
}
