"""Translatable messages raised by the domain.

The domain has no locale: it marks English source strings with ``N_`` (so Babel
extracts them) and carries parameters in a ``Message``; the web layer and the CLI
translate them for whoever reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def N_(message: str) -> str:
    return message


@dataclass(frozen=True)
class Message:
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, gettext: Callable[[str], str] = N_) -> str:
        text = gettext(self.msgid)
        if not self.params:
            return text
        params = {
            key: value.render(gettext) if isinstance(value, Message) else value
            for key, value in self.params.items()
        }
        return text % params

    def __str__(self) -> str:
        return self.render()


ENTRY_STATUS_LABELS = {
    "pending": N_("pending"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "withdrawn": N_("withdrawn"),
    "revoked": N_("revoked"),
}
