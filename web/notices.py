"""Confirmation notices after a redirect (``?done=<key>``).

The key selects a fixed message, so nothing from the URL is ever shown as text.
"""

from __future__ import annotations

from service.kernel.i18n import N_
from web.i18n import gettext

NOTICES = {
    "submitted": N_("Your entry was submitted. Your branch secretary will review it."),
    "withdrawn": N_("The entry was withdrawn."),
    "approved": N_("Entry approved; the points are on the board."),
    "rejected": N_("Entry rejected; the member will see your reason."),
    "signed_out": N_("You have signed out."),
}


def notice(key: str | None) -> str | None:
    message = NOTICES.get(key or "")
    return gettext(message) if message else None
