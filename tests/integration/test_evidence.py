"""Photo evidence on entries, through the services on the real database: what is
accepted (by content, never by name), what is stored (re-encoded, metadata gone, under a
generated name in the upload folder), what a rollback leaves behind (nothing), and who
may see a photo.

The image helpers here are shared with tests/functional/test_photos.py and the
permission matrix.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zlib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image
from sqlalchemy import select

from service.entries.entry import EntryInput, entry_photo, submit_entry
from service.entries.evidence import MAX_PIXELS, MAX_SIDE, PhotoStore, PhotoUpload, prepare_photo
from service.kernel.config import PROJECT_ROOT
from service.kernel.errors import InvalidInput, NotFound, PermissionDenied
from service.kernel.periods import town_today
from service.persistence.db import Database
from service.persistence.models import AuditEvent, EntryPhoto
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook, parse_ruleset
from tests.conftest import SmallTown

# --- images made here, with Pillow ------------------------------------------------------


def jpeg_bytes(
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 40, 40),
    *,
    exif: bytes | None = None,
    comment: bytes | None = None,
) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, Any] = {"quality": 90}
    if exif is not None:
        options["exif"] = exif
    if comment is not None:
        options["comment"] = comment
    Image.new("RGB", size, color).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (40, 30)) -> bytes:
    """An RGBA PNG, half transparent."""
    image = Image.new("RGBA", size, (20, 120, 200, 255))
    image.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (16, 16)).save(buffer, "GIF")
    return buffer.getvalue()


GPS_LATITUDE = (22.0, 16.0, 30.0)
CAMERA_MAKE = "JinwanPhone"


def gps_exif(orientation: int = 1) -> bytes:
    """EXIF as a phone writes it: maker, orientation and where the photo was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA_MAKE
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: GPS_LATITUDE,
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (113.0, 34.0, 12.0),
    }
    return exif.tobytes()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels (a decompression
    bomb's shape: a few hundred bytes that would unpack into gigabytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def rulebook_with_photo_required(rule_id: str = "good_deed") -> Rulebook:
    """The real rules, with ``photo_required = true`` on ``rule_id`` in every version."""
    rulesets = []
    for path in sorted((PROJECT_ROOT / "scoring_rules").glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        marker = f'id = "{rule_id}"\n'
        assert marker in text, f"{path.name} has no rule {rule_id}"
        rulesets.append(parse_ruleset(text.replace(marker, marker + "photo_required = true\n"), ""))
    return Rulebook.of(rulesets)


STORED_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png)")


# --- fixtures ----------------------------------------------------------------------------


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


@pytest.fixture
def store(tmp_path: Path) -> PhotoStore:
    return PhotoStore(directory=tmp_path / "uploads", max_bytes=200_000, max_count=3)


def upload(content: bytes, filename: str = "IMG_0001.jpg") -> PhotoUpload:
    return PhotoUpload(io.BytesIO(content), filename)


def submit(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    store: PhotoStore,
    photos: list[PhotoUpload],
    *,
    username: str = "member",
    rule_id: str = "good_deed",
) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput(rule_id, today(), Decimal(1), "在268省道西山桥路口修好路灯"),
            today=today(),
            now=utcnow(),
            photos=photos,
            photo_store=store,
        )


def refusal(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    store: PhotoStore,
    photos: list[PhotoUpload],
) -> str:
    """The message beside the photo field when the entry is refused."""
    with pytest.raises(InvalidInput) as refused:
        submit(database, town, rulebook, store, photos)
    return str(refused.value.errors["photos"])


def stored_photos(database: Database) -> list[EntryPhoto]:
    with database.transaction(write=False) as session:
        return list(session.scalars(select(EntryPhoto).order_by(EntryPhoto.id)))


def files_in(store: PhotoStore) -> list[Path]:
    if not store.directory.exists():
        return []
    return sorted(store.directory.iterdir())


# --- what is accepted and how it is stored ------------------------------------------------


def test_a_jpeg_is_stored_under_a_generated_name_with_its_digest(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    entry_id = submit(database, town, rulebook, store, [upload(jpeg_bytes(), "现场.jpg")])

    [photo] = stored_photos(database)
    assert photo.entry_id == entry_id
    assert STORED_NAME.fullmatch(photo.stored_name)
    assert "现场" not in photo.stored_name
    assert photo.content_type == "image/jpeg"
    assert (photo.width, photo.height) == (64, 48)
    path = store.directory / photo.stored_name
    content = path.read_bytes()
    assert photo.size_bytes == len(content)
    assert photo.sha256 == hashlib.sha256(content).hexdigest()
    assert photo.uploaded_by_id == town.account_ids["member"]
    # The photo and its thumbnail, nothing else (no temporary file left behind).
    assert [p.name for p in files_in(store)] == sorted(
        [photo.stored_name, photo.stored_name.removesuffix(".jpg") + ".thumb.jpg"]
    )
    assert Image.open(path).format == "JPEG"


def test_a_png_stays_a_png_with_its_transparency(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    submit(database, town, rulebook, store, [upload(png_bytes(), "screenshot.png")])

    [photo] = stored_photos(database)
    assert photo.content_type == "image/png"
    assert photo.stored_name.endswith(".png")
    image = Image.open(store.directory / photo.stored_name)
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]


def test_the_kind_comes_from_the_content_not_the_name(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    # A real PNG called .exe is a PNG: stored as one, under a generated .png name; the
    # uploaded name is never used for anything but messages.
    submit(database, town, rulebook, store, [upload(png_bytes(), "setup.exe")])

    [photo] = stored_photos(database)
    assert photo.content_type == "image/png"
    assert STORED_NAME.fullmatch(photo.stored_name)
    assert not any(p.name.endswith(".exe") for p in files_in(store))


def test_gps_and_other_metadata_are_gone_and_the_photo_is_upright(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    original = jpeg_bytes((64, 48), exif=gps_exif(orientation=6), comment=b"Jinwan secret")
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    submit(database, town, rulebook, store, [upload(original)])

    [photo] = stored_photos(database)
    content = (store.directory / photo.stored_name).read_bytes()
    stored = Image.open(io.BytesIO(content))
    exif = stored.getexif()
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert ExifTags.Base.Make not in exif
    assert "exif" not in stored.info
    assert "comment" not in stored.info
    assert CAMERA_MAKE.encode() not in content
    assert b"Jinwan secret" not in content
    # Orientation 6 (turn 90° clockwise) is applied to the pixels: 64 × 48 stands up.
    assert stored.size == (48, 64)
    assert (photo.width, photo.height) == (48, 64)


def test_a_multi_picture_jpeg_from_a_phone_is_stored_as_a_plain_jpeg(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    # Some phones write a second frame (depth map, preview): Pillow calls that MPO.
    buffer = io.BytesIO()
    first, second = Image.new("RGB", (50, 40), (1, 2, 3)), Image.new("RGB", (50, 40), (9, 9, 9))
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    submit(database, town, rulebook, store, [upload(buffer.getvalue())])

    [photo] = stored_photos(database)
    stored = Image.open(store.directory / photo.stored_name)
    assert (stored.format, photo.content_type) == ("JPEG", "image/jpeg")
    assert getattr(stored, "n_frames", 1) == 1


def test_a_very_large_photo_is_scaled_down(
    database: Database, town: SmallTown, rulebook: Rulebook, tmp_path: Path
) -> None:
    store = PhotoStore(directory=tmp_path / "big", max_bytes=5 * 1024 * 1024, max_count=3)
    submit(database, town, rulebook, store, [upload(jpeg_bytes((4000, 1000)))])

    [photo] = stored_photos(database)
    assert max(photo.width, photo.height) == MAX_SIDE
    assert Image.open(store.directory / photo.stored_name).size == (photo.width, photo.height)


# --- what is refused -----------------------------------------------------------------------


class CountingStream(io.BytesIO):
    """Counts the bytes the service reads."""

    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self.bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_an_oversized_file_is_refused_before_it_is_read_in_full(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    stream = CountingStream(b"\xff" * (store.max_bytes * 10))
    message = refusal(database, town, rulebook, store, [PhotoUpload(stream, "huge.jpg")])

    assert "huge.jpg" in message
    assert "larger than" in message
    assert stream.bytes_read <= store.max_bytes + 1
    assert stored_photos(database) == []
    assert files_in(store) == []


def test_a_photo_just_under_the_limit_is_accepted(tmp_path: Path) -> None:
    content = jpeg_bytes((300, 200))
    store = PhotoStore(directory=tmp_path, max_bytes=len(content), max_count=1)
    prepared = prepare_photo(upload(content), max_bytes=store.max_bytes)
    assert prepared.content_type == "image/jpeg"


def _truncated_jpeg() -> bytes:
    content = jpeg_bytes((400, 300))
    return content[: len(content) // 2]


def _executable() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200 + b"This program cannot be run in DOS mode"


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        pytest.param(gif_bytes(), "animation.gif", id="gif"),
        pytest.param(gif_bytes(), "animation.jpg", id="gif-named-jpg"),
        pytest.param("这不是照片".encode(), "photo.jpg", id="text-named-jpg"),
        pytest.param(_truncated_jpeg(), "cut.jpg", id="truncated-jpeg"),
        pytest.param(_executable(), "photo.png", id="exe-named-png"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.png", id="svg"),
        pytest.param(b"", "empty.jpg", id="empty"),
    ],
)
def test_what_is_not_a_jpeg_or_png_is_refused(
    content: bytes,
    filename: str,
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    store: PhotoStore,
) -> None:
    message = refusal(database, town, rulebook, store, [upload(content, filename)])

    assert filename in message
    assert stored_photos(database) == []
    assert files_in(store) == []


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(7000, 7000, id="49-megapixels"),  # over our limit, under Pillow's
        pytest.param(30000, 30000, id="900-megapixels"),  # Pillow's own bomb error
    ],
)
def test_a_decompression_bomb_is_refused_before_decoding(
    width: int,
    height: int,
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    store: PhotoStore,
) -> None:
    assert width * height > MAX_PIXELS
    message = refusal(database, town, rulebook, store, [upload(png_claiming(width, height))])

    assert "megapixels" in message
    assert stored_photos(database) == []


def test_more_photos_than_allowed_are_refused(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    photos = [upload(jpeg_bytes()) for _ in range(store.max_count + 1)]
    message = refusal(database, town, rulebook, store, photos)

    assert f"at most {store.max_count}" in message
    assert files_in(store) == []


def test_one_bad_photo_refuses_the_entry_and_stores_none(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    refusal(database, town, rulebook, store, [upload(jpeg_bytes()), upload(gif_bytes(), "b.gif")])

    assert stored_photos(database) == []
    assert files_in(store) == []


# --- photo_required ------------------------------------------------------------------------


def test_a_rule_that_requires_a_photo_refuses_an_entry_without_one(
    database: Database, town: SmallTown, store: PhotoStore
) -> None:
    rulebook = rulebook_with_photo_required("good_deed")
    message = refusal(database, town, rulebook, store, [])

    assert "photo" in message


def test_a_rule_that_requires_a_photo_accepts_an_entry_with_one(
    database: Database, town: SmallTown, store: PhotoStore
) -> None:
    rulebook = rulebook_with_photo_required("good_deed")
    entry_id = submit(database, town, rulebook, store, [upload(jpeg_bytes())])

    assert [photo.entry_id for photo in stored_photos(database)] == [entry_id]


def test_other_rules_still_need_no_photo(
    database: Database, town: SmallTown, store: PhotoStore
) -> None:
    rulebook = rulebook_with_photo_required("good_deed")
    assert submit(database, town, rulebook, store, [], rule_id="volunteer")


# --- the transaction ---------------------------------------------------------------------


class Boom(Exception):
    pass


def test_files_written_are_removed_when_the_transaction_rolls_back(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    written: list[Path] = []
    with pytest.raises(Boom), database.transaction() as session:
        submit_entry(
            session,
            town.principal(database, "member"),
            rulebook,
            EntryInput("good_deed", today(), Decimal(1), "修好路灯"),
            today=today(),
            now=utcnow(),
            photos=[upload(jpeg_bytes()), upload(png_bytes(), "b.png")],
            photo_store=store,
        )
        written = files_in(store)
        assert len(written) == 4  # two photos, two thumbnails
        raise Boom  # e.g. a later step of the request fails

    assert written
    assert not any(path.exists() for path in written)
    assert stored_photos(database) == []


def test_files_of_a_committed_entry_stay_after_later_transactions(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    submit(database, town, rulebook, store, [upload(jpeg_bytes())])
    kept = files_in(store)
    # A later transaction of another session that rolls back removes nothing of it.
    with pytest.raises(Boom), database.transaction() as session:
        session.scalar(select(EntryPhoto.id))
        raise Boom

    assert files_in(store) == kept
    assert len(kept) == 2


def test_a_photo_is_in_the_audit_log_under_its_entrys_branch(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    entry_id = submit(database, town, rulebook, store, [upload(jpeg_bytes())], username="member3")

    with database.transaction(write=False) as session:
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.object_type == "entry_photo"))
        )
    [event] = events
    assert event.kind == "entry_photo.create"
    assert event.branch_id == town.baoyuan
    assert event.summary == str(entry_id)
    assert event.after is not None and '"sha256"' in event.after


# --- who may see a photo -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "allowed"),
    [
        ("member", True),  # the member who declared it
        ("secretary", True),  # the secretary of its branch
        ("instructor", True),  # an instructor of its branch
        ("admin", True),  # the office
        ("member2", False),  # another member of the same branch
        ("secretary2", False),  # the secretary of another branch
    ],
)
def test_who_may_see_a_photo(
    username: str,
    allowed: bool,
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    store: PhotoStore,
) -> None:
    entry_id = submit(database, town, rulebook, store, [upload(jpeg_bytes())])
    [photo] = stored_photos(database)
    actor = town.principal(database, username)

    with database.transaction(write=False) as session:
        if allowed:
            found = entry_photo(session, actor, store, entry_id, photo.id)
            assert found.path == store.directory / photo.stored_name
            assert found.content_type == "image/jpeg"
            assert found.filename == f"entry-{entry_id}-photo-{photo.id}.jpg"
            small = entry_photo(session, actor, store, entry_id, photo.id, thumbnail=True)
            assert small.path.name.endswith(".thumb.jpg")
        else:
            with pytest.raises(PermissionDenied):
                entry_photo(session, actor, store, entry_id, photo.id)


def test_a_photo_is_found_only_through_its_own_entry(
    database: Database, town: SmallTown, rulebook: Rulebook, store: PhotoStore
) -> None:
    first = submit(database, town, rulebook, store, [upload(jpeg_bytes())])
    second = submit(database, town, rulebook, store, [upload(jpeg_bytes())])
    photo_of_first = stored_photos(database)[0]
    owner = town.principal(database, "member")

    with database.transaction(write=False) as session:
        with pytest.raises(NotFound):
            entry_photo(session, owner, store, second, photo_of_first.id)
        with pytest.raises(NotFound):
            entry_photo(session, owner, store, 999_999, photo_of_first.id)
        assert entry_photo(session, owner, store, first, photo_of_first.id)
