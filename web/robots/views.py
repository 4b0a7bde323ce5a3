"""The robot pages: one list with an add/replace form, enable/disable and remove per
robot. The branch's page and the office's differ only in their address and whose robots
they are (``branch_id`` None: the town's)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.config import Settings
from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_
from service.notify.robots_config import (
    HOSTS,
    SERVICE_LABELS,
    remove_robot,
    robots,
    save_robot,
    set_enabled,
)
from service.persistence.models import Branch
from web.deps import Actor, Db, RecordId
from web.forms import FormData, domain_field_errors, first_value
from web.guards import requires_admin, requires_login
from web.notices import notice

AnyRequest = Request[Any, Any, Any]
NOTICES = {
    "saved": N_("The group robot is saved."),
    "enabled": N_("The group robot is on."),
    "disabled": N_("The group robot is off: nothing is posted to it."),
    "removed": N_("The group robot is removed."),
}


def _base(branch_id: int | None) -> str:
    return "/office/robots" if branch_id is None else f"/branches/{branch_id}/robots"


def robots_page(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    branch_id: int | None,
    *,
    done: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    listed = robots(db, principal, branch_id)  # checks who may see them first
    branch = db.get(Branch, branch_id) if branch_id is not None else None
    settings: Settings = request.app.state.settings
    return Template(
        "robots/list.html",
        context={
            "robots": listed,
            "branch": branch,
            "base": _base(branch_id),
            "labels": SERVICE_LABELS,
            "hosts": HOSTS,
            "production": settings.env == "production",
            "notice": notice(done, NOTICES),
            # The secret is never sent back: only the service and the address typed.
            "values": values or {"service": "wecom", "url": ""},
            "errors": errors or {},
        },
        status_code=status_code,
    )


def _save(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    branch_id: int | None,
    data: dict[str, Any],
) -> Template | Redirect:
    posted = first_value(data)
    service = str(posted.get("service") or "")
    url = str(posted.get("url") or "")
    secret = str(posted.get("secret") or "")
    settings: Settings = request.app.state.settings
    try:
        save_robot(
            db, principal, branch_id, service=service, url=url, secret=secret,
            production=settings.env == "production",
        )  # fmt: skip
    except InvalidInput as exc:
        # Neither the address (its token is the robot's key) nor the secret is sent
        # back: the form keeps the service chosen and asks for both again.
        return robots_page(
            request, db, principal, branch_id,
            values={"service": service, "url": "", "retype": "1"},
            errors=domain_field_errors(exc), status_code=422,
        )  # fmt: skip
    return Redirect(f"{_base(branch_id)}?done=saved", status_code=303)


def _toggle(
    db: Session, principal: Principal, branch_id: int | None, robot_id: int, on: bool
) -> Redirect:
    set_enabled(db, principal, branch_id, robot_id, on)
    return Redirect(f"{_base(branch_id)}?done={'enabled' if on else 'disabled'}", status_code=303)


def _remove(db: Session, principal: Principal, branch_id: int | None, robot_id: int) -> Redirect:
    remove_robot(db, principal, branch_id, robot_id)
    return Redirect(f"{_base(branch_id)}?done=removed", status_code=303)


class BranchRobotsController(Controller):
    path = "/branches/{branch_id:str}/robots"
    guards = [requires_login]  # noqa: RUF012 - the service checks the branch

    @get("/", sync_to_thread=True)
    def show(
        self, request: AnyRequest, db: Db, principal: Actor, branch_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:  # fmt: skip
        return robots_page(request, db, principal, branch_id, done=done)

    @post("/", sync_to_thread=True)
    def save(
        self, request: AnyRequest, db: Db, principal: Actor, branch_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:  # fmt: skip
        return _save(request, db, principal, branch_id, data)

    @post("/{robot_id:str}/enable", sync_to_thread=True)
    def enable(
        self, db: Db, principal: Actor, branch_id: FromPath[RecordId],
        robot_id: FromPath[RecordId], data: FormData,
    ) -> Redirect:  # fmt: skip
        return _toggle(db, principal, branch_id, robot_id, True)

    @post("/{robot_id:str}/disable", sync_to_thread=True)
    def disable(
        self, db: Db, principal: Actor, branch_id: FromPath[RecordId],
        robot_id: FromPath[RecordId], data: FormData,
    ) -> Redirect:  # fmt: skip
        return _toggle(db, principal, branch_id, robot_id, False)

    @post("/{robot_id:str}/remove", sync_to_thread=True)
    def remove(
        self, db: Db, principal: Actor, branch_id: FromPath[RecordId],
        robot_id: FromPath[RecordId], data: FormData,
    ) -> Redirect:  # fmt: skip
        return _remove(db, principal, branch_id, robot_id)


class OfficeRobotsController(Controller):
    path = "/office/robots"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def show(
        self, request: AnyRequest, db: Db, principal: Actor, done: FromQuery[str | None] = None
    ) -> Template:
        return robots_page(request, db, principal, None, done=done)

    @post("/", sync_to_thread=True)
    def save(
        self, request: AnyRequest, db: Db, principal: Actor, data: FormData
    ) -> Template | Redirect:
        return _save(request, db, principal, None, data)

    @post("/{robot_id:str}/enable", sync_to_thread=True)
    def enable(
        self, db: Db, principal: Actor, robot_id: FromPath[RecordId], data: FormData
    ) -> Redirect:
        return _toggle(db, principal, None, robot_id, True)

    @post("/{robot_id:str}/disable", sync_to_thread=True)
    def disable(
        self, db: Db, principal: Actor, robot_id: FromPath[RecordId], data: FormData
    ) -> Redirect:
        return _toggle(db, principal, None, robot_id, False)

    @post("/{robot_id:str}/remove", sync_to_thread=True)
    def remove(
        self, db: Db, principal: Actor, robot_id: FromPath[RecordId], data: FormData
    ) -> Redirect:
        return _remove(db, principal, None, robot_id)
