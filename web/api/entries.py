"""Entries through the API: a member's own entries and declaring one; a reviewer's queue
and decisions. Each handler is one service call; the services check who may act on
which entry, as they do for the pages."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter, QueryParameter

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, reject_entry
from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from service.overview.api import own_entries, pending_reviews, viewable_entry
from service.persistence.models import EntryStatus
from service.persistence.types import utcnow
from web.api.common import (
    CHANGE_SECURITY,
    CONFLICT,
    FORBIDDEN,
    ID_SCHEMA,
    MAX_ID,
    MONTH_PATTERN,
    NOT_FOUND,
    READ_SECURITY,
    TOO_MANY_TOKENS,
    UNAUTHORIZED,
    UNPROCESSABLE,
    Limit,
    Offset,
)
from web.api.schemas import (
    RULE_ID_PATTERN,
    Decision,
    EntriesPage,
    EntryOut,
    NewEntry,
    Rejection,
    points_text,
)
from web.deps import Actor, Db, RecordId, Rules, town_date
from web.guards import requires_reviewer
from web.i18n import current_locale

# Unknown fields are refused (400): the schema says so, which Litestar does not infer
# from the models' extra="forbid".
Strict = Body(media_type=RequestEncodingType.JSON, schema_extra={"additionalProperties": False})
EntryId = Annotated[RecordId, PathParameter(description="The entry's id.", **ID_SCHEMA)]
NO_PHOTOS_HERE = N_(
    "This item needs a photo as evidence, and photos cannot be sent through the API: "
    "declare it on the web form, with its photo."
)


def _page(result: Any, rulebook: Rules) -> EntriesPage:
    locale = current_locale()
    return EntriesPage(
        items=[EntryOut.of(item, rulebook, locale) for item in result.items],
        total=result.total,
        limit=result.limit,
        offset=result.offset,
        next_offset=result.next_offset,
    )


class EntriesApiController(Controller):
    path = "/entries"
    tags = ["entries"]  # noqa: RUF012 - Litestar's class attribute

    @get(
        "/",
        sync_to_thread=True,
        summary="My entries",
        description="The entries of the member the token (or session) belongs to, newest "
        "first, optionally only one status or one month. Accounts without a member record "
        "(instructors, the office) have none: 403.",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN},
    )
    def list_entries(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        status: Annotated[
            EntryStatus | None, QueryParameter(description="Only entries in this state.")
        ] = None,
        period: Annotated[
            str | None,
            QueryParameter(
                pattern=MONTH_PATTERN,
                description="Only entries dated in this month (YYYY-MM).",
            ),
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> EntriesPage:
        result = own_entries(
            db, principal, status=status, period=period, limit=limit, offset=offset
        )
        return _page(result, rulebook)

    @post(
        "/",
        sync_to_thread=True,
        summary="Declare an entry",
        description="A member declares a service for review, with the web form's checks: "
        "a rule members declare, in force on the date; the date neither in the future nor "
        "in a published month; a quantity the rule accepts; a description. The entry is "
        "pending until a reviewer of the member's branch decides. Photos cannot be sent "
        "through the API: a rule that needs one is refused with 422 (declare it on the web "
        "form). Needs an API token: the session cookie is refused (401).",
        security=CHANGE_SECURITY,
        status_code=201,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN, 422: UNPROCESSABLE},
    )
    def create_entry(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        data: Annotated[NewEntry, Strict],
    ) -> EntryOut:
        try:
            entry_id = submit_entry(
                db,
                principal,
                rulebook,
                EntryInput(
                    rule_id=data.rule_id,
                    activity_date=data.activity_date,
                    quantity=data.quantity_value,
                    description=data.description,
                ),
                today=town_date(request),
                now=utcnow(),
            )
        except InvalidInput as exc:
            if "photos" in exc.errors:
                # The form's message says to attach a photo; here there is no way to.
                errors = {**exc.errors, "photos": Message(NO_PHOTOS_HERE)}
                raise InvalidInput(errors) from exc
            raise
        return EntryOut.of(viewable_entry(db, principal, entry_id), rulebook, current_locale())

    @get(
        "/{entry_id:str}",
        sync_to_thread=True,
        summary="One entry",
        description="For its member, the reviewers (secretaries, instructors) of its branch "
        "and the office; 403 for anyone else.",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def get_entry(self, db: Db, principal: Actor, rulebook: Rules, entry_id: EntryId) -> EntryOut:
        return EntryOut.of(viewable_entry(db, principal, entry_id), rulebook, current_locale())


class ReviewsApiController(Controller):
    path = "/reviews"
    tags = ["reviews"]  # noqa: RUF012 - Litestar's class attribute
    # As on the review pages: an account that reviews nothing is refused before any entry
    # is looked up, so it cannot learn which ids exist.
    guards = [requires_reviewer]  # noqa: RUF012

    @get(
        "/",
        sync_to_thread=True,
        summary="My review queue",
        description="The pending entries the account may decide, oldest first: a "
        "secretary's or instructor's branches, every branch for the office; never the "
        "reviewer's own entries (their instructor decides those). 403 for accounts that "
        "review nothing, or for a `branch_id` they do not review.",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN},
    )
    def queue(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        branch_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="Only this branch's entries.")
        ] = None,
        rule_id: Annotated[
            str | None, QueryParameter(pattern=RULE_ID_PATTERN, description="Only this rule's.")
        ] = None,
        date_from: Annotated[
            date | None, QueryParameter(description="Activity on or after this day.")
        ] = None,
        date_to: Annotated[
            date | None, QueryParameter(description="Activity on or before this day.")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> EntriesPage:
        result = pending_reviews(
            db,
            principal,
            branch_id=branch_id,
            rule_id=rule_id,
            date_from=date_from,
            date_to=date_to,
            limit=limit,
            offset=offset,
        )
        return _page(result, rulebook)

    @post(
        "/{entry_id:str}/approve",
        sync_to_thread=True,
        summary="Approve a pending entry",
        description="Its points are written to the ledger at once (caps applied). For a "
        "reviewer of the entry's branch, never on their own entry. 409 when the entry is "
        "no longer pending (decided, withdrawn) or its month is published: nothing "
        "changes. Needs an API token.",
        security=CHANGE_SECURITY,
        status_code=200,
        responses={
            401: UNAUTHORIZED,
            429: TOO_MANY_TOKENS,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
        },
    )
    def approve(self, db: Db, principal: Actor, rulebook: Rules, entry_id: EntryId) -> Decision:
        counted = approve_entry(db, principal, rulebook, entry_id, now=utcnow())
        entry = EntryOut.of(viewable_entry(db, principal, entry_id), rulebook, current_locale())
        return Decision(entry=entry, points_counted=points_text(counted))

    @post(
        "/{entry_id:str}/reject",
        sync_to_thread=True,
        summary="Reject a pending entry, with the reason",
        description="The reason is required and shown to the member. Same rules as "
        "approving: a reviewer of the entry's branch, not their own entry, 409 when no "
        "longer pending. Needs an API token.",
        security=CHANGE_SECURITY,
        status_code=200,
        responses={
            401: UNAUTHORIZED,
            429: TOO_MANY_TOKENS,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
            422: UNPROCESSABLE,
        },
    )
    def reject(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        entry_id: EntryId,
        data: Annotated[Rejection, Strict],
    ) -> Decision:
        reject_entry(db, principal, entry_id, data.reason, now=utcnow(), rulebook=rulebook)
        entry = EntryOut.of(viewable_entry(db, principal, entry_id), rulebook, current_locale())
        return Decision(entry=entry, points_counted=None)
