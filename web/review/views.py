"""The secretary's review queue, with each entry's photo evidence."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from service.errors import Conflict, InvalidInput
from service.evidence import photos_by_entry
from service.review import approval_previews, approve_entry, reject_entry, review_queue
from service.types import utcnow
from web.auth import requires_reviewer
from web.deps import Actor, Db, Rules
from web.forms import first_value
from web.i18n import render
from web.notices import notice

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _queue_page(
    db: Db,
    principal: Actor,
    rulebook: Rules,
    *,
    notice_text: str | None = None,
    error: str | None = None,
    field_errors: dict[int, str] | None = None,
    reasons: dict[int, str] | None = None,
    status_code: int = 200,
) -> Template:
    queue = review_queue(db, principal)
    # What approving would do, caps included, so the reviewer sees it before clicking.
    previews = approval_previews(db, rulebook, queue.entries)
    return Template(
        "review/queue.html",
        context={
            "queue": queue,
            "previews": previews,
            # The evidence, so the reviewer sees it before deciding.
            "photos": photos_by_entry(db, [entry.id for entry in queue.entries]),
            "notice": notice_text,
            "error": error,
            "field_errors": field_errors or {},
            "reasons": reasons or {},
        },
        status_code=status_code,
    )


class ReviewController(Controller):
    path = "/review"
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def queue(
        self, db: Db, principal: Actor, rulebook: Rules, done: FromQuery[str | None] = None
    ) -> Template:
        return _queue_page(db, principal, rulebook, notice_text=notice(done))

    @post("/{entry_id:int}/approve", sync_to_thread=True)
    def approve(
        self, db: Db, principal: Actor, rulebook: Rules, entry_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            approve_entry(db, principal, rulebook, entry_id, now=utcnow())
        except Conflict as exc:
            db.rollback()
            return _queue_page(db, principal, rulebook, error=render(exc.message), status_code=409)
        return Redirect("/review?done=approved", status_code=303)

    @post("/{entry_id:int}/reject", sync_to_thread=True)
    def reject(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        entry_id: FromPath[int],
        data: FormData,
    ) -> Template | Redirect:
        reason = str(first_value(data).get("reason", ""))
        try:
            reject_entry(db, principal, entry_id, reason, now=utcnow())
        except InvalidInput as exc:
            return _queue_page(
                db,
                principal,
                rulebook,
                field_errors={entry_id: render(exc.errors["reason"])},
                reasons={entry_id: reason},
                status_code=422,
            )
        except Conflict as exc:
            db.rollback()
            return _queue_page(db, principal, rulebook, error=render(exc.message), status_code=409)
        return Redirect("/review?done=rejected", status_code=303)
