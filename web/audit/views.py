"""The audit log for the organisation office: filter, page through, export as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.capture import ACTION_LABELS, CLI_ADDRESS, OBJECT_LABELS, all_kinds, kind_parts
from service.audit.events import SIGN_IN
from service.audit.log import AuditFilter, AuditRow, audit_page, iter_events, to_csv
from service.kernel.config import Settings
from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from service.persistence.models import Branch
from service.persistence.pagination import Page, page_number
from web.deps import Db
from web.guards import requires_admin
from web.i18n import gettext as _
from web.i18n import render

AnyRequest = Request[Any, Any, Any]
PER_PAGE = 50
CSV_TYPE = "text/csv; charset=utf-8"
# What the office reads as "who" and "from where" when there is no account or address.
NOBODY = N_("system")
CLI = N_("command line")
NOT_SIGNED_IN = N_("someone not signed in")


@dataclass(frozen=True)
class Filters:
    """The query string as typed, and the filter it stands for."""

    values: dict[str, str]
    criteria: AuditFilter
    errors: dict[str, Message]

    @property
    def query(self) -> str:
        """The filter as a query string, for the page links and the CSV link."""
        return urlencode({key: value for key, value in self.values.items() if value})


def _parse_day(text: str, field: str, errors: dict[str, Message]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = Message(N_("Enter a date like 2026-03-12."))
        return None


def _filters(
    account: str | None, branch: str | None, kind: str | None, since: str | None, until: str | None
) -> Filters:
    values = {
        "account": (account or "").strip()[:64],
        "branch": (branch or "").strip()[:32],
        "kind": (kind or "").strip()[:48],
        "since": (since or "").strip()[:10],
        "until": (until or "").strip()[:10],
    }
    errors: dict[str, Message] = {}
    since_day = _parse_day(values["since"], "since", errors)
    until_day = _parse_day(values["until"], "until", errors)
    if since_day and until_day and until_day < since_day:
        errors["until"] = Message(N_("The end date is before the start date."))
    criteria = AuditFilter(
        account=values["account"] or None,
        branch=values["branch"] or None,
        kind=values["kind"] or None,
        since=since_day,
        until=until_day,
    )
    return Filters(values, criteria, errors)


def kind_label(kind: str) -> str:
    object_type, action = kind_parts(kind)
    thing = OBJECT_LABELS.get(object_type)
    done = ACTION_LABELS.get(action)
    if thing is None or done is None:
        return kind
    return _("%(object)s %(action)s") % {"object": _(thing), "action": _(done)}


def who_label(row: AuditRow) -> str:
    if row.actor is None:
        # A sign-in that did not succeed was made by someone nobody knows yet.
        return _(NOT_SIGNED_IN if row.object_type == SIGN_IN else NOBODY)
    return f"{row.actor_name} ({row.actor})" if row.actor_name else row.actor


def where_label(row: AuditRow) -> str:
    if row.ip_address == CLI_ADDRESS:
        return _(CLI)
    return row.ip_address or "-"


def _branches(db: Session) -> list[tuple[str, str]]:
    rows = db.execute(select(Branch.code, Branch.name).order_by(Branch.code))
    return [(row.code, row.name) for row in rows]


def _timezone(request: AnyRequest) -> str:
    settings: Settings = request.app.state.settings
    return settings.timezone


class AuditController(Controller):
    path = "/admin"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    @get("/audit", sync_to_thread=True)
    def log(
        self,
        request: AnyRequest,
        db: Db,
        account: FromQuery[str | None] = None,
        branch: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        filters = _filters(account, branch, kind, since, until)
        timezone = _timezone(request)
        if filters.errors:
            result = Page[AuditRow](items=[], total=0, page=1, pages=1, size=PER_PAGE)
        else:
            result = audit_page(
                db, filters.criteria, timezone=timezone, page=page_number(page), size=PER_PAGE
            )
        return Template(
            "audit/log.html",
            context={
                "filters": filters,
                "errors": {field: render(message) for field, message in filters.errors.items()},
                "result": result,
                "kinds": [(k, kind_label(k)) for k in all_kinds()],
                "objects": [(k, _(v)) for k, v in OBJECT_LABELS.items()],
                "branches": _branches(db),
                "kind_label": kind_label,
                "who_label": who_label,
                "where_label": where_label,
                "timezone": timezone,
            },
            status_code=422 if filters.errors else 200,
        )

    @get("/audit.csv", sync_to_thread=True)
    def export(
        self,
        request: AnyRequest,
        db: Db,
        account: FromQuery[str | None] = None,
        branch: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        filters = _filters(account, branch, kind, since, until)
        timezone = _timezone(request)
        if filters.errors:
            raise InvalidInput(filters.errors)
        headings = [
            _("Number"),
            _("When"),
            _("Who"),
            _("From where"),
            _("What"),
            _("Object type"),
            _("Object number"),
            _("Branch"),
            _("Summary"),
            _("Before"),
            _("After"),
        ]
        body = to_csv(
            iter_events(db, filters.criteria, timezone=timezone),
            headings,
            timezone=timezone,
        )
        return Response(
            body,
            media_type=CSV_TYPE,
            headers={"Content-Disposition": 'attachment; filename="jifen-audit.csv"'},
        )
