"""Photo evidence in a real browser: a member on a 390 px phone attaches a photo to a
good deed, sees its thumbnail on the list, and the branch secretary sees the photo in
the review queue before approving."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from tests.browser.conftest import DESKTOP
from tests.browser.test_journey import sign_in, zh
from tests.conftest import SmallTown
from tests.integration.test_evidence import gps_exif, jpeg_bytes
from web.notices import NOTICES

pytestmark = pytest.mark.browser

PHONE_390 = {"width": 390, "height": 844}
DESCRIPTION = "修好268省道西山桥路口的路灯,附修好后的照片。"


@pytest.fixture(autouse=True)
def upload_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The live server's Settings read JIFEN_UPLOAD_DIR: photos go to the test's folder
    (autouse, so it is set before the live server is built)."""
    directory = tmp_path / "uploads"
    monkeypatch.setenv("JIFEN_UPLOAD_DIR", str(directory))
    return directory


def wait_until_shown(page: Page, selector: str) -> None:
    """Wait until the image has loaded and decoded (a broken image has no natural width);
    fails after the default timeout otherwise."""
    page.wait_for_function(
        "selector => { const img = document.querySelector(selector);"
        " return img !== null && img.complete && img.naturalWidth > 0; }",
        arg=selector,
    )


def test_member_attaches_a_photo_on_a_phone_and_the_secretary_sees_it(
    town: SmallTown,
    upload_dir: Path,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    phone = new_context(viewport=PHONE_390, is_mobile=True, has_touch=True).new_page()
    sign_in(phone, "member")
    phone.goto("/entries/new")
    photo_input = phone.locator("#photos")
    expect(photo_input).to_be_visible()
    expect(photo_input).to_have_attribute("accept", "image/jpeg,image/png")

    phone.select_option("#rule_id", "good_deed")
    phone.fill("#description", DESCRIPTION)
    photo: FilePayload = {
        "name": "IMG_20260312.jpg",
        "mimeType": "image/jpeg",
        "buffer": jpeg_bytes((1200, 900), exif=gps_exif(orientation=6)),
    }
    photo_input.set_input_files(files=[photo])
    screenshot(phone, "photo-01-member-form-with-photo-phone")
    phone.locator("main form button[type=submit]").click()

    expect(phone).to_have_url(re.compile(r"/entries\?done=submitted$"))
    expect(phone.locator(".notice")).to_have_text(zh(NOTICES["submitted"]))
    entry = phone.locator("li.entry", has_text=DESCRIPTION)
    thumbnail = entry.locator(".photos img")
    expect(thumbnail).to_have_count(1)
    wait_until_shown(phone, "li.entry .photos img")
    width = int(phone.evaluate("document.documentElement.scrollWidth"))
    assert width <= PHONE_390["width"], f"the list scrolls sideways: {width} px"
    screenshot(phone, "photo-02-member-entry-with-thumbnail-phone")
    assert len([p for p in upload_dir.iterdir() if not p.name.endswith(".thumb.jpg")]) == 1

    desk = new_context(viewport=DESKTOP).new_page()
    sign_in(desk, "secretary")
    desk.goto("/review")
    queued = desk.locator("ol.queue > li.entry", has_text=DESCRIPTION)
    expect(queued.locator(".photos img")).to_have_count(1)
    wait_until_shown(desk, "ol.queue .photos img")
    screenshot(desk, "photo-03-secretary-queue-with-photo")

    href = queued.locator(".photos a").get_attribute("href")
    assert href and re.fullmatch(r"/entries/\d+/photos/\d+", href)
    response = desk.goto(href)
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "image/jpeg"
    # Turned upright from the EXIF orientation: 1200 × 900 sideways is 900 × 1200.
    size = desk.evaluate("[document.images[0].naturalWidth, document.images[0].naturalHeight]")
    assert size == [900, 1200]
