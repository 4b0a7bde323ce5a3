"""Setting up group robots: a branch's 企业微信 group robot and 钉钉 custom robot (its
secretary or the office), and the town office's (the office alone).

The URL's token and the 钉钉 signing secret are secrets: what this module hands back to
pages is the masked URL and whether a secret is set, never the values, and an error
never quotes what was typed. An instructor may neither see nor change a branch's robots:
the settings hold nothing an instructor acts on, and the masked address would only tell
them where the group is (a 403, as for any branch not theirs).

A robot that has deliveries cannot be deleted (they refer to it); removing it clears
its URL and secret and disables it, so nothing is sent to it again and the sender skips
what is still queued for it ("robot removed").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.notify.channels import mask_url
from service.persistence.models import Branch
from service.persistence.notify import Delivery, RobotService, RobotWebhook
from service.persistence.types import utcnow

# The documented hosts of each service's webhooks (production accepts only these).
HOSTS = {
    RobotService.WECOM: "qyapi.weixin.qq.com",
    RobotService.DINGTALK: "oapi.dingtalk.com",
}
SERVICE_LABELS = {
    RobotService.WECOM: N_("WeCom (企业微信) group robot"),
    RobotService.DINGTALK: N_("DingTalk (钉钉) custom robot"),
}


def can_manage_robots(actor: Principal, branch_id: int | None) -> bool:
    """The town's robots (``branch_id`` None): the office. A branch's: its secretaries
    and the office."""
    if branch_id is None:
        return actor.is_admin
    return actor.is_admin or branch_id in actor.branches_with_secretary


def _require(session: Session, actor: Principal, branch_id: int | None) -> None:
    if branch_id is not None and session.get(Branch, branch_id) is None:
        raise NotFound(Message(N_("There is no such branch.")))
    if not can_manage_robots(actor, branch_id):
        raise PermissionDenied(
            Message(N_("Only the branch's secretary and the office set up its group robots."))
        )


@dataclass(frozen=True)
class RobotView:
    id: int
    service: RobotService
    masked_url: str
    secret_set: bool
    enabled: bool
    created_at: datetime


def robots(session: Session, actor: Principal, branch_id: int | None) -> list[RobotView]:
    """The robots of a branch (None: the town's), without the removed ones."""
    _require(session, actor, branch_id)
    where = (
        RobotWebhook.branch_id.is_(None)
        if branch_id is None
        else RobotWebhook.branch_id == branch_id
    )
    rows = session.scalars(
        select(RobotWebhook).where(where, RobotWebhook.url != "").order_by(RobotWebhook.id)
    )
    return [
        RobotView(
            row.id, row.service, mask_url(row.url), bool(row.secret), row.enabled, row.created_at
        )
        for row in rows
    ]


def _check_url(service: RobotService, url: str, *, production: bool) -> Message | None:
    if not url or len(url) > 2000 or any(c.isspace() for c in url):
        return Message(N_("Paste the robot's webhook address (https://…)."))
    parts = urlsplit(url)
    if production:
        if parts.scheme != "https" or parts.hostname != HOSTS[service]:
            return Message(
                N_("The address must start with https://%(host)s/."), {"host": HOSTS[service]}
            )
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        return Message(N_("Paste the robot's webhook address (https://…)."))
    return None


def save_robot(
    session: Session,
    actor: Principal,
    branch_id: int | None,
    *,
    service: str,
    url: str,
    secret: str = "",
    production: bool = True,
    now: datetime | None = None,
) -> int:
    """Add the branch's (None: the town's) robot of ``service``, or replace its address
    (and secret) if it has one. A 钉钉 robot needs its signing secret ("SEC…"); an empty
    secret keeps the one already saved. ``production``: only the services' own hosts
    over https (elsewhere any http(s) address, for local receivers and tests).
    Returns the robot's id."""
    _require(session, actor, branch_id)
    errors: dict[str, Message] = {}
    try:
        chosen = RobotService(service)
    except ValueError:
        raise InvalidInput({"service": Message(N_("Choose a service from the list."))}) from None
    url, secret = url.strip(), secret.strip()
    problem = _check_url(chosen, url, production=production)
    if problem is not None:
        errors["url"] = problem
    where = (
        RobotWebhook.branch_id.is_(None)
        if branch_id is None
        else RobotWebhook.branch_id == branch_id
    )
    existing = session.scalar(
        select(RobotWebhook).where(where, RobotWebhook.service == chosen, RobotWebhook.url != "")
    )
    if chosen == RobotService.DINGTALK:
        if secret and (not secret.startswith("SEC") or len(secret) > 200 or " " in secret):
            errors["secret"] = Message(N_("The signing secret starts with SEC."))
        elif not secret and (existing is None or not existing.secret):
            errors["secret"] = Message(N_("Paste the robot's signing secret (it starts with SEC)."))
    elif secret:
        errors["secret"] = Message(N_("A WeCom group robot has no signing secret: leave it empty."))
    if errors:
        raise InvalidInput(errors)
    if existing is None:
        existing = RobotWebhook(
            branch_id=branch_id,
            service=chosen,
            url=url,
            secret=secret,
            enabled=True,
            created_at=now or utcnow(),
            created_by_id=actor.account_id,
        )
        session.add(existing)
    else:
        existing.url = url
        if secret:
            existing.secret = secret
        existing.enabled = True
    session.flush()
    return existing.id


def _robot(
    session: Session, actor: Principal, branch_id: int | None, robot_id: int
) -> RobotWebhook:
    _require(session, actor, branch_id)
    row = session.get(RobotWebhook, robot_id)
    if row is None or row.branch_id != branch_id or row.url == "":
        raise NotFound(Message(N_("There is no such group robot.")))
    return row


def set_enabled(
    session: Session, actor: Principal, branch_id: int | None, robot_id: int, enabled: bool
) -> None:
    row = _robot(session, actor, branch_id, robot_id)
    row.enabled = enabled
    session.flush()


def remove_robot(session: Session, actor: Principal, branch_id: int | None, robot_id: int) -> None:
    """Delete the robot, or, if deliveries refer to it, clear its secrets and disable it."""
    row = _robot(session, actor, branch_id, robot_id)
    used = session.scalar(select(exists().where(Delivery.webhook_id == row.id)))
    if used:
        row.url, row.secret, row.enabled = "", "", False
    else:
        session.delete(row)
    session.flush()
