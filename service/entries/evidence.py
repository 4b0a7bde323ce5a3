"""Photo evidence on entries: check an uploaded photo, store it, find it again.

Nothing about an upload is trusted. Its size is counted while it is read (never more
than the limit plus one byte); its kind is decided by decoding it with Pillow, not by
its file name or the content type the browser sent, and only JPEG and PNG decode; a
truncated file fails to decode; the pixel count is checked from the header before
anything is decoded, so a small file that would unpack into gigabytes (a decompression
bomb) is refused first. What is stored is not the upload but a re-encoding of its
pixels, turned upright by its EXIF orientation: the phone's metadata (GPS position,
camera serial number, comments) does not survive. A photo larger than ``MAX_SIDE`` is
scaled down, and a small JPEG thumbnail is written beside it for the pages that list
entries.

Files live in ``Settings.upload_dir``, outside the static folder, under random names
(``secrets.token_hex``), each written to a temporary file and renamed into place. They
are written inside the database transaction that records their ``EntryPhoto`` rows;
when that transaction does not commit, the files it wrote are removed again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageOps
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from service.kernel.config import Settings
from service.kernel.i18n import N_, Message
from service.persistence.models import EntryPhoto

logger = logging.getLogger("jifen.evidence")

# 40 megapixels covers every phone's default camera mode; decoding one takes ~120 MB as
# RGB. Checked on the header before decoding. Pillow's own bomb check
# (Image.MAX_IMAGE_PIXELS) stays in force too; it is not changed here, since it is
# global and other code in the process reads images as well.
MAX_PIXELS = 40_000_000
# Longest side of a stored photo: enough to read a signpost on a phone or a screen.
MAX_SIDE = 2560
THUMBNAIL_SIDE = 320
JPEG_QUALITY = 85
THUMBNAIL_QUALITY = 80
# Some phones write JPEGs with a second, multi-picture frame, which Pillow names MPO.
_OUTPUT = {
    "JPEG": ("image/jpeg", "jpg"),
    "MPO": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
}
STORED_NAME = re.compile(r"[0-9a-f]{32}\.(?:jpg|png)")
# Only the first characters of an uploaded name go into a message.
_NAME_SHOWN = 60


@dataclass(frozen=True)
class PhotoStore:
    """Where photos go and how many and how large they may be (from the settings)."""

    directory: Path
    max_bytes: int
    max_count: int

    @classmethod
    def from_settings(cls, settings: Settings) -> PhotoStore:
        return cls(
            directory=settings.upload_dir,
            max_bytes=settings.max_photo_bytes,
            max_count=settings.max_photos_per_entry,
        )

    def path_of(self, stored_name: str) -> Path:
        # Stored names come from the database, never from a request; checked anyway, so
        # that no value could ever lead outside the folder.
        if not STORED_NAME.fullmatch(stored_name):
            raise ValueError(f"not a stored photo name: {stored_name!r}")
        return self.directory / stored_name

    def thumbnail_of(self, stored_name: str) -> Path:
        return self.path_of(stored_name).with_suffix(".thumb.jpg")


class Readable(Protocol):
    """A binary stream (an upload spooled by the web framework, a file, BytesIO)."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class PhotoUpload:
    """One uploaded file as the web layer hands it over."""

    stream: Readable
    filename: str  # what the member's device called it: used in messages, nothing else


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo that passed every check, re-encoded and ready to be written."""

    content: bytes
    thumbnail: bytes
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str


@dataclass(frozen=True)
class PhotoRef:
    """What a page needs to show a photo: its address and its size."""

    id: int
    entry_id: int
    width: int
    height: int

    @property
    def url(self) -> str:
        return f"/entries/{self.entry_id}/photos/{self.id}"

    @property
    def thumbnail_url(self) -> str:
        return f"{self.url}?thumb=true"

    @property
    def thumbnail_size(self) -> tuple[int, int]:
        return thumbnail_size(self.width, self.height)


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """The size of the thumbnail written for a photo of this size."""
    scale = min(1.0, THUMBNAIL_SIDE / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


class PhotoRejected(Exception):
    """An upload that is not a usable photo; ``message`` tells the member why."""

    def __init__(self, message: Message) -> None:
        self.message = message
        super().__init__(str(message))


def _shown_name(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name.strip()
    return (name[:_NAME_SHOWN] + "…") if len(name) > _NAME_SHOWN else (name or "?")


def _read_at_most(stream: Readable, limit: int) -> bytes | None:
    """The stream's bytes, or None as soon as more than ``limit`` arrive: the rest of
    an oversized file is never read."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(1024 * 1024, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)


def _decoded(content: bytes, name: str) -> Image.Image:
    not_a_photo = Message(
        N_("%(name)s is not a JPEG or PNG photo, or the file is damaged."), {"name": name}
    )
    try:
        # Only these decoders are tried (MPO comes through the JPEG one).
        image = Image.open(io.BytesIO(content), formats=("JPEG", "PNG"))
    except Image.DecompressionBombError as exc:
        raise PhotoRejected(_too_many_pixels(name)) from exc
    except Exception as exc:
        # Any failure to identify an untrusted file means it is not a photo we can use.
        raise PhotoRejected(not_a_photo) from exc
    width, height = image.size
    if image.format not in _OUTPUT or width < 1 or height < 1:
        raise PhotoRejected(not_a_photo)
    if width * height > MAX_PIXELS:
        raise PhotoRejected(_too_many_pixels(name))
    if image.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result would be scaled
        # down anyway: a fraction of the memory and time. Still reads every byte, so
        # truncation is still found.
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))
    try:
        # Decodes every pixel: a truncated or corrupt file fails here (Pillow refuses
        # truncated files unless ImageFile.LOAD_TRUNCATED_IMAGES is set, which we never do).
        image.load()
    except Exception as exc:
        raise PhotoRejected(not_a_photo) from exc
    return image


def _too_many_pixels(name: str) -> Message:
    return Message(
        N_("%(name)s has more than %(max)d megapixels; send a smaller photo."),
        {"name": name, "max": MAX_PIXELS // 1_000_000},
    )


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _on_white(image: Image.Image) -> Image.Image:
    """An RGB image: transparent parts become white (JPEG has no transparency)."""
    if not _has_alpha(image):
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def prepare_photo(upload: PhotoUpload, *, max_bytes: int) -> PreparedPhoto:
    """Check one upload and re-encode it; PhotoRejected says what is wrong."""
    name = _shown_name(upload.filename)
    content = _read_at_most(upload.stream, max_bytes)
    if content is None:
        raise PhotoRejected(
            Message(
                N_("%(name)s is larger than %(max)s MB; send a smaller photo."),
                {"name": name, "max": _megabytes(max_bytes)},
            )
        )
    if not content:
        raise PhotoRejected(Message(N_("%(name)s is empty."), {"name": name}))
    source = _decoded(content, name)
    content_type, extension = _OUTPUT[source.format or ""]
    icc_profile = source.info.get("icc_profile")
    try:
        # Phones store the picture sideways and say so in EXIF; after re-encoding that
        # tag is gone, so the pixels themselves are turned upright.
        image = ImageOps.exif_transpose(source)
    except Exception:
        image = source  # a broken orientation tag: keep the picture as it is
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    if content_type == "image/jpeg":
        image = image if image.mode in ("RGB", "L") else _on_white(image)
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        # Palette, 16-bit and bilevel PNGs (converted while info still says which
        # palette entry is transparent).
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    # The image's info carries the EXIF block (GPS included) and comments, and some
    # savers fall back to it: emptied, so only what is passed below is written. The
    # colour profile is kept: it holds no personal data and keeps colours right.
    image.info = {}
    color: dict[str, Any] = {"icc_profile": icc_profile} if icc_profile else {}
    if content_type == "image/jpeg":
        stored = _encode(image, "JPEG", quality=JPEG_QUALITY, optimize=True, **color)
    else:
        stored = _encode(image, "PNG", optimize=True, **color)
    small = _on_white(image) if image.mode != "L" else image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    thumbnail = _encode(small, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return PreparedPhoto(
        content=stored,
        thumbnail=thumbnail,
        content_type=content_type,
        extension=extension,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(stored).hexdigest(),
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


TOO_MANY_FOR_ENTRY = N_("Attach at most %(max)d photos to one entry.")


def prepare_photos(
    uploads: Sequence[PhotoUpload], store: PhotoStore, *, too_many: str = TOO_MANY_FOR_ENTRY
) -> tuple[list[PreparedPhoto], Message | None]:
    """Check every upload; the prepared photos, or the first problem found.
    ``too_many`` says how many fit (``%(max)d``) where the photos go."""
    if len(uploads) > store.max_count:
        return [], Message(too_many, {"max": store.max_count})
    prepared = []
    for upload in uploads:
        try:
            prepared.append(prepare_photo(upload, max_bytes=store.max_bytes))
        except PhotoRejected as exc:
            return [], exc.message
    return prepared, None


# --- writing, with removal when the transaction does not commit -----------------------

_WRITTEN = "jifen_evidence_files"


def _forget_written(session: Session) -> None:
    session.info[_WRITTEN] = []


def _remove_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # Runs when any transaction of the session ends; only the outermost one decides.
    # After a commit ``_forget_written`` has already emptied the list.
    if transaction.parent is not None:
        return
    for path in session.info.get(_WRITTEN, []):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            logger.warning("could not remove %s after a rolled back upload", path)
    session.info[_WRITTEN] = []


def _track(session: Session, path: Path) -> None:
    if _WRITTEN not in session.info:
        session.info[_WRITTEN] = []
        event.listen(session, "after_commit", _forget_written)
        event.listen(session, "after_transaction_end", _remove_uncommitted)
    session.info[_WRITTEN].append(path)


def _write_new(session: Session, path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` all at once: a temporary file in the same folder,
    flushed to disk, then renamed; a reader never sees half a photo."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        # Tracked before the rename: an error after it still removes the file.
        _track(session, path)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_photo_files(session: Session, store: PhotoStore, photo: PreparedPhoto) -> str:
    """Write a photo and its thumbnail under a new random name (returned), removed
    again when the session's transaction does not commit. The caller records the row
    (an entry's, a meeting's) in the same transaction."""
    # Private to the app: nobody else on the machine needs to read the evidence.
    store.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # 128 random bits: a collision is not a practical concern, and the unique
    # constraint on stored_name would refuse one.
    stored_name = f"{secrets.token_hex(16)}.{photo.extension}"
    _write_new(session, store.path_of(stored_name), photo.content)
    _write_new(session, store.thumbnail_of(stored_name), photo.thumbnail)
    return stored_name


def store_photos(
    session: Session,
    store: PhotoStore,
    entry_id: int,
    photos: Sequence[PreparedPhoto],
    *,
    uploaded_by_id: int,
    now: datetime,
) -> list[int]:
    """Write the photos' files and record them for the entry; returns their ids."""
    if not photos:
        return []
    rows = []
    for photo in photos:
        stored_name = write_photo_files(session, store, photo)
        row = EntryPhoto(
            entry_id=entry_id,
            stored_name=stored_name,
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


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredPhoto:
    """A photo file the actor may see, and how to send it."""

    path: Path
    content_type: str
    filename: str  # a safe name for Content-Disposition, never the uploaded one


def stored_photo(
    store: PhotoStore, stored_name: str, content_type: str, *, stem: str, thumbnail: bool
) -> StoredPhoto | None:
    """The file of a photo (or its thumbnail) to send, named ``stem`` (``-small`` for
    the thumbnail); None when the file is missing. Who may see it is the caller's."""
    if thumbnail:
        small = store.thumbnail_of(stored_name)
        # Without its thumbnail (lost, or never made) the photo itself will do.
        if small.is_file():
            return StoredPhoto(small, "image/jpeg", f"{stem}-small.jpg")
    path = store.path_of(stored_name)
    if not path.is_file():
        return None
    extension = "png" if content_type == "image/png" else "jpg"
    return StoredPhoto(path, content_type, f"{stem}.{extension}")


def photos_by_entry(session: Session, entry_ids: Sequence[int]) -> dict[int, list[PhotoRef]]:
    """The photos of these entries, in upload order. The caller has already decided the
    viewer may see these entries."""
    found: dict[int, list[PhotoRef]] = {}
    if not entry_ids:
        return found
    rows = session.execute(
        select(EntryPhoto.id, EntryPhoto.entry_id, EntryPhoto.width, EntryPhoto.height)
        .where(EntryPhoto.entry_id.in_(sorted(set(entry_ids))))
        .order_by(EntryPhoto.entry_id, EntryPhoto.id)
    )
    for photo_id, entry_id, width, height in rows:
        found.setdefault(entry_id, []).append(PhotoRef(photo_id, entry_id, width, height))
    return found
