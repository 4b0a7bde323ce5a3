"""A member's entries: declare (with photo evidence), list, withdraw; and the photos,
served to those who may see their entry."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import File, Redirect, Template
from pydantic import BaseModel, ConfigDict, Field

from service.entries.entry import (
    EntryInput,
    declarable_from,
    entry_photo,
    member_entries_page,
    submit_entry,
    withdraw_entry,
)
from service.entries.evidence import PhotoStore, PhotoUpload, photos_by_entry
from service.kernel.config import Settings
from service.kernel.errors import InvalidInput
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from web.deps import Actor, Db, RecordId, Rules, town_date
from web.forms import UploadData, domain_field_errors, first_value, parse_form
from web.guards import requires_login, requires_member
from web.notices import notice

_DEFAULTS = Settings.model_fields
# Litestar takes a route's body limit when the app is built, before settings are read,
# so it comes from the default photo limits: room for one photo more than allowed, so
# that too many or too large photos get a message beside the field rather than a bare
# 413. Each photo's own limit (JIFEN_MAX_PHOTO_BYTES) is checked as it is read; raising
# it above the default needs this raised too. Files over 1 MB spool to disk, not memory.
_MAX_PHOTOS: int = _DEFAULTS["max_photos_per_entry"].default
_MAX_PHOTO_BYTES: int = _DEFAULTS["max_photo_bytes"].default
ENTRY_BODY_MAX = (_MAX_PHOTOS + 1) * _MAX_PHOTO_BYTES + 256 * 1024
PHOTO_FIELD = "photos"


class EntryForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    rule_id: str = Field(min_length=1)
    activity_date: date
    quantity: Decimal = Field(
        default=Decimal(1), max_digits=6, decimal_places=1, allow_inf_nan=False
    )
    description: str = Field(min_length=1, max_length=4000)


def _photo_store(request: Request[Any, Any, Any]) -> PhotoStore:
    settings: Settings = request.app.state.settings
    return PhotoStore.from_settings(settings)


def _form_page(
    request: Request[Any, Any, Any],
    db: Db,
    rulebook: Rules,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    *,
    photos_dropped: bool = False,
) -> Template:
    today = town_date(request)
    ruleset = rulebook.in_force(today)
    rules = ruleset.declarable_rules() if ruleset else ()
    earliest = declarable_from(db, rulebook, today)
    store = _photo_store(request)
    return Template(
        "entries/new.html",
        context={
            "rules": rules,
            "values": values,
            "errors": errors,
            "today": today.isoformat(),
            # The browser's date picker offers only dates the service accepts.
            "earliest": earliest,
            "max_photos": store.max_count,
            "max_photo_mb": f"{store.max_bytes / (1024 * 1024):g}",
            # The browser cannot be given files back: the member chooses them again.
            "photos_dropped": photos_dropped,
        },
        status_code=status_code,
    )


def _uploads(value: Any) -> list[UploadFile]:
    """The files of the photo field; a file input left empty sends a part without a
    file name, which arrives as an empty string and is no photo."""
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, UploadFile) and item.filename]


class EntriesController(Controller):
    path = "/entries"
    # Every route needs a signed-in person; declaring and listing need a member record
    # (their own guard). A photo is also for the entry's reviewers, who may have none:
    # its route checks the entry itself.
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", guards=[requires_member], sync_to_thread=True)
    def list_entries(
        self,
        db: Db,
        principal: Actor,
        done: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        # Any page number is read, never refused: past the last is the last page.
        entries = member_entries_page(db, principal, page=page_number(page))
        return Template(
            "entries/list.html",
            context={
                "entries": entries,
                "photos": photos_by_entry(db, [entry.id for entry in entries.items]),
                "notice": notice(done),
            },
        )

    @get("/new", guards=[requires_member], sync_to_thread=True)
    def new_entry_form(self, request: Request[Any, Any, Any], db: Db, rulebook: Rules) -> Template:
        values = {
            "rule_id": "",
            "activity_date": town_date(request).isoformat(),
            "quantity": "1",
            "description": "",
        }
        return _form_page(request, db, rulebook, values, {})

    @post(
        "/new",
        guards=[requires_member],
        request_max_body_size=ENTRY_BODY_MAX,
        sync_to_thread=True,
    )
    def create_entry(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        data: UploadData,
    ) -> Template | Redirect:
        files = _uploads(data.get(PHOTO_FIELD))
        try:
            return self._create(request, db, principal, rulebook, data, files)
        finally:
            for file in files:
                file.file.close()

    def _create(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        rulebook: Rules,
        data: dict[str, Any],
        files: list[UploadFile],
    ) -> Template | Redirect:
        values = first_value({key: value for key, value in data.items() if key != PHOTO_FIELD})
        parsed = parse_form(EntryForm, values)
        if isinstance(parsed, dict):
            return _form_page(
                request, db, rulebook, values, parsed, status_code=422, photos_dropped=bool(files)
            )
        try:
            submit_entry(
                db,
                principal,
                rulebook,
                EntryInput(
                    rule_id=parsed.rule_id,
                    activity_date=parsed.activity_date,
                    quantity=parsed.quantity,
                    description=parsed.description,
                ),
                today=town_date(request),
                now=utcnow(),
                photos=[PhotoUpload(file.file, file.filename) for file in files],
                photo_store=_photo_store(request),
            )
        except InvalidInput as exc:
            return _form_page(
                request,
                db,
                rulebook,
                values,
                domain_field_errors(exc),
                422,
                photos_dropped=bool(files),
            )
        return Redirect("/entries?done=submitted", status_code=303)

    @post("/{entry_id:str}/withdraw", guards=[requires_member], sync_to_thread=True)
    def withdraw(
        self,
        db: Db,
        principal: Actor,
        entry_id: FromPath[RecordId],
        page: FromQuery[str | None] = None,
    ) -> Redirect:
        withdraw_entry(db, principal, entry_id, now=utcnow())
        # Back to the page the entry was withdrawn from (clamped there if it shrank).
        number = page_number(page)
        suffix = f"&page={number}" if number > 1 else ""
        return Redirect(f"/entries?done=withdrawn{suffix}", status_code=303)

    @get("/{entry_id:str}/photos/{photo_id:str}", sync_to_thread=True)
    def photo(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        entry_id: FromPath[RecordId],
        photo_id: FromPath[RecordId],
        thumb: FromQuery[bool] = False,
    ) -> File:
        stored = entry_photo(
            db, principal, _photo_store(request), entry_id, photo_id, thumbnail=thumb
        )
        return File(
            path=stored.path,
            filename=stored.filename,
            media_type=stored.content_type,
            content_disposition_type="inline",
            # Evidence is personal: no shared cache keeps it, and the browser does not
            # keep it after the page either (nosniff comes with every response).
            headers={"Cache-Control": "private, no-store"},
        )
