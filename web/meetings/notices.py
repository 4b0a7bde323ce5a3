"""The notices of the meeting pages after a redirect (``?done=<key>``)."""

from __future__ import annotations

from service.kernel.i18n import N_

MEETING_NOTICES = {
    "scheduled": N_("The meeting is scheduled; the members expected see it on their home page."),
    "edited": N_("The meeting was changed."),
    "cancelled": N_("The meeting was cancelled."),
    "leave_requested": N_("Your leave request was sent to the branch secretary."),
    "leave_withdrawn": N_("Your leave request was withdrawn."),
    "leave_granted": N_("Leave granted; the member will see it."),
    "leave_declined": N_("Leave declined; the member will see your reason."),
    "closed": N_("The meeting is closed and the attendance points are written."),
    "already_closed": N_("The meeting was already closed; nothing was written again."),
    "amended": N_("The attendance was amended and the points follow."),
    "makeup": N_("The make-up session is scheduled."),
}
