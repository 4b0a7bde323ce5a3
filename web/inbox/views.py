"""The inbox: one's notifications, newest first, each in the reader's language with a
link to the page where one acts. Opening a message marks it read and follows its link;
reading earns nothing and is never ranked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from service.kernel.i18n import N_
from service.notify.inbox import inbox, mark_read, visible_notification
from service.outbox.kinds import KINDS, render
from service.persistence.pagination import page_number
from web.auth import safe_next
from web.deps import Actor, Db, RecordId
from web.forms import FormData
from web.guards import requires_login
from web.i18n import gettext
from web.notices import notice

INBOX_NOTICES = {"all_read": N_("Every message is marked read.")}


@dataclass(frozen=True)
class Row:
    id: int
    read: bool
    title: str
    body: str
    action: str
    created_at: datetime
    link: str


class InboxController(Controller):
    path = "/inbox"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def list_page(
        self,
        db: Db,
        principal: Actor,
        unread: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        unread_only = unread == "1"
        result = inbox(db, principal.account_id, page=page_number(page), unread_only=unread_only)
        rows: list[Row] = []
        for item in result.items:
            n = item.notification
            if n.kind not in KINDS:
                continue  # a kind a newer release wrote: never fail the page over it
            words = render(n.kind, n.params, gettext)
            rows.append(
                Row(n.id, item.read, words.title, words.body, words.action, n.created_at, n.link)
            )
        return Template(
            "inbox/list.html",
            context={
                "result": result,
                "rows": rows,
                "unread_only": unread_only,
                "notice": notice(done, INBOX_NOTICES),
            },
        )

    @post("/{notification_id:str}/open", sync_to_thread=True)
    def open_message(
        self, db: Db, principal: Actor, notification_id: FromPath[RecordId], data: FormData
    ) -> Redirect:
        found = visible_notification(db, principal.account_id, notification_id)
        if found is None:
            raise NotFoundException()
        mark_read(db, principal.account_id, [found.id])
        return Redirect(safe_next(found.link or "/inbox"), status_code=303)

    @post("/read", sync_to_thread=True)
    def read_all(self, db: Db, principal: Actor, data: FormData) -> Redirect:
        mark_read(db, principal.account_id)
        return Redirect("/inbox?done=all_read", status_code=303)
