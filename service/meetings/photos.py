"""Photos with a meeting's minutes: checked, re-encoded and stored by the entries'
evidence code (``service.entries.evidence``: JPEG or PNG only, metadata such as the GPS
position dropped, random names in the upload folder, the same size and count limits),
recorded as ``MeetingPhoto`` rows when the meeting is closed, and served only to those
who may see the meeting (anyone else is told it does not exist)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.entries.evidence import (
    PhotoStore,
    PhotoUpload,
    PreparedPhoto,
    StoredPhoto,
    prepare_photos,
    stored_photo,
    thumbnail_size,
    write_photo_files,
)
from service.kernel.errors import NotFound
from service.kernel.i18n import N_, Message
from service.meetings.access import visible_meeting
from service.persistence.meetings import MeetingPhoto

TOO_MANY_FOR_MINUTES = N_("Attach at most %(max)d photos to the minutes.")


@dataclass(frozen=True)
class MinutesPhoto:
    """What a page needs to show a photo of the minutes: its address and its size."""

    id: int
    meeting_id: int
    width: int
    height: int

    @property
    def url(self) -> str:
        return f"/meetings/{self.meeting_id}/photos/{self.id}"

    @property
    def thumbnail_url(self) -> str:
        return f"{self.url}?thumb=true"

    @property
    def thumbnail_size(self) -> tuple[int, int]:
        return thumbnail_size(self.width, self.height)


def prepare_minutes_photos(
    uploads: Sequence[PhotoUpload], store: PhotoStore | None
) -> tuple[list[PreparedPhoto], Message | None]:
    """Check the uploads: the re-encoded photos, or the first problem found."""
    if not uploads:
        return [], None
    if store is None:
        raise ValueError("photos need a photo_store to go to")
    return prepare_photos(uploads, store, too_many=TOO_MANY_FOR_MINUTES)


def store_minutes_photos(
    session: Session,
    store: PhotoStore,
    meeting_id: int,
    photos: Sequence[PreparedPhoto],
    *,
    uploaded_by_id: int,
    now: datetime,
) -> list[int]:
    """Write the files and record them for the meeting in the caller's transaction."""
    rows = []
    for photo in photos:
        row = MeetingPhoto(
            meeting_id=meeting_id,
            stored_name=write_photo_files(session, store, photo),
            content_type=photo.content_type,
            size_bytes=len(photo.content),
            width=photo.width,
            height=photo.height,
            sha256=photo.sha256,
            uploaded_at=now,
            uploaded_by_id=uploaded_by_id,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return [row.id for row in rows]


def minutes_photos(session: Session, meeting_id: int) -> list[MinutesPhoto]:
    """The meeting's photos in upload order; the caller has checked who is looking."""
    rows = session.execute(
        select(MeetingPhoto.id, MeetingPhoto.width, MeetingPhoto.height)
        .where(MeetingPhoto.meeting_id == meeting_id)
        .order_by(MeetingPhoto.id)
    )
    return [MinutesPhoto(photo_id, meeting_id, width, height) for photo_id, width, height in rows]


def meeting_photo(
    session: Session,
    actor: Principal,
    store: PhotoStore,
    meeting_id: int,
    photo_id: int,
    *,
    thumbnail: bool = False,
) -> StoredPhoto:
    """One photo of the minutes, for those who may see the meeting; NotFound otherwise."""
    # Who may look comes first: a stranger learns nothing about the meeting's photos.
    visible_meeting(session, actor, meeting_id)
    photo = session.scalar(
        select(MeetingPhoto).where(
            MeetingPhoto.id == photo_id, MeetingPhoto.meeting_id == meeting_id
        )
    )
    if photo is None:
        raise NotFound(Message(N_("No such photo.")))
    found = stored_photo(
        store,
        photo.stored_name,
        photo.content_type,
        stem=f"meeting-{meeting_id}-photo-{photo_id}",
        thumbnail=thumbnail,
    )
    if found is None:
        raise NotFound(Message(N_("The photo file is missing on the server.")))
    return found
