"""The secretary's review queue: filters, pages, each entry's photo evidence, single
decisions and approving many entries at once after one confirmation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.entries.entry import EntryView
from service.entries.evidence import photos_by_entry
from service.entries.review import (
    BULK_MAX,
    QUEUE_PAGE_SIZES,
    QueueFilter,
    approval_previews,
    approve_entries,
    approve_entry,
    bulk_selection,
    queue_page,
    reject_entry,
    reviewable_entries,
)
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_, Message
from service.kernel.numbers import parse_id, parse_int
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, RecordId, Rules
from web.forms import FormData
from web.guards import requires_reviewer
from web.i18n import render
from web.notices import notice

AnyRequest = Request[Any, Any, Any]

RULE_ID_MAX = 64


def _values(data: Mapping[str, Any], key: str) -> list[str]:
    """Every value of a field that may repeat (the entries ticked), as strings."""
    found = data.get(key)
    if found is None:
        return []
    if isinstance(found, list | tuple):
        return [str(value) for value in found]
    return [str(found)]


def _one(data: Mapping[str, Any], key: str) -> str:
    values = _values(data, key)
    return values[0].strip() if values else ""


def entry_ids(data: Mapping[str, Any]) -> list[int]:
    """The ticked entries; something that is no id cannot be an entry of the queue and
    is dropped (the service refuses ids that are not the reviewer's)."""
    ids = (parse_id(value) for value in _values(data, "entry"))
    return [number for number in ids if number is not None]


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters and page, read from a query string or a form's hidden fields,
    kept in every link and form of the page so nothing is lost on the way back."""

    queue_filter: QueueFilter
    page: int
    size: int
    errors: dict[str, str]

    @classmethod
    def read(cls, data: Mapping[str, Any]) -> QueueQuery:
        errors: dict[str, str] = {}
        days: dict[str, date | None] = {}
        for key in ("from", "to"):
            text = _one(data, key)
            days[key] = None
            if text:
                try:
                    days[key] = date.fromisoformat(text)
                except ValueError:
                    errors[key] = render(Message(N_("Enter a date like 2026-03-12.")))
        if days["from"] and days["to"] and days["from"] > days["to"]:
            errors["to"] = render(Message(N_("The end date is before the start date.")))
            days["to"] = None
        rule = _one(data, "rule")[:RULE_ID_MAX]
        size = parse_int(_one(data, "size"), low=1, high=QUEUE_PAGE_SIZES[-1])
        return cls(
            queue_filter=QueueFilter(
                rule_id=rule or None,
                branch_id=parse_id(_one(data, "branch")),
                date_from=days["from"],
                date_to=days["to"],
            ),
            page=page_number(_one(data, "page")),
            size=size if size in QUEUE_PAGE_SIZES else QUEUE_PAGE_SIZES[0],
            errors=errors,
        )

    def params(self, *, page: int | None = None) -> list[tuple[str, str]]:
        """Only what differs from the defaults, so the plain queue stays ``/review``."""
        found = self.queue_filter
        params: list[tuple[str, str]] = []
        if found.rule_id:
            params.append(("rule", found.rule_id))
        if found.branch_id is not None:
            params.append(("branch", str(found.branch_id)))
        if found.date_from:
            params.append(("from", found.date_from.isoformat()))
        if found.date_to:
            params.append(("to", found.date_to.isoformat()))
        if self.size != QUEUE_PAGE_SIZES[0]:
            params.append(("size", str(self.size)))
        wanted = self.page if page is None else page
        if wanted != 1:
            params.append(("page", str(wanted)))
        return params

    def url(self, *extra: tuple[str, str], page: int | None = None) -> str:
        query = urlencode([*self.params(page=page), *extra])
        return f"/review?{query}" if query else "/review"

    def on_page(self, page: int) -> QueueQuery:
        return replace(self, page=page)


@dataclass(frozen=True)
class BulkNotice:
    """What a bulk approval did, shown on the queue it returned to."""

    approved: int
    skipped: list[EntryView]  # the entries left as they were, named


def _bulk_notice(db: Session, principal: Principal, data: Mapping[str, Any]) -> BulkNotice | None:
    if _one(data, "done") != "bulk":
        return None
    approved = parse_int(_one(data, "approved"), low=0, high=BULK_MAX) or 0
    skipped_ids = [
        number
        for number in (parse_id(part) for part in _one(data, "skipped").split(",") if part)
        if number is not None
    ]
    # Looked up behind the reviewer's own permission: the address can be edited, and
    # must not name entries of a branch the reviewer does not review.
    return BulkNotice(approved, reviewable_entries(db, principal, skipped_ids))


def _queue_page(
    db: Session,
    principal: Principal,
    rulebook: Rulebook,
    query: QueueQuery,
    *,
    selected: frozenset[int] = frozenset(),
    select_page: bool = False,
    notice_text: str | None = None,
    bulk: BulkNotice | None = None,
    error: str | None = None,
    field_errors: dict[int, str] | None = None,
    reasons: dict[int, str] | None = None,
    status_code: int = 200,
) -> Template:
    queue = queue_page(db, principal, query.queue_filter, page=query.page, size=query.size)
    query = query.on_page(queue.page)
    # What approving would do, caps included, so the reviewer sees it before clicking.
    previews = approval_previews(db, rulebook, queue.entries)
    if select_page:
        selected = frozenset(entry.id for entry in queue.entries)
    return Template(
        "review/queue.html",
        context={
            "queue": queue,
            "query": query,
            "page_sizes": QUEUE_PAGE_SIZES,
            "previews": previews,
            "selected": selected,
            # The evidence, so the reviewer sees it before deciding.
            "photos": photos_by_entry(db, [entry.id for entry in queue.entries]),
            "notice": notice_text,
            "bulk": bulk,
            "error": error,
            "filter_errors": query.errors,
            "field_errors": field_errors or {},
            "reasons": reasons or {},
        },
        status_code=status_code,
    )


def _done(query: QueueQuery, key: str) -> str:
    return query.url(("done", key))


class ReviewController(Controller):
    path = "/review"
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def queue(self, request: AnyRequest, db: Db, principal: Actor, rulebook: Rules) -> Template:
        params = request.query_params
        data = {key: params.getall(key) for key in params}
        return _queue_page(
            db,
            principal,
            rulebook,
            QueueQuery.read(data),
            selected=frozenset(entry_ids(data)),
            select_page=_one(data, "select") == "page",
            notice_text=notice(_one(data, "done")),
            bulk=_bulk_notice(db, principal, data),
        )

    @get("/bulk", sync_to_thread=True)
    def confirm_bulk(
        self, request: AnyRequest, db: Db, principal: Actor, rulebook: Rules
    ) -> Template:
        """The confirmation: every ticked entry with the points it would bring, and one
        button. Nothing changes here; the button posts the same list."""
        params = request.query_params
        data = {key: params.getall(key) for key in params}
        query = QueueQuery.read(data)
        try:
            selection = bulk_selection(db, principal, rulebook, entry_ids(data))
        except InvalidInput as exc:
            return _queue_page(
                db,
                principal,
                rulebook,
                query,
                error=render(exc.errors["entry"]),
                status_code=422,
            )
        return Template(
            "review/confirm.html",
            context={
                "selection": selection,
                "query": query,
                # Back to the queue with the same entries still ticked.
                "back_url": query.url(*[("entry", str(e.id)) for e in selection.pending]),
            },
        )

    @post("/bulk", sync_to_thread=True)
    def approve_bulk(
        self, db: Db, principal: Actor, rulebook: Rules, data: FormData
    ) -> Template | Redirect:
        query = QueueQuery.read(data)
        try:
            result = approve_entries(db, principal, rulebook, entry_ids(data), now=utcnow())
        except InvalidInput as exc:
            db.rollback()
            return _queue_page(
                db,
                principal,
                rulebook,
                query,
                error=render(exc.errors["entry"]),
                status_code=422,
            )
        extra = [("done", "bulk"), ("approved", str(len(result.approved)))]
        if result.skipped:
            extra.append(("skipped", ",".join(str(s.entry.id) for s in result.skipped)))
        return Redirect(query.url(*extra), status_code=303)

    @post("/{entry_id:str}/approve", sync_to_thread=True)
    def approve(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        entry_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        query = QueueQuery.read(data)
        try:
            approve_entry(db, principal, rulebook, entry_id, now=utcnow())
        except Conflict as exc:
            db.rollback()
            return _queue_page(
                db, principal, rulebook, query, error=render(exc.message), status_code=409
            )
        return Redirect(_done(query, "approved"), status_code=303)

    @post("/{entry_id:str}/reject", sync_to_thread=True)
    def reject(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        entry_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        query = QueueQuery.read(data)
        reason = _one(data, "reason")
        try:
            reject_entry(db, principal, entry_id, reason, now=utcnow(), rulebook=rulebook)
        except InvalidInput as exc:
            return _queue_page(
                db,
                principal,
                rulebook,
                query,
                field_errors={entry_id: render(exc.errors["reason"])},
                reasons={entry_id: reason},
                status_code=422,
            )
        except Conflict as exc:
            db.rollback()
            return _queue_page(
                db, principal, rulebook, query, error=render(exc.message), status_code=409
            )
        return Redirect(_done(query, "rejected"), status_code=303)
