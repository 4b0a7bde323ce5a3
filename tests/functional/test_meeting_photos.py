"""Photos with a meeting's minutes: the secretary attaches them to the close form (a
multipart form, CSRF checked), they are checked like entry evidence (JPEG or PNG, GPS
dropped, the same limits and messages, beside the field, the minutes kept), shown as
thumbnails on the meeting's page and served only to those who may see the meeting."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from PIL import ExifTags, Image
from sqlalchemy import func, select

from service.persistence.db import Database
from service.persistence.meetings import Meeting, MeetingPhoto, MeetingStatus
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.functional.meeting_world import add_meetings
from tests.integration.test_evidence import gif_bytes, gps_exif, jpeg_bytes, png_bytes

HOST = "testserver.local"
MINUTES = "学习了全会精神,开展了志愿服务。"
PHOTO_LINK = re.compile(r'href="(/meetings/\d+/photos/\d+)"')

File = tuple[str, bytes, str]


@pytest.fixture
def upload_dir(app: Litestar) -> Path:
    directory: Path = app.state.settings.upload_dir
    return directory


@pytest.fixture
def meetings(database: Database, town: SmallTown, rulebook: Rulebook) -> dict[str, Any]:
    return add_meetings(database, town, rulebook)


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


def close(browser: Browser, meeting_id: int, photos: list[File], minutes: str = MINUTES) -> Any:
    """Send the close form as a browser does: multipart, with the page's CSRF token."""
    token = browser.csrf_token(f"/meetings/{meeting_id}/close")
    files = [("photos", photo) for photo in photos] or [
        ("photos", ("", b"", "application/octet-stream"))
    ]
    return browser.client.post(
        f"/meetings/{meeting_id}/close",
        data={"minutes": minutes, "_csrf_token": token},
        files=files,
        follow_redirects=False,
    )


def photo_links(html: str) -> list[str]:
    return PHOTO_LINK.findall(html)


def error_beside_photos(html: str) -> str:
    match = re.search(
        r'<p class="field-error" role="alert" id="photos-error">(.*?)</p>', html, re.DOTALL
    )
    assert match, "no message beside the photo field"
    return match.group(1)


def stored_files(upload_dir: Path) -> list[Path]:
    return sorted(upload_dir.iterdir()) if upload_dir.exists() else []


def status_of(database: Database, meeting_id: int) -> MeetingStatus:
    with database.transaction() as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        return meeting.status


def photo_count(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(MeetingPhoto)) or 0


def test_the_close_form_takes_photos_as_multipart(
    make_browser: Any, meetings: dict[str, Any]
) -> None:
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(f"/meetings/{meetings['meeting_ended']}/close")
    assert page.status_code == 200
    assert re.search(
        r'<form method="post" action="[^"]+/close" enctype="multipart/form-data"', page.text
    )
    field = re.search(r'<input id="photos"[^>]*>', page.text)
    assert field
    assert 'accept="image/jpeg,image/png"' in field.group(0)
    assert "multiple" in field.group(0)
    assert "up to 3 photos of at most 5 MB each" in page.text


def test_photos_at_closing_are_shown_and_served_without_gps(
    make_browser: Any, meetings: dict[str, Any], database: Database, upload_dir: Path
) -> None:
    meeting_id = meetings["meeting_ended"]
    original = jpeg_bytes((640, 480), exif=gps_exif())
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    secretary = signed_in(make_browser, "secretary")
    closed = close(
        secretary,
        meeting_id,
        [("现场.jpg", original, "image/jpeg"), ("合影.png", png_bytes(), "image/png")],
    )
    assert closed.status_code == 303, closed.text
    assert closed.headers["location"] == f"/meetings/{meeting_id}?done=closed"
    assert status_of(database, meeting_id) is MeetingStatus.CLOSED

    member = signed_in(make_browser, "member")
    page = member.client.get(f"/meetings/{meeting_id}")
    assert MINUTES in page.text
    links = photo_links(page.text)
    assert len(links) == 2
    assert f'src="{links[0]}?thumb=true"' in page.text

    served = member.client.get(links[0])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert "private" in served.headers["cache-control"]
    assert "no-store" in served.headers["cache-control"]
    assert "现场" not in served.headers["content-disposition"]
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (640, 480)
    assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "exif" not in image.info
    assert member.client.get(links[1]).headers["content-type"] == "image/png"
    small = member.client.get(f"{links[0]}?thumb=true")
    assert small.status_code == 200
    assert max(Image.open(io.BytesIO(small.content)).size) <= 320
    # Stored under generated names, each with its thumbnail, not under the uploaded ones.
    names = [path.name for path in stored_files(upload_dir)]
    assert len(names) == 4
    assert not [name for name in names if "现场" in name or "合影" in name]


@pytest.fixture
def photo_url(make_browser: Any, meetings: dict[str, Any]) -> str:
    meeting_id = meetings["meeting_ended"]
    secretary = signed_in(make_browser, "secretary")
    assert close(secretary, meeting_id, [("a.jpg", jpeg_bytes(), "image/jpeg")]).status_code == 303
    [link] = photo_links(secretary.client.get(f"/meetings/{meeting_id}").text)
    return str(link)


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("member", 200),  # expected at the meeting
        ("secretary", 200),  # its branch's secretary
        ("admin", 200),  # the office
        ("secretary2", 404),  # another branch's secretary: no such meeting
        ("member3", 404),  # a member of another branch
    ],
)
def test_a_photo_is_served_only_to_those_who_may_see_the_meeting(
    username: str, status: int, photo_url: str, make_browser: Any
) -> None:
    browser = signed_in(make_browser, username)
    for url in (photo_url, f"{photo_url}?thumb=true"):
        response = browser.client.get(url, follow_redirects=False)
        assert response.status_code == status, url
        if status == 200:
            assert response.headers["content-type"] == "image/jpeg"
        else:
            assert not response.headers["content-type"].startswith("image/")


def test_a_photo_through_another_meeting_is_not_found(
    photo_url: str, make_browser: Any, meetings: dict[str, Any]
) -> None:
    photo_id = photo_url.rsplit("/", 1)[1]
    secretary = signed_in(make_browser, "secretary")
    response = secretary.client.get(f"/meetings/{meetings['meeting_closed']}/photos/{photo_id}")
    assert response.status_code == 404


def test_an_anonymous_visitor_gets_no_photo(photo_url: str, make_browser: Any) -> None:
    response = make_browser().client.get(photo_url, follow_redirects=False)
    assert response.status_code in {302, 303, 401}
    assert not response.headers.get("content-type", "").startswith("image/")


@pytest.mark.parametrize(
    ("filename", "content", "content_type"),
    [
        pytest.param("wave.gif", gif_bytes(), "image/gif", id="gif"),
        pytest.param("minutes.jpg", "一份纪要".encode(), "image/jpeg", id="text-named-jpg"),
        pytest.param("photo.png", b"MZ\x90\x00" + b"\x00" * 300, "image/png", id="exe-named-png"),
    ],
)
def test_what_is_not_a_photo_is_refused_beside_the_field_with_the_minutes_kept(
    filename: str,
    content: bytes,
    content_type: str,
    make_browser: Any,
    meetings: dict[str, Any],
    database: Database,
    upload_dir: Path,
) -> None:
    meeting_id = meetings["meeting_ended"]
    secretary = signed_in(make_browser, "secretary")
    response = close(secretary, meeting_id, [(filename, content, content_type)])
    assert response.status_code == 422
    assert f"{filename} is not a JPEG or PNG photo" in error_beside_photos(response.text)
    assert MINUTES in response.text
    assert "choose them again" in response.text
    # Nothing was closed, written or stored.
    assert status_of(database, meeting_id) is MeetingStatus.SCHEDULED
    assert photo_count(database) == 0
    assert stored_files(upload_dir) == []


def test_an_oversized_photo_is_refused(
    make_browser: Any, meetings: dict[str, Any], database: Database, upload_dir: Path
) -> None:
    meeting_id = meetings["meeting_ended"]
    secretary = signed_in(make_browser, "secretary")
    too_big = b"\xff\xd8" + b"\x00" * (5 * 1024 * 1024)
    response = close(secretary, meeting_id, [("big.jpg", too_big, "image/jpeg")])
    assert response.status_code == 422
    assert "big.jpg is larger than 5 MB" in error_beside_photos(response.text)
    assert MINUTES in response.text
    assert status_of(database, meeting_id) is MeetingStatus.SCHEDULED
    assert stored_files(upload_dir) == []


def test_four_photos_are_one_too_many(
    make_browser: Any, meetings: dict[str, Any], database: Database, upload_dir: Path
) -> None:
    meeting_id = meetings["meeting_ended"]
    secretary = signed_in(make_browser, "secretary")
    photos = [(f"{n}.jpg", jpeg_bytes(), "image/jpeg") for n in range(4)]
    response = close(secretary, meeting_id, photos)
    assert response.status_code == 422
    assert "Attach at most 3 photos to the minutes." in error_beside_photos(response.text)
    assert status_of(database, meeting_id) is MeetingStatus.SCHEDULED
    assert photo_count(database) == 0
    assert stored_files(upload_dir) == []


def test_missing_minutes_and_a_bad_photo_are_both_told(
    make_browser: Any, meetings: dict[str, Any], database: Database
) -> None:
    meeting_id = meetings["meeting_ended"]
    secretary = signed_in(make_browser, "secretary")
    response = close(secretary, meeting_id, [("wave.gif", gif_bytes(), "image/gif")], minutes="")
    assert response.status_code == 422
    assert 'id="minutes-error"' in response.text
    assert "wave.gif is not a JPEG or PNG photo" in error_beside_photos(response.text)
    assert status_of(database, meeting_id) is MeetingStatus.SCHEDULED


def test_closing_again_with_photos_stores_nothing(
    photo_url: str, make_browser: Any, meetings: dict[str, Any], database: Database
) -> None:
    secretary = signed_in(make_browser, "secretary")
    response = secretary.client.post(
        f"/meetings/{meetings['meeting_ended']}/close",
        data={
            "minutes": "再次",
            "_csrf_token": secretary.csrf_token(f"/meetings/{meetings['meeting_ended']}"),
        },
        files=[("photos", ("b.jpg", jpeg_bytes(), "image/jpeg"))],
        follow_redirects=False,
    )
    assert response.status_code in {303, 409}
    assert photo_count(database) == 1


def test_closing_without_a_csrf_token_is_refused(
    make_browser: Any, meetings: dict[str, Any], database: Database
) -> None:
    meeting_id = meetings["meeting_ended"]
    secretary = signed_in(make_browser, "secretary")
    response = secretary.client.post(
        f"/meetings/{meeting_id}/close",
        data={"minutes": MINUTES},
        files=[("photos", ("a.jpg", jpeg_bytes(), "image/jpeg"))],
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert status_of(database, meeting_id) is MeetingStatus.SCHEDULED
    assert photo_count(database) == 0
