"""The email channel: one message per delivery, in the recipient's language, a plain
text and an HTML part built from the same gettext strings.

A delivery is either a personal notification (``notification_id`` set: an approval, a
warning) or a weekly digest (``notification_id`` None: its items are the digest
deliveries whose ``digest_id`` is this delivery, see ``service.notify.digest``).

The message carries its delivery's idempotency key twice: in the Message-ID (so a mail
client or the recipient's server recognises a resend as the same message) and in
``X-Jifen-Idempotency-Key``. A delivery whose earlier claim expired without a result may
have been sent already: it says so in its body and in ``X-Jifen-Possible-Repeat``.

Secrets: the SMTP password goes to ``login`` and nowhere else; errors carry the server's
reply code and text, scrubbed of the password in case a server echoes it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.kernel.config import Settings
from service.kernel.i18n import N_, catalog
from service.notify.channels import DeliveryFailed, NothingToSend, SendContext
from service.outbox.kinds import KINDS, kind, render
from service.persistence.notify import Delivery, Notification, NotifySettings

SETTINGS_PATH = "/me/notifications"
UNSUBSCRIBE_PATH = "/notify/unsubscribe/{token}"
# RFC 8058: the address in List-Unsubscribe that mail clients POST to (no CSRF token,
# the URL's token is the secret: see web/unsubscribe).
ONE_CLICK_PATH = UNSUBSCRIBE_PATH + "/one-click"

NO_PUBLIC_URL = N_(
    "(Jifen's public address is not configured, so the link is a path: open it on your Jifen site.)"
)
POSSIBLE_REPEAT = N_(
    "This message may repeat one sent earlier: sending was interrupted before it was "
    "recorded. Message key: %(key)s"
)
FOOTER = N_(
    "You get this email because of your notification settings in Jifen. Change them at %(url)s"
)
DIGEST_HEADING = N_("Your weekly Jifen digest")
# TRANSLATORS: a link in a plain-text email: the action's words, then its address.
ACTION_LINE = N_("%(action)s: %(url)s")
DIGEST_UNSUBSCRIBE = N_("To stop the weekly digest (the messages stay in your inbox), open %(url)s")
DIGEST_UNSUBSCRIBE_LINK = N_("Stop the weekly digest")


def digest_subject(ngettext: Callable[[str, str, int], str], count: int) -> str:
    """The digest email's subject, in the language of ``ngettext`` (a catalog's)."""
    return ngettext(
        "Your weekly Jifen digest: %(count)d message",
        "Your weekly Jifen digest: %(count)d messages",
        count,
    ) % {"count": count}


def digest_intro(ngettext: Callable[[str, str, int], str], count: int) -> str:
    return ngettext(
        "%(count)d message since the last digest, grouped by kind:",
        "%(count)d messages since the last digest, grouped by kind:",
        count,
    ) % {"count": count}


# --- the words --------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    text: str  # the words ("See my points")
    url: str  # absolute when the public address is set, else the path


@dataclass(frozen=True)
class Item:
    title: str
    date: str
    link: Link


@dataclass(frozen=True)
class Section:
    heading: str
    items: list[Item]


@dataclass(frozen=True)
class Letter:
    """What one email says, already in the recipient's language: both parts are laid
    out from this, so the plain text and the HTML never say different things."""

    lang: str
    subject: str
    heading: str
    paragraphs: list[str]
    action: Link | None
    sections: list[Section]
    notes: list[str]  # the "no public address" and "possible repeat" lines
    footer: str
    unsubscribe: Link | None


def absolute(settings: Settings, path: str) -> tuple[str, bool]:
    """The link for ``path`` and whether it is absolute (no public address: the path)."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + path, True
    return path, False


def _local_date(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).date().isoformat()


def personal_letter(
    notification: Notification, settings: Settings, locale: str, context: SendContext, key: str
) -> Letter:
    words = catalog(locale)
    rendered = render(notification.kind, notification.params, words.gettext)
    url, is_absolute = absolute(settings, notification.link or "/")
    settings_url, _ = absolute(settings, SETTINGS_PATH)
    notes = [] if is_absolute else [words.gettext(NO_PUBLIC_URL)]
    if context.possible_repeat:
        notes.append(words.gettext(POSSIBLE_REPEAT) % {"key": key})
    return Letter(
        lang=_lang(locale),
        subject=rendered.title,
        heading=rendered.title,
        paragraphs=[rendered.body],
        action=Link(rendered.action, url),
        sections=[],
        notes=notes,
        footer=words.gettext(FOOTER) % {"url": settings_url},
        unsubscribe=None,
    )


def digest_letter(
    notifications: list[Notification],
    settings: Settings,
    locale: str,
    context: SendContext,
    key: str,
    token: str,
) -> Letter:
    words = catalog(locale)
    zone = ZoneInfo(settings.timezone)
    order = {kind_id: number for number, kind_id in enumerate(KINDS)}
    by_kind: dict[str, list[Notification]] = {}
    for note in sorted(notifications, key=lambda n: (order.get(n.kind, 999), n.created_at, n.id)):
        by_kind.setdefault(note.kind, []).append(note)
    sections = []
    any_path = False
    for kind_id, notes in by_kind.items():
        items = []
        for note in notes:
            rendered = render(note.kind, note.params, words.gettext)
            url, is_absolute = absolute(settings, note.link or "/")
            any_path = any_path or not is_absolute
            items.append(
                Item(rendered.title, _local_date(note.created_at, zone), Link(rendered.action, url))
            )
        sections.append(Section(words.gettext(kind(kind_id).label), items))
    unsubscribe_url, is_absolute = absolute(settings, UNSUBSCRIBE_PATH.format(token=token))
    settings_url, _ = absolute(settings, SETTINGS_PATH)
    extra = [] if is_absolute and not any_path else [words.gettext(NO_PUBLIC_URL)]
    if context.possible_repeat:
        extra.append(words.gettext(POSSIBLE_REPEAT) % {"key": key})
    count = len(notifications)
    return Letter(
        lang=_lang(locale),
        subject=digest_subject(words.ngettext, count),
        heading=words.gettext(DIGEST_HEADING),
        paragraphs=[digest_intro(words.ngettext, count)],
        action=None,
        sections=sections,
        notes=extra,
        footer=words.gettext(FOOTER) % {"url": settings_url},
        unsubscribe=Link(words.gettext(DIGEST_UNSUBSCRIBE_LINK), unsubscribe_url),
    )


def _lang(locale: str) -> str:
    return locale.replace("_", "-")


# --- the two parts ------------------------------------------------------------------------


def plain_text(letter: Letter, unsubscribe_words: str, action_line: str) -> str:
    lines = [letter.heading, ""]
    for paragraph in letter.paragraphs:
        lines += [paragraph, ""]
    if letter.action is not None:
        lines += [action_line % {"action": letter.action.text, "url": letter.action.url}, ""]
    for section in letter.sections:
        lines.append(f"## {section.heading}")
        for item in section.items:
            lines.append(f"- {item.date} {item.title}")
            lines.append(f"  {item.link.url}")
        lines.append("")
    for note in letter.notes:
        lines += [note, ""]
    lines += ["-- ", letter.footer]
    if letter.unsubscribe is not None:
        lines.append(unsubscribe_words)
    return "\n".join(lines) + "\n"


# Every value is escaped (autoescape): titles and bodies hold members' own words (a
# rejection reason, a meeting's place).
_HTML = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!DOCTYPE html>
<html lang="{{ letter.lang }}">
<head><meta charset="utf-8"><title>{{ letter.subject }}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em;">
<h1 style="font-size: 1.25em;">{{ letter.heading }}</h1>
{% for paragraph in letter.paragraphs %}
<p>{{ paragraph }}</p>
{% endfor %}
{% if letter.action %}
<p><a href="{{ letter.action.url }}">{{ letter.action.text }}</a></p>
{% endif %}
{% for section in letter.sections %}
<h2 style="font-size: 1.05em;">{{ section.heading }}</h2>
<ul>
{% for item in section.items %}
<li>{{ item.date }} <a href="{{ item.link.url }}">{{ item.title }}</a></li>
{% endfor %}
</ul>
{% endfor %}
{% for note in letter.notes %}
<p><small>{{ note }}</small></p>
{% endfor %}
<hr>
<p><small>{{ letter.footer }}</small></p>
{% if letter.unsubscribe %}
<p><small><a href="{{ letter.unsubscribe.url }}">{{ letter.unsubscribe.text }}</a></small></p>
{% endif %}
</body>
</html>
"""
)


def html_text(letter: Letter) -> str:
    return _HTML.render(letter=letter)


def message_id(key: str, settings: Settings) -> str:
    host = urlsplit(settings.public_url).hostname if settings.public_url else None
    return f"<{key}@{host or 'jifen'}>"


def one_line(text: str) -> str:
    """A header value: members' words (a meeting's name) may hold line breaks, which a
    header must not (the email library refuses them: no header injection)."""
    return " ".join(text.split())


def build_message(
    letter: Letter, *, to: str, key: str, settings: Settings, context: SendContext, locale: str
) -> EmailMessage:
    words = catalog(locale)
    message = EmailMessage()
    message["Subject"] = one_line(letter.subject)
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = format_datetime(context.now)
    message["Message-ID"] = message_id(key, settings)
    message["X-Jifen-Idempotency-Key"] = key
    # Automatic mail: no out-of-office replies back to the sender (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    if context.possible_repeat:
        message["X-Jifen-Possible-Repeat"] = "yes"
    unsubscribe_words = ""
    if letter.unsubscribe is not None:
        unsubscribe_words = words.gettext(DIGEST_UNSUBSCRIBE) % {"url": letter.unsubscribe.url}
        if letter.unsubscribe.url.startswith(("https://", "http://")):
            # RFC 2369 and RFC 8058: the client's own "unsubscribe" button, in one click.
            message["List-Unsubscribe"] = f"<{letter.unsubscribe.url}/one-click>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(plain_text(letter, unsubscribe_words, words.gettext(ACTION_LINE)))
    message.add_alternative(html_text(letter), subtype="html")
    # After the content: setting it clears every Content-* header.
    message["Content-Language"] = letter.lang
    return message


# --- sending -----------------------------------------------------------------------------


def connect(settings: Settings) -> smtplib.SMTP:
    """An SMTP connection as the settings ask: implicit TLS ("tls", port 465), plain
    then STARTTLS ("starttls", port 587), or plain ("none": a relay on this machine).
    Certificates are verified against the system's trust store."""
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_security == "tls":
        return smtplib.SMTP_SSL(
            settings.smtp_host,
            settings.smtp_port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    if settings.smtp_security == "starttls":
        try:
            smtp.starttls(context=ssl.create_default_context())
        except BaseException:
            smtp.close()
            raise
    return smtp


def _scrub(text: str, settings: Settings) -> str:
    password = settings.smtp_password.get_secret_value()
    return text.replace(password, "***") if password else text


def _reply(error: smtplib.SMTPResponseException) -> str:
    raw = error.smtp_error
    words = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{error.smtp_code} {words}"


def send(message: EmailMessage, settings: Settings) -> None:
    """Hand ``message`` to the SMTP server. Raises ``DeliveryFailed``: permanent when
    the server refuses the recipient or the message for good (5xx), else worth a retry
    (no connection, a timeout, a 4xx)."""
    try:
        with connect(settings) as smtp:
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        replies = list(error.recipients.values())
        permanent = all(code >= 500 for code, _ in replies)
        text = "; ".join(f"{code} {reply.decode('utf-8', 'replace')}" for code, reply in replies)
        raise DeliveryFailed(
            _scrub(f"the SMTP server refused the recipient: {text}", settings), permanent=permanent
        ) from None
    except smtplib.SMTPAuthenticationError as error:
        # Worth retrying: the office may fix the password; the dead-letter list says why.
        raise DeliveryFailed(_scrub(f"SMTP sign-in refused: {_reply(error)}", settings)) from None
    except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
        raise DeliveryFailed(
            _scrub(f"the SMTP server refused the message: {_reply(error)}", settings),
            permanent=error.smtp_code >= 500,
        ) from None
    except smtplib.SMTPResponseException as error:
        raise DeliveryFailed(_scrub(f"SMTP error: {_reply(error)}", settings)) from None
    except (smtplib.SMTPException, OSError) as error:
        # No connection, a timeout, a TLS failure, a dropped line.
        name = type(error).__name__
        raise DeliveryFailed(
            _scrub(f"SMTP {settings.smtp_host}:{settings.smtp_port}: {name}: {error}", settings)
        ) from None


# --- the channel ---------------------------------------------------------------------------


def compose(session: Session, delivery: Delivery, context: SendContext) -> tuple[str, EmailMessage]:
    """The address and the message of ``delivery``, without sending it. Raises
    ``NothingToSend`` when email is off or the account has no address."""
    settings = context.settings
    if not settings.smtp_host:
        raise NothingToSend("email is not configured")
    if not settings.mail_from:
        raise NothingToSend("email is not configured: no sender address (JIFEN_MAIL_FROM)")
    account = session.get(NotifySettings, delivery.account_id) if delivery.account_id else None
    if account is None or not account.email:
        raise NothingToSend("no email address")
    locale = account.locale or settings.default_locale
    key = delivery.idempotency_key
    if delivery.notification_id is not None:
        notification = session.get(Notification, delivery.notification_id)
        if notification is None:
            raise NothingToSend("the notification is gone")
        letter = personal_letter(notification, settings, locale, context, key)
    else:
        items = list(
            session.scalars(
                select(Notification)
                .join(Delivery, Delivery.notification_id == Notification.id)
                .where(Delivery.digest_id == delivery.id)
                .order_by(Notification.created_at, Notification.id)
            )
        )
        if not items:
            raise NothingToSend("the digest has no messages")
        letter = digest_letter(items, settings, locale, context, key, account.unsubscribe_token)
    message = build_message(
        letter, to=account.email, key=key, settings=settings, context=context, locale=locale
    )
    return account.email, message


def deliver(session: Session, delivery: Delivery, context: SendContext) -> str:
    """Send one email delivery; returns the address it went to."""
    address, message = compose(session, delivery, context)
    send(message, context.settings)
    return address
