"""The group-robot channels: a 企业微信 (WeCom) group robot and a 钉钉 (DingTalk) custom
robot, each a webhook URL that takes one JSON message per POST.

Both get a markdown message in the town's language (``settings.default_locale``): the
kind's title as a heading, its body, a link to the page where one acts (absolute when
JIFEN_PUBLIC_URL is set) and a footer with the delivery's idempotency key, so a repeat
after a crash can be recognised; a possible repeat says so in a line of its own.

- 企业微信: ``{"msgtype": "markdown", "markdown": {"content": ...}}`` POSTed to the
  webhook URL (its ``key`` query parameter is the secret); success is ``{"errcode": 0}``.
- 钉钉: ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}`` POSTed to the
  webhook URL (its ``access_token`` is the secret); with a signing secret ("加签") the
  URL also carries ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret,
  f"{timestamp}\\n{secret}")), URL-encoded; success is ``{"errcode": 0}``.

Only group kinds are ever posted: ``emit`` refuses to address a private kind to a group,
and this channel refuses once more (defence in depth) whatever reaches it. URLs and
errors leave here masked (``channels.mask_url``): the token in a webhook URL is a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sqlalchemy.orm import Session

from service.kernel.i18n import N_, catalog
from service.notify.channels import DeliveryFailed, NothingToSend, SendContext, mask_url
from service.outbox.kinds import KINDS, render
from service.persistence.notify import (
    Audience,
    Channel,
    Delivery,
    Notification,
    RobotService,
    RobotWebhook,
)

# Answers that will not heal by waiting: the robot or its token is gone, the signature
# or the keyword check fails, the message is refused. Anything else (rate limits, "system
# busy", codes we do not know) is retried until the attempt limit.
WECOM_PERMANENT = frozenset(
    {
        93000,  # invalid webhook url: the robot's key is wrong or the robot was removed
        93004,  # the robot is disabled
        40008,  # invalid message type
        40058,  # invalid parameter
        44004,  # empty content
    }
)
DINGTALK_PERMANENT = frozenset(
    {
        300001,  # token is not exist: the access_token is wrong
        310000,  # sign not match / keywords not in content / ip not in whitelist
        400013,  # the group was dissolved
        400101,  # the robot does not exist
        400102,  # the robot is stopped
        400105,  # unsupported message type
        400106,  # the robot does not exist
        430101,  # unsafe external link
        430102,  # inappropriate text
        430103,  # inappropriate image
        430104,  # inappropriate content
    }
)

REPEAT_LINE = N_("This message may repeat an earlier one (the sender was interrupted).")
FOOTER = N_("Message %(key)s")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉's signature of a request at ``timestamp_ms`` (before URL-encoding)."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """``url`` with 钉钉's ``timestamp`` and ``sign`` parameters appended."""
    query = urllib.parse.urlencode(
        {"timestamp": str(timestamp_ms), "sign": dingtalk_sign(secret, timestamp_ms)}
    )
    return f"{url}{'&' if '?' in url else '?'}{query}"


def absolute_link(public_url: str | None, link: str) -> str:
    if not public_url or link.startswith(("http://", "https://")):
        return link
    return public_url.rstrip("/") + "/" + link.lstrip("/")


def message_lines(note: Notification, delivery: Delivery, context: SendContext) -> tuple[str, str]:
    """The post's title and its markdown text, in the town's language."""
    gettext = catalog(context.settings.default_locale).gettext
    words = render(note.kind, note.params, gettext)
    link = absolute_link(context.settings.public_url, note.link)
    lines = [f"### {words.title}", "", words.body, ""]
    if link:
        lines += [f"[{words.action}]({link})", ""]
    if context.possible_repeat:
        lines += [f"> {gettext(REPEAT_LINE)}", ""]
    lines.append(f"> {gettext(FOOTER) % {'key': delivery.idempotency_key}}")
    return words.title, "\n".join(lines)


def _post(url: str, payload: dict[str, Any], *, shown: str, timeout: float) -> dict[str, Any]:
    """POST ``payload`` as JSON; the robot's JSON answer. Errors name ``shown`` (the
    masked URL), never ``url``."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by the caller
        url,
        data=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as exc:
        # 5xx, 429 (too many requests) and 408 may heal; another 4xx will not.
        retry = exc.code >= 500 or exc.code in (408, 429)
        raise DeliveryFailed(f"{shown}: HTTP {exc.code}", permanent=not retry) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"{shown}: {type(exc).__name__}: {reason}") from None
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DeliveryFailed(f"{shown}: the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise DeliveryFailed(f"{shown}: the answer is not a JSON object")
    return answer


def _check(answer: dict[str, Any], permanent_codes: frozenset[int], shown: str) -> None:
    code = answer.get("errcode")
    if code == 0:
        return
    message = str(answer.get("errmsg", ""))[:200]
    permanent = isinstance(code, int) and code in permanent_codes
    raise DeliveryFailed(f"{shown}: errcode {code}: {message}", permanent=permanent)


def deliver(session: Session, delivery: Delivery, context: SendContext) -> str:
    """Post one delivery to its robot; the robot's masked URL."""
    hook = session.get(RobotWebhook, delivery.webhook_id) if delivery.webhook_id else None
    if hook is None:
        raise NothingToSend("the group robot was removed")
    if not hook.enabled:
        raise NothingToSend("the group robot is turned off")
    shown = mask_url(hook.url)
    note = session.get(Notification, delivery.notification_id) if delivery.notification_id else None
    if note is None:
        raise NothingToSend("the delivery has no notification")
    item = KINDS.get(note.kind)
    # Defence in depth: emit never addresses a private kind to a group; if a row ever
    # says otherwise, it is refused here and lands in the dead-letter list, unsent.
    if item is None or not item.group or item.private or note.audience == Audience.ACCOUNT:
        raise DeliveryFailed(f"{note.kind} is not for groups: refused", permanent=True)
    expected = Channel.WECOM if hook.service == RobotService.WECOM else Channel.DINGTALK
    if delivery.channel != expected:
        raise DeliveryFailed(f"the robot is a {hook.service} robot", permanent=True)
    scheme = urllib.parse.urlsplit(hook.url).scheme
    if scheme not in ("http", "https"):
        raise DeliveryFailed(f"{shown}: not an http(s) URL", permanent=True)
    title, text = message_lines(note, delivery, context)
    timeout = context.settings.notify_http_timeout_seconds
    if hook.service == RobotService.WECOM:
        payload: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": text}}
        _check(_post(hook.url, payload, shown=shown, timeout=timeout), WECOM_PERMANENT, shown)
    else:
        url = hook.url
        if hook.secret:
            url = signed_url(url, hook.secret, int(time.time() * 1000))
        payload = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        _check(_post(url, payload, shown=shown, timeout=timeout), DINGTALK_PERMANENT, shown)
    return shown
