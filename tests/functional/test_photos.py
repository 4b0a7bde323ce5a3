"""Photo evidence through the HTML pages: the member attaches photos to an entry (a
multipart form, CSRF checked), refused uploads say why beside the field and keep what
was typed, the photos show on the member's list and in the review queue, and each photo
is served only to those who may see its entry, never from /static."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from PIL import ExifTags, Image

from service.kernel.config import Settings
from service.kernel.periods import town_today
from service.persistence.db import Database
from service.persistence.types import utcnow
from tests.conftest import Browser, SmallTown
from tests.integration.test_evidence import (
    gif_bytes,
    gps_exif,
    jpeg_bytes,
    png_bytes,
    rulebook_with_photo_required,
)
from web.app import STATIC_DIR

HOST = "testserver.local"
PHOTO_LINK = re.compile(r'href="/entries/(\d+)/photos/(\d+)"')
STORED_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png)")

File = tuple[str, bytes, str]


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def english(browser: Browser) -> Browser:
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    return browser


@pytest.fixture
def upload_dir(app: Litestar) -> Path:
    directory: Path = app.state.settings.upload_dir
    return directory


@pytest.fixture
def member(town: SmallTown, browser: Browser) -> Browser:
    english(browser).login("member")
    return browser


def declare(browser: Browser, photos: list[File], **fields: str) -> Any:
    """Submit the entry form as a browser does: multipart, with the page's CSRF token."""
    values = {
        "rule_id": "good_deed",
        "activity_date": today().isoformat(),
        "quantity": "1",
        "description": "在西山桥路口修好路灯",
        "_csrf_token": browser.csrf_token("/entries/new"),
    }
    values.update(fields)
    files = [("photos", photo) for photo in photos] or [
        ("photos", ("", b"", "application/octet-stream"))
    ]
    return browser.client.post("/entries/new", data=values, files=files, follow_redirects=False)


def photo_links(html: str) -> list[str]:
    return [f"/entries/{entry}/photos/{photo}" for entry, photo in PHOTO_LINK.findall(html)]


def error_beside_photos(html: str) -> str:
    match = re.search(
        r'<p class="field-error" role="alert" id="photos-error">(.*?)</p>', html, re.DOTALL
    )
    assert match, "no message beside the photo field"
    return match.group(1)


def stored_files(upload_dir: Path) -> list[Path]:
    return sorted(upload_dir.iterdir()) if upload_dir.exists() else []


# --- the form ------------------------------------------------------------------------------


def test_the_form_takes_photos_as_multipart(member: Browser) -> None:
    page = member.client.get("/entries/new")
    assert page.status_code == 200
    assert re.search(
        r'<form method="post" action="/entries/new" enctype="multipart/form-data"', page.text
    )
    field = re.search(r'<input id="photos"[^>]*>', page.text)
    assert field
    assert 'type="file"' in field.group(0)
    assert 'accept="image/jpeg,image/png"' in field.group(0)
    assert "multiple" in field.group(0)
    assert "up to 3 photos of at most 5 MB each" in page.text


@pytest.mark.parametrize("token", [None, "forged"], ids=["no-token", "forged-token"])
def test_a_multipart_post_without_a_valid_csrf_token_is_refused(
    token: str | None, member: Browser, upload_dir: Path
) -> None:
    fields = {"rule_id": "good_deed", "activity_date": today().isoformat(), "description": "x"}
    if token is not None:
        fields["_csrf_token"] = token
    response = member.client.post(
        "/entries/new",
        data=fields,
        files=[("photos", ("a.jpg", jpeg_bytes(), "image/jpeg"))],
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "expired" in response.text
    assert stored_files(upload_dir) == []
    assert member.client.get("/entries").text.count('class="entry ') == 0


def test_a_member_attaches_photos_and_sees_them_on_the_list(
    member: Browser, upload_dir: Path
) -> None:
    response = declare(
        member,
        [("路灯.jpg", jpeg_bytes(), "image/jpeg"), ("after.png", png_bytes(), "image/png")],
    )
    assert response.status_code == 303, response.text

    page = member.client.get("/entries")
    links = photo_links(page.text)
    assert len(links) == 2
    assert f'src="{links[0]}?thumb=true"' in page.text

    full = member.client.get(links[0])
    assert full.status_code == 200
    assert full.headers["content-type"] == "image/jpeg"
    assert full.headers["cache-control"] == "private, no-store"
    assert full.headers["x-content-type-options"] == "nosniff"
    entry_id, photo_id = links[0].split("/")[2], links[0].split("/")[4]
    disposition = full.headers["content-disposition"]
    assert disposition.startswith("inline")
    assert f'filename="entry-{entry_id}-photo-{photo_id}.jpg"' in disposition
    assert "路灯" not in disposition
    assert Image.open(io.BytesIO(full.content)).size == (64, 48)

    second = member.client.get(links[1])
    assert second.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(second.content)).format == "PNG"

    small = member.client.get(f"{links[0]}?thumb=true")
    assert small.status_code == 200
    assert small.headers["content-type"] == "image/jpeg"
    assert small.headers["cache-control"] == "private, no-store"


def test_the_stored_file_has_a_generated_name_outside_static(
    member: Browser, upload_dir: Path
) -> None:
    assert declare(member, [("IMG_2041.jpg", jpeg_bytes(), "image/jpeg")]).status_code == 303

    photos = [p for p in stored_files(upload_dir) if not p.name.endswith(".thumb.jpg")]
    [stored] = photos
    assert STORED_NAME.fullmatch(stored.name)
    assert "IMG_2041" not in stored.name
    assert not stored.resolve().is_relative_to(STATIC_DIR.resolve())
    assert not list(STATIC_DIR.rglob(stored.name))
    for path in (
        f"/static/{stored.name}",
        f"/static/uploads/{stored.name}",
        f"/static/../../var/uploads/{stored.name}",
        f"/static/%2e%2e/%2e%2e/var/uploads/{stored.name}",
    ):
        response = member.client.get(path)
        assert response.status_code in (400, 404), path
        assert response.content != stored.read_bytes()


def test_gps_is_gone_from_the_photo_served(member: Browser) -> None:
    original = jpeg_bytes(exif=gps_exif())
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert declare(member, [("gps.jpg", original, "image/jpeg")]).status_code == 303

    [link] = photo_links(member.client.get("/entries").text)
    served = Image.open(io.BytesIO(member.client.get(link).content))
    assert not served.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "exif" not in served.info


# --- refusals ------------------------------------------------------------------------------


def test_an_oversized_photo_is_refused_with_a_message_and_the_form_kept(
    member: Browser, upload_dir: Path
) -> None:
    too_big = b"\xff\xd8" + b"\x00" * (5 * 1024 * 1024)
    response = declare(
        member, [("big.jpg", too_big, "image/jpeg")], description="在105国道公园入口值守"
    )
    assert response.status_code == 422
    assert "big.jpg is larger than 5 MB" in error_beside_photos(response.text)
    assert 'aria-describedby="photos-error photos-hint"' in response.text
    # What was typed is kept; the photos are not, and the page says so.
    assert "在105国道公园入口值守" in response.text
    assert "choose them again" in response.text
    assert stored_files(upload_dir) == []


@pytest.mark.parametrize(
    ("filename", "content", "content_type"),
    [
        pytest.param("wave.gif", gif_bytes(), "image/gif", id="gif"),
        pytest.param("photo.jpg", "一张照片".encode(), "image/jpeg", id="text-named-jpg"),
        pytest.param("cut.jpg", jpeg_bytes((400, 300))[:400], "image/jpeg", id="truncated-jpeg"),
        pytest.param("photo.png", b"MZ\x90\x00" + b"\x00" * 300, "image/png", id="exe-named-png"),
    ],
)
def test_what_is_not_a_jpeg_or_png_is_refused(
    filename: str, content: bytes, content_type: str, member: Browser, upload_dir: Path
) -> None:
    response = declare(member, [(filename, content, content_type)])
    assert response.status_code == 422
    assert f"{filename} is not a JPEG or PNG photo" in error_beside_photos(response.text)
    assert stored_files(upload_dir) == []
    assert photo_links(member.client.get("/entries").text) == []


def test_a_png_named_exe_is_taken_for_what_it_is(member: Browser, upload_dir: Path) -> None:
    # Checked by content: the name counts for nothing, and nothing is stored under it.
    response = declare(member, [("tool.exe", png_bytes(), "application/x-msdownload")])
    assert response.status_code == 303
    [link] = photo_links(member.client.get("/entries").text)
    served = member.client.get(link)
    assert served.headers["content-type"] == "image/png"
    assert ".exe" not in served.headers["content-disposition"]
    assert not [p for p in stored_files(upload_dir) if ".exe" in p.name]


def test_three_photos_near_the_limit_fit_in_one_request(member: Browser) -> None:
    # The route's body limit leaves room for every photo allowed: the member reads a
    # message about the files, not a bare "request too large".
    almost = 5 * 1024 * 1024 - 1024
    photos = [(f"{n}.jpg", b"\x00" * almost, "image/jpeg") for n in range(3)]
    response = declare(member, photos)
    assert response.status_code == 422
    assert "0.jpg is not a JPEG or PNG photo" in error_beside_photos(response.text)


def test_four_photos_are_one_too_many(member: Browser, upload_dir: Path) -> None:
    response = declare(member, [(f"{n}.jpg", jpeg_bytes(), "image/jpeg") for n in range(4)])
    assert response.status_code == 422
    assert "at most 3 photos" in error_beside_photos(response.text)
    assert stored_files(upload_dir) == []


# --- a rule that requires a photo ----------------------------------------------------------


@pytest.fixture
def photo_rule_member(
    database: Database, database_url: str, town: SmallTown, tmp_path: Path
) -> Iterator[Browser]:
    """The app with good deeds requiring a photo, and the member signed in."""
    from web.app import create_app

    settings = Settings(env="test", database_url=database_url, upload_dir=tmp_path / "rule")
    app = create_app(settings, database=database, rulebook=rulebook_with_photo_required())
    with TestClient(app=app) as client:
        browser = english(Browser(client))
        browser.login("member")
        yield browser


def test_a_photo_required_item_is_marked_in_the_form(photo_rule_member: Browser) -> None:
    page = photo_rule_member.client.get("/entries/new")
    option = re.search(r'<option value="good_deed"[^>]*>(.*?)</option>', page.text, re.DOTALL)
    assert option and "photo required" in option.group(1)


def test_a_photo_required_item_is_refused_without_a_photo(photo_rule_member: Browser) -> None:
    response = declare(photo_rule_member, [])
    assert response.status_code == 422
    assert "needs at least one photo" in error_beside_photos(response.text)
    assert "在西山桥路口修好路灯" in response.text
    # Nothing was chosen, so nothing needs choosing again.
    assert "choose them again" not in response.text


def test_a_photo_required_item_is_accepted_with_a_photo(photo_rule_member: Browser) -> None:
    response = declare(photo_rule_member, [("lamp.jpg", jpeg_bytes(), "image/jpeg")])
    assert response.status_code == 303
    assert len(photo_links(photo_rule_member.client.get("/entries").text)) == 1


# --- who sees a photo ----------------------------------------------------------------------


@pytest.fixture
def photo_url(member: Browser) -> str:
    assert declare(member, [("lamp.jpg", jpeg_bytes(), "image/jpeg")]).status_code == 303
    [link] = photo_links(member.client.get("/entries").text)
    return link


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("member", 200),  # who declared it
        ("secretary", 200),  # the secretary of its branch
        ("instructor", 200),  # an instructor of its branch
        ("admin", 200),  # the office
        ("member2", 403),  # another member of the same branch
        ("secretary2", 403),  # the secretary of another branch
    ],
)
def test_a_photo_is_served_only_to_those_who_may_see_the_entry(
    username: str, status: int, photo_url: str, make_browser: Any
) -> None:
    browser = english(make_browser())
    browser.login(username)
    for url in (photo_url, f"{photo_url}?thumb=true"):
        response = browser.client.get(url, follow_redirects=False)
        assert response.status_code == status, url
        if status == 200:
            assert response.headers["content-type"] == "image/jpeg"
        else:
            assert not response.headers["content-type"].startswith("image/")


def test_an_anonymous_visitor_is_sent_to_sign_in(photo_url: str, make_browser: Any) -> None:
    response = make_browser().client.get(photo_url, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_a_photo_through_another_entry_is_not_found(photo_url: str, member: Browser) -> None:
    assert declare(member, []).status_code == 303
    entries = member.client.get("/entries").text
    other = max(int(n) for n in re.findall(r'action="/entries/(\d+)/withdraw"', entries))
    photo_id = photo_url.rsplit("/", 1)[1]
    assert member.client.get(f"/entries/{other}/photos/{photo_id}").status_code == 404
    assert member.client.get("/entries/999999/photos/1").status_code == 404


def test_the_secretary_sees_the_photos_in_the_review_queue(
    photo_url: str, make_browser: Any
) -> None:
    secretary = english(make_browser())
    secretary.login("secretary")
    queue = secretary.client.get("/review")
    assert queue.status_code == 200
    assert photo_links(queue.text) == [photo_url]
    assert f'src="{photo_url}?thumb=true"' in queue.text
    assert secretary.client.get(photo_url).status_code == 200
