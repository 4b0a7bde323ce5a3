"""The photos of a meeting's minutes: taken with the close form, shown on the meeting's
page, served at /meetings/{id}/photos/{photo_id} to those who may see the meeting."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import File

from service.entries.evidence import PhotoStore
from service.kernel.config import Settings
from service.meetings.photos import meeting_photo
from web.deps import Actor, Db, RecordId
from web.guards import requires_login

_DEFAULTS = Settings.model_fields
# As for entries (web/entries/views.py): Litestar takes a route's body limit when the app
# is built, so it comes from the default photo limits, with room for one photo more than
# allowed so that too many or too large photos get a message beside the field.
_MAX_PHOTOS: int = _DEFAULTS["max_photos_per_entry"].default
_MAX_PHOTO_BYTES: int = _DEFAULTS["max_photo_bytes"].default
PHOTOS_BODY_MAX = (_MAX_PHOTOS + 1) * _MAX_PHOTO_BYTES + 256 * 1024
PHOTO_FIELD = "photos"


def photo_store(request: Request[Any, Any, Any]) -> PhotoStore:
    settings: Settings = request.app.state.settings
    return PhotoStore.from_settings(settings)


def photo_uploads(value: Any) -> list[UploadFile]:
    """The files of the photo field; a file input left empty sends a part without a
    file name, which arrives as an empty string and is no photo."""
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, UploadFile) and item.filename]


class MeetingPhotosController(Controller):
    path = "/meetings"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/{meeting_id:str}/photos/{photo_id:str}", sync_to_thread=True)
    def photo(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        meeting_id: FromPath[RecordId],
        photo_id: FromPath[RecordId],
        thumb: FromQuery[bool] = False,
    ) -> File:
        stored = meeting_photo(
            db, principal, photo_store(request), meeting_id, photo_id, thumbnail=thumb
        )
        return File(
            path=stored.path,
            filename=stored.filename,
            media_type=stored.content_type,
            content_disposition_type="inline",
            # Like entry evidence: no shared cache keeps it, nor the browser after the page.
            headers={"Cache-Control": "private, no-store"},
        )
