"""What the audit log's page calls each kind of object (its English source label)."""

from __future__ import annotations

from service.audit.results_tables import NOTIFY_LABELS, RESULTS_LABELS
from service.kernel.i18n import N_

OBJECT_LABELS = {
    "branch": N_("Branch"),
    "organisation": N_("Organisation"),
    "member": N_("Member"),
    "membership": N_("Membership"),
    "account": N_("Account"),
    "role_grant": N_("Role"),
    "entry": N_("Entry"),
    "entry_photo": N_("Entry photo"),
    "adjustment": N_("Deduction or adjustment"),
    "publication": N_("Publication"),
    "correction": N_("Correction"),
    "objection": N_("Objection"),
    "api_token": N_("API token"),
    "adopted_ruleset": N_("Adopted ruleset"),
    "meeting": N_("Meeting"),
    "meeting_leave": N_("Leave request"),
    "meeting_attendance": N_("Meeting attendance"),
    "meeting_amendment": N_("Attendance amendment"),
    "meeting_organiser": N_("Meeting organiser"),
    "meeting_photo": N_("Minutes photo"),
    "party_group": N_("Party group"),
    "party_group_member": N_("Party group member"),
    "calendar_feed": N_("Calendar link"),
    "appraisal": N_("Appraisal"),
    "appraisal_line": N_("Appraisal line"),
    "sign_in": N_("Sign-in"),
    "checkin": N_("Check-in"),
    **RESULTS_LABELS,
    **NOTIFY_LABELS,
}
