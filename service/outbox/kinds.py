"""The kinds of notification: who may receive each, whether it is private, whether it
can be turned off, and its words.

The words are English gettext source strings (N_) with ``%(name)s`` parameters; a
notification stores its parameters as JSON and is rendered in the reader's language
when shown or sent (``render``). A parameter may itself be translatable: ``{"t":
msgid}`` (e.g. a leave decision, "granted").

Privacy is decided here, once: a ``private`` kind goes to one account only and never
to a group robot or a broadcast (``service.notify.outbox.emit`` refuses it), and its
body may hold what only the member, their reviewers and the office may read (a
rejection reason, a warning). ``group`` kinds are the only ones a branch or the town
may receive: a meeting, a published board, a reminder to declare.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from service.kernel.i18n import N_
from service.persistence.notify import Mode


@dataclass(frozen=True)
class Kind:
    id: str
    label: str  # what the preferences page calls it
    title: str  # one line: the inbox row, the email's subject, the robot post's heading
    body: str  # a sentence or two: the inbox page, the email, the robot post
    action: str  # the link's words ("Open the review queue")
    default: Mode
    private: bool = False  # personal content: one account only, never a group
    mandatory: bool = False  # warnings and security: cannot be turned off
    group: bool = False  # may go to every member of a branch or the town, and robots
    audience: str = N_("Members")  # who gets it, for the preferences page


KINDS: dict[str, Kind] = {
    kind.id: kind
    for kind in (
        Kind(
            "entry_approved",
            N_("An entry of mine is approved"),
            N_("Approved: %(rule)s on %(date)s"),
            N_("Your entry “%(rule)s” of %(date)s was approved: %(points)s points."),
            N_("See my points"),
            Mode.INBOX,
            private=True,
        ),
        Kind(
            "entry_rejected",
            N_("An entry of mine is rejected"),
            N_("Not approved: %(rule)s on %(date)s"),
            N_("Your entry “%(rule)s” of %(date)s was not approved. Reason: %(reason)s"),
            N_("See the entry"),
            Mode.INBOX,
            private=True,
        ),
        Kind(
            "leave_decided",
            N_("A leave request of mine is decided"),
            N_("Leave %(decision)s: %(meeting)s"),
            N_("Your leave request for “%(meeting)s” on %(date)s was %(decision)s."),
            N_("See the meeting"),
            Mode.INBOX,
            private=True,
        ),
        Kind(
            "meeting_scheduled",
            N_("A meeting of my branch is scheduled"),
            N_("Meeting: %(meeting)s on %(date)s"),
            N_("%(branch)s holds “%(meeting)s” on %(date)s at %(time)s, %(place)s."),
            N_("See the meeting"),
            Mode.INBOX,
            group=True,
        ),
        Kind(
            "meeting_changed",
            N_("A meeting of my branch is changed or cancelled"),
            N_("Meeting changed: %(meeting)s"),
            N_("“%(meeting)s” of %(branch)s is now on %(date)s at %(time)s, %(place)s."),
            N_("See the meeting"),
            Mode.INBOX,
            group=True,
        ),
        Kind(
            "meeting_cancelled",
            N_("A meeting of my branch is cancelled"),
            N_("Meeting cancelled: %(meeting)s"),
            N_("“%(meeting)s” of %(branch)s on %(date)s at %(time)s is cancelled."),
            N_("See the meeting"),
            Mode.INBOX,
            group=True,
        ),
        Kind(
            "meeting_soon",
            N_("A meeting of my branch starts soon"),
            N_("Starting soon: %(meeting)s at %(time)s"),
            N_("“%(meeting)s” of %(branch)s starts at %(time)s on %(date)s, %(place)s."),
            N_("See the meeting"),
            Mode.INBOX,
            group=True,
        ),
        Kind(
            "board_published",
            N_("A month's board is published"),
            N_("The %(period)s board is published"),
            N_(
                "The points board of %(period)s is published for public notice. "
                "Objections are open until %(until)s."
            ),
            N_("See the board"),
            Mode.INBOX,
            group=True,
        ),
        Kind(
            "objection_answered",
            N_("An objection of mine is answered"),
            N_("Your objection about %(period)s is answered"),
            N_("The office answered your objection about the %(period)s board: %(answer)s"),
            N_("See the answer"),
            Mode.INBOX,
            private=True,
        ),
        Kind(
            "warning_opened",
            N_("A warning case about me is opened"),
            N_("A warning case is opened for you"),
            N_("Your branch opened a warning case for %(period)s. Please improve by %(deadline)s."),
            N_("See the case"),
            Mode.EMAIL,
            private=True,
            mandatory=True,
        ),
        Kind(
            "warning_talk",
            N_("A talk in my warning case is recorded"),
            N_("A talk is recorded in your warning case"),
            N_(
                "A talk on %(date)s is recorded in your warning case. The deadline is %(deadline)s."
            ),
            N_("See the case"),
            Mode.INBOX,
            private=True,
            mandatory=True,
        ),
        Kind(
            "review_waiting",
            N_("Entries wait for my review"),
            N_("%(count)s entries wait for your review"),
            N_("%(count)s entries wait for your review; the oldest was submitted on %(oldest)s."),
            N_("Open the review queue"),
            Mode.INBOX,
            audience=N_("Secretaries and instructors"),
        ),
        Kind(
            "publish_ready",
            N_("A month is ready to publish"),
            N_("%(period)s is ready to publish"),
            N_("Every entry of %(period)s is decided: the month can be published."),
            N_("Open publishing"),
            Mode.INBOX,
            audience=N_("The office"),
        ),
        Kind(
            "objections_open",
            N_("Objections wait for an answer"),
            N_("%(count)s objections wait for an answer"),
            N_("%(count)s objections to published boards wait for the office's answer."),
            N_("Open the objections"),
            Mode.INBOX,
            audience=N_("The office"),
        ),
        Kind(
            "declare_reminder",
            N_("A reminder to declare this month's service"),
            N_("Declare your service for %(period)s"),
            N_("Remember to declare this month's service (%(period)s) by %(deadline)s."),
            N_("Declare"),
            Mode.INBOX,
            group=True,
        ),
        Kind(
            "password_changed",
            N_("My password is changed or reset"),
            N_("Your password was changed"),
            N_(
                "The password of your account %(username)s was changed on %(date)s. "
                "If this was not you, tell the office at once."
            ),
            N_("Sign in"),
            Mode.EMAIL,
            private=True,
            mandatory=True,
            audience=N_("Everyone"),
        ),
    )
}


def kind(kind_id: str) -> Kind:
    """The kind called ``kind_id``; an unknown id is a programming error."""
    try:
        return KINDS[kind_id]
    except KeyError:
        raise ValueError(f"unknown notification kind {kind_id!r}") from None


def allowed_modes(item: Kind) -> tuple[Mode, ...]:
    """The choices an account has for ``item``: mandatory kinds cannot be turned off."""
    if item.mandatory:
        return (Mode.INBOX, Mode.EMAIL, Mode.DIGEST)
    return (Mode.OFF, Mode.INBOX, Mode.EMAIL, Mode.DIGEST)


def dump_params(params: Mapping[str, Any]) -> str:
    """The JSON a notification stores: str, int and {"t": msgid} values only."""
    for key, value in params.items():
        ok = isinstance(value, str | int) or (
            isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], str)
        )
        if not ok or isinstance(value, bool):
            raise ValueError(f"notification parameter {key!r} must be str, int or {{'t': msgid}}")
    return json.dumps(dict(params), ensure_ascii=False, sort_keys=True)


def _values(params: Mapping[str, Any], gettext: Callable[[str], str]) -> dict[str, Any]:
    return {
        key: gettext(value["t"]) if isinstance(value, dict) else value
        for key, value in params.items()
    }


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    action: str


def render(kind_id: str, params_json: str, gettext: Callable[[str], str] = N_) -> Rendered:
    """The kind's words with its parameters, in the language of ``gettext``. A missing
    parameter renders as "?" rather than failing: a message must never be lost to a
    wording change."""
    item = kind(kind_id)
    values = _values(json.loads(params_json or "{}"), gettext)

    class _Lenient(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return "?"

    safe = _Lenient(values)
    return Rendered(gettext(item.title) % safe, gettext(item.body) % safe, gettext(item.action))
