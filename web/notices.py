"""Confirmation notices after a redirect (``?done=<key>``).

The key selects a fixed message, so nothing from the URL is ever shown as text. The
table here holds the notices of entries, reviews and signing out; a feature whose keys
would clash with it or with another's (the office's "member_created" is not the
roster's) passes its own table.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.kernel.i18n import N_
from web.i18n import gettext

NOTICES = {
    "submitted": N_("Your entry was submitted. Your branch secretary will review it."),
    "withdrawn": N_("The entry was withdrawn."),
    "approved": N_("Entry approved; the points are on the board."),
    "rejected": N_("Entry rejected; the member will see your reason."),
    "signed_out": N_("You have signed out."),
}


def notice(key: str | None, notices: Mapping[str, str] = NOTICES) -> str | None:
    """The translated message ``key`` selects in ``notices``; None without a key or for
    a key the table does not know."""
    message = notices.get(key or "")
    return gettext(message) if message else None
