"""Member accounts in bulk (/account-sheets/new): a confirmation page lists who gets an
account and who is skipped and why; its POST creates them and answers with the A4 handout
to print, one slip per member.

The one-time passwords exist in plain text in that one response only: nothing stores
them (no session, no file, no log) and the response is marked ``no-store``. The XLSX
download of the same batch rides in the same response, as a ``data:`` link built from
the same in-memory list: no second request needs the passwords, so none has to keep
them. Reloading the page cannot show them again (the browser asks to resend the form,
and a resent form finds every member with an account already); a lost password is
re-issued by resetting it.
"""

from __future__ import annotations

import base64
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy.orm import Session

from service.accounts.bulk import BulkPlan, create_bulk_accounts, plan_bulk_accounts
from service.accounts.handout import handout_xlsx
from service.accounts.principal import Principal
from service.kernel.config import Settings
from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from service.kernel.numbers import parse_id
from service.persistence.types import utcnow
from web.deps import Actor, Db
from web.forms import FormData, first_value
from web.guards import requires_reviewer
from web.i18n import gettext as _
from web.i18n import render

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WHOLE_TOWN = "all"


def _scope(value: str | None) -> int | None:
    """The branch of ``?branch=ID``, or None for ``all`` (the whole town)."""
    if value == WHOLE_TOWN:
        return None
    branch_id = parse_id(value or "")
    if branch_id is None:
        raise InvalidInput({"branch": Message(N_("Choose a branch."))})
    return branch_id


def sign_in_url(request: Request[Any, Any, Any]) -> str:
    settings: Settings = request.app.state.settings
    base = settings.public_url or str(request.base_url)
    return base.rstrip("/") + "/login"


def _back(branch_id: int | None, principal_is_admin: bool) -> str:
    if branch_id is None:
        return "/admin/accounts"
    return f"/admin/branches/{branch_id}" if principal_is_admin else f"/branches/{branch_id}"


class AccountSheetController(Controller):
    path = "/account-sheets"
    # Secretaries and the office; the service checks the branch (a secretary: their own).
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/new", sync_to_thread=True)
    def confirm(self, db: Db, principal: Actor, branch: FromQuery[str | None] = None) -> Template:
        branch_id = _scope(branch)
        plan: BulkPlan = plan_bulk_accounts(db, principal, branch_id)
        return Template(
            "accounts/sheet_confirm.html",
            context={
                "plan": plan,
                "reasons": [render(row.skipped) for row in plan.skip if row.skipped],
                "scope": WHOLE_TOWN if branch_id is None else str(branch_id),
                "back": _back(branch_id, principal.is_admin),
            },
        )

    @post("/new", sync_to_thread=True)
    def create(
        self, request: Request[Any, Any, Any], db: Db, principal: Actor, data: FormData
    ) -> Template:
        values = first_value(data)
        branch_id = _scope(values.get("branch"))
        return _handout(request, db, principal, branch_id)


def _handout(
    request: Request[Any, Any, Any], db: Session, principal: Principal, branch_id: int | None
) -> Template:
    settings: Settings = request.app.state.settings
    result = create_bulk_accounts(db, principal, branch_id)
    url = sign_in_url(request)
    workbook = handout_xlsx(
        result.created, town_name=settings.town_name or "", sign_in_url=url, gettext=_
    )
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    scope = "town" if branch_id is None else f"branch-{branch_id}"
    return Template(
        "accounts/sheet_print.html",
        context={
            "result": result,
            "town_name": settings.town_name or "",
            "sign_in_url": url,
            "xlsx_href": f"data:{XLSX_TYPE};base64," + base64.b64encode(workbook).decode("ascii"),
            "xlsx_name": f"accounts-{scope}-{stamp}.xlsx",
            "back": _back(branch_id, principal.is_admin),
        },
        # The passwords must not stay in any cache: the browser's, or a proxy's.
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
