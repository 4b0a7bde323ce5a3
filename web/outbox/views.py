"""The office's outbox page and its retries."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from service.kernel.i18n import N_
from service.notify.dead_letters import retry_dead, status_counts
from service.notify.outbox_view import dead_page
from service.outbox.kinds import KINDS
from service.persistence.notify import DeliveryStatus
from service.persistence.pagination import page_number
from web.deps import Actor, Db, RecordId
from web.forms import FormData
from web.guards import requires_admin
from web.notices import notice

NOTICES = {
    "retried": N_("The message is queued again; the next sender run sends it."),
    "retried_all": N_("Every dead message is queued again; the next sender run sends them."),
    "nothing": N_("That message is not in the dead-letter list any more."),
}
STATUS_LABELS = {
    DeliveryStatus.PENDING: N_("Waiting"),
    DeliveryStatus.SENT: N_("Sent"),
    DeliveryStatus.SKIPPED: N_("Skipped (nobody to send to)"),
    DeliveryStatus.DEAD: N_("Failed (dead letters)"),
}


class OutboxController(Controller):
    path = "/outbox"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def show(
        self,
        db: Db,
        principal: Actor,
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        return Template(
            "outbox/page.html",
            context={
                "counts": status_counts(db, principal),
                "dead": dead_page(db, principal, page=page_number(page)),
                "status_labels": STATUS_LABELS,
                "kinds": KINDS,
                "notice": notice(done, NOTICES),
            },
        )

    @post("/{delivery_id:str}/retry", sync_to_thread=True)
    def retry_one(
        self, db: Db, principal: Actor, delivery_id: FromPath[RecordId], data: FormData
    ) -> Redirect:
        done = "retried" if retry_dead(db, principal, [delivery_id]) else "nothing"
        return Redirect(f"/outbox?done={done}", status_code=303)

    @post("/retry", sync_to_thread=True)
    def retry_all(self, db: Db, principal: Actor, data: FormData) -> Redirect:
        retry_dead(db, principal)
        return Redirect("/outbox?done=retried_all", status_code=303)
