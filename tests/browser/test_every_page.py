"""Every page of the app, seen in a real browser by every role, on a phone and on a
desktop, in Chinese and in English.

The pages come from the app's own routes (``app.routes``), so a page added later is
walked the day it exists; their ids come from the permission matrix's town (entries,
photos, suggestions, a published month with an objection, organisations). Downloads,
photos, the JSON API and the schema are not pages and are left out. Which pages a role
walks is whatever answers it with 200: the permission matrix checks the refusals.

On each page:

- a full-page screenshot, tests/browser/screenshots/pages/<role>-<lang>-<width>-<slug>.png;
- on the phone: nothing scrolls sideways and every control is at least 44 px tall;
- axe-core (with WCAG 2.2's target size) finds no serious or critical violation: on
  the phone, once per page and language (AXE_CHECKED), and on the desktop for each
  role's first page (its header);
- in Chinese: no English words outside tests/browser/a11y.py's allowlist;
- and over the whole walk, no message asked of the Chinese catalog is missing from it
  (web/i18n.py records them; the server runs in this process).

Then the states between the pages: every form sent with mistakes (errors beside their
fields, announced), a form whose token expired (the 403 page keeps what was typed), and
the phone's header menu.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from playwright.sync_api import BrowserContext, Page

from service.entries.evidence import PhotoStore
from service.kernel.config import Settings
from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.browser import a11y
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    SERVER_START_TIMEOUT_S,
    save_screenshot,
)
from tests.conftest import PASSWORD, SmallTown
from tests.functional.test_csrf_everywhere import fill_path, route_table
from tests.functional.test_permission_matrix import World, build_world
from tests.live_server import serve_in_thread
from web import i18n

pytestmark = pytest.mark.browser

ROLES = ("anonymous", "member", "secretary", "instructor", "admin")
LANGUAGES = ("zh_CN", "en")
PAGES_DIR = SCREENSHOTS / "pages"

# Not pages a person reads: files, photos, JSON, the API schema, static files.
NOT_PAGES = re.compile(
    r"(\.(csv|xlsx|json|yaml|yml|html)$)|/photos/|/evidence/|^/(api|schema|static)\b"
)
NOT_PAGES_EXACT = frozenset({"/healthz", "/readyz", "/metrics"})

# Path parameters: the World's ids (tests/functional/test_permission_matrix.py).
PARAMETERS = {
    "entry_id": "{pending_member}",
    "member_id": "{member}",
    "branch_id": "{jinwan}",
    "account_id": "{account_member2}",
    "org_id": "{org_jinwan}",
    "period": "{last_month}",
    "appraisal_id": "{appraisal_jinwan}",
    "round_id": "{rating_round}",
    "token": "{unsubscribe_token}",  # the digest's unsubscribe link
}

# The same pages in another state: the live month, a quarter and a year, a filter or a
# search, a confirmation after an action. (slug, path)
VARIANTS = (
    ("boards-live", "/boards/{this_month}"),
    ("results-stars", "/results/branch_stars/{stars_year}"),
    ("results-stars-print", "/results/branch_stars/{stars_year}/print"),
    ("boards-year", "/boards/{year}"),
    ("boards-quarter-branches", "/boards/{quarter}/branches"),
    ("entries-submitted", "/entries?done=submitted"),
    ("objection-new-line", "/objections/new?period={last_month}&branch={baoyuan}"),
    ("admin-audit-filtered", "/admin/audit?branch=B002&kind=entry"),
    ("admin-members-search", "/admin/members?q=宝元"),
    ("admin-publication-published", "/admin/publication/{last_month}?done=published"),
    ("roster-exempt-member", "/branches/{jinwan}/roster/{elder}"),
    ("meetings-past", "/meetings?when=past"),
    ("meeting-scheduled", "/meetings/{meeting_jinwan}?done=scheduled"),
    ("meeting-close-ended", "/meetings/{meeting_ended}/close"),
    ("meeting-closed", "/meetings/{meeting_closed}"),
    ("meeting-makeup", "/meetings/{meeting_closed}/makeup"),
    ("appraisal-open", "/appraisals/{appraisal_baoyuan}?done=opened"),
    ("ratings-round-submitted", "/ratings/{rating_round}?status=submitted"),
    ("ratings-sheet-draft", "/ratings/{rating_round}/branches/{baoyuan}"),
    ("warnings-overdue", "/warnings?show=overdue"),
    ("warning-closable", "/warnings/{case_member2}"),
    ("not-found", "/no/such/page"),
)
# Pages axe has checked in this run, by (slug, language): a page is checked once per
# language, by the first role that opens it, which keeps the walk within a few minutes;
# screenshots and the other checks are per role and width.
AXE_CHECKED: set[tuple[str, str]] = set()
# A page the role may not open: the 403 page, once per role.
FORBIDDEN = {"member": "/admin", "secretary": "/admin", "instructor": "/admin/audit"}
EXPECTED_STATUS = {"not-found": 404, "forbidden": 403}
# The town's user names are data, the same in every language (the people are Chinese).
USERNAMES = frozenset({"member", "secretary", "instructor", "admin", "retired"})


@dataclass(frozen=True)
class Site:
    base_url: str
    app: Litestar
    world: World


@pytest.fixture
def site(
    database: Database, town: SmallTown, rulebook: Rulebook, database_url: str, tmp_path: Path
) -> Iterator[Site]:
    """The permission matrix's town, its photos in the app's own upload folder (so the
    thumbnails show), served over real HTTP."""
    from web.app import create_app

    settings = Settings(env="test", database_url=database_url, upload_dir=tmp_path / "uploads")
    app = create_app(settings, database=database, rulebook=rulebook)
    world = build_world(database, town, rulebook, PhotoStore.from_settings(settings))
    with serve_in_thread(app, timeout=SERVER_START_TIMEOUT_S) as base_url:
        yield Site(base_url, app, world)


@pytest.fixture
def live_server(site: Site) -> str:
    """The browser contexts (conftest's ``new_context``) talk to this module's server."""
    return site.base_url


def slug_of(route_path: str) -> str:
    """A name for the route's screenshots: "/boards/{period:str}/branches/{branch_id:int}"
    is "boards-period-branches-branch"."""
    parts = [
        re.sub(r"_id$", "", re.sub(r"[{}]|:\w+", "", part))
        for part in route_path.strip("/").split("/")
    ]
    return "-".join(part.replace("_", "-") for part in parts if part) or "home"


def candidate_pages(site: Site) -> list[tuple[str, str]]:
    """(slug, path) of every GET page of the app and the VARIANTS."""
    world = site.world
    ids = dict(world.ids)
    ids["year"] = ids["this_month"][:4]
    ids["quarter"] = f"{ids['this_month'][:4]}-Q{(int(ids['this_month'][5:7]) + 2) // 3}"
    pages = []
    for route in route_table(site.app):
        if "GET" not in route.methods or route.path in NOT_PAGES_EXACT:
            continue
        if NOT_PAGES.search(route.path):
            continue
        pages.append((slug_of(route.path), fill_path(route, world, PARAMETERS)))
    pages += [(slug, path.format(**ids)) for slug, path in VARIANTS]
    return pages


def language_cookie(site: Site, language: str) -> Any:
    """The cookie the header's language switch sets."""
    return {"name": i18n.LANG_COOKIE, "value": language, "url": site.base_url}


def sign_in(context: BrowserContext, username: str) -> None:
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.close()


def pages_for(context: BrowserContext, candidates: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The candidates this session may open: 200 without a redirect."""
    found = []
    for slug, path in candidates:
        response = context.request.get(path, max_redirects=0)
        html = response.headers["content-type"].startswith("text/html")
        if (response.status == 200 and html) or (slug == "not-found" and response.status == 404):
            found.append((slug, path))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("role", ROLES)
def test_every_page(
    role: str,
    language: str,
    site: Site,
    new_context: Callable[..., BrowserContext],
) -> None:
    PAGES_DIR.mkdir(parents=True, exist_ok=True)
    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone.add_cookies([language_cookie(site, language)])
    if role != "anonymous":
        sign_in(phone, role)
    desktop = new_context(viewport=DESKTOP, storage_state=phone.storage_state())

    candidates = candidate_pages(site)
    pages = pages_for(phone, candidates)
    if role in FORBIDDEN:
        pages.append(("forbidden", FORBIDDEN[role]))
    if role == "anonymous":
        # what needs no sign-in: signing in, the digest's unsubscribe link, a 404
        expected = ["login", "notify-unsubscribe-token", "not-found"]
        assert [slug for slug, _path in pages] == expected, pages
    else:
        assert len(pages) >= 8, pages

    i18n.record_missing_messages(True)
    problems: list[str] = []
    phone_page, desktop_page = phone.new_page(), desktop.new_page()
    try:
        for index, (slug, path) in enumerate(pages):
            stem = f"{role}-{language}-%s-{slug}"
            axe = (slug, language) not in AXE_CHECKED
            AXE_CHECKED.add((slug, language))
            status = EXPECTED_STATUS.get(slug, 200)
            found = walk(phone_page, path, status, PAGES_DIR / f"{stem % 'phone'}.png", axe)
            found += walk(
                desktop_page, path, status, PAGES_DIR / f"{stem % 'desktop'}.png", index == 0
            )
            problems += [f"{path} [{slug}]: {problem}" for problem in found]
        missing = i18n.missing_messages()
    finally:
        i18n.record_missing_messages(False)
    problems += [f"not in the zh_CN catalog: {message!r}" for message in sorted(missing)]
    assert not problems, f"{role}, {language}: {len(problems)} problems\n" + "\n".join(problems)


def walk(page: Page, path: str, status: int, shot: Path, with_axe: bool) -> list[str]:
    """Open ``path``, save its screenshot and check it; the problems found."""
    response = page.goto(path)
    assert response is not None
    phone = page.viewport_size == PHONE
    language = "zh_CN" if page.locator("html").get_attribute("lang") == "zh-CN" else "en"
    save_screenshot(page, shot)
    problems: list[str] = []
    if response.status != status:
        problems.append(f"answered {response.status}, expected {status}")
    if phone:
        problems += a11y.sideways_overflow(page)
        problems += a11y.small_targets(page)
    if with_axe:
        problems += a11y.axe_violations(page)
    if language == "zh_CN" and phone:
        problems += a11y.english_words(page, a11y.ENGLISH_ALLOWED | USERNAMES)
    problems += a11y.error_wiring(page)
    return [f"{'phone' if phone else 'desktop'}: {problem}" for problem in problems]


# --- forms sent with mistakes ------------------------------------------------------------

# (role, slug, page, form action, fields to fill): each form sent empty or wrong, so the
# page comes back with its errors. Paths are World placeholders.
FORMS_WITH_ERRORS: tuple[tuple[str, str, str, str, dict[str, str]], ...] = (
    ("anonymous", "login", "/login", "/login", {"#username": "member", "#password": "wrong"}),
    ("member", "entry", "/entries/new", "/entries/new", {"#quantity": "x"}),
    (
        "member",
        "objection",
        "/objections/new?period={last_month}&branch={baoyuan}",
        "/objections/new",
        {},
    ),
    ("member", "password", "/account/password", "/account/password", {}),
    (
        "secretary",
        "adjustment",
        "/branches/{jinwan}/adjustments/new",
        "/branches/{jinwan}/adjustments/new",
        {},
    ),
    (
        "secretary",
        "roster-member",
        "/branches/{jinwan}/roster/new",
        "/branches/{jinwan}/roster/new",
        {},
    ),
    (
        "secretary",
        "revoke",
        "/members/{member}/points",
        "/members/{member}/points/entries/{approved_member}/revoke",
        {},
    ),
    (
        "secretary",
        "suggestion-step",
        "/branches/{jinwan}",
        "/branches/{jinwan}/suggestions/{suggestion_jinwan}/adopted",
        {"input[name=day]": ""},
    ),
    ("secretary", "review-reject", "/review", "/review/{pending_member}/reject", {}),
    ("admin", "branch", "/admin/branches/new", "/admin/branches/new", {}),
    # telling people (issue 19): one's settings, a branch's group robots
    ("member", "notify-settings", "/me/notifications", "/me/notifications", {"#email": "不是邮箱"}),
    (
        "secretary",
        "robots",
        "/branches/{jinwan}/robots",
        "/branches/{jinwan}/robots",
        {"#url": "ftp://example"},
    ),
    ("admin", "organisation", "/admin/organisations/new", "/admin/organisations/new", {}),
    ("admin", "member", "/admin/members/new", "/admin/members/new", {}),
    ("admin", "account", "/admin/accounts/new", "/admin/accounts/new", {}),
    (
        "admin",
        "reset-password",
        "/admin/accounts/{account_member2}",
        "/admin/accounts/{account_member2}/reset-password",
        {"#password": "short"},
    ),
    (
        "admin",
        "transfer",
        "/admin/members/{member}/transfer",
        "/admin/members/{member}/transfer",
        {},
    ),
    (
        "admin",
        "rules-preview",
        "/admin/rules",
        "/admin/rules/preview#preview-heading",
        {"#candidate": "not a ruleset"},
    ),
    ("admin", "import", "/admin/import", "/admin/import", {}),
    (
        "admin",
        "correction",
        "/admin/publication/{last_month}",
        "/admin/publication/{last_month}/correct",
        {},
    ),
    (
        "admin",
        "objection-answer",
        "/admin/publication/{last_month}",
        "/admin/publication/{last_month}/objections/{objection}/resolve",
        {},
    ),
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_forms_show_their_errors_beside_the_fields(
    language: str, site: Site, new_context: Callable[..., BrowserContext]
) -> None:
    """Each form sent with mistakes: the page says so (role=alert), every field marked
    invalid names its message next to it, and axe finds nothing serious, on a phone."""
    PAGES_DIR.mkdir(parents=True, exist_ok=True)
    ids = site.world.ids
    pages: dict[str, Page] = {}
    problems: list[str] = []
    i18n.record_missing_messages(True)
    try:
        for role, slug, path, action, fields in FORMS_WITH_ERRORS:
            if role not in pages:
                context = new_context(viewport=PHONE, is_mobile=True, has_touch=True)
                context.add_cookies([language_cookie(site, language)])
                if role != "anonymous":
                    sign_in(context, role)
                pages[role] = context.new_page()
            page = pages[role]
            page.goto(path.format(**ids))
            form = page.locator(f'main form[action="{action.format(**ids)}"]')
            for selector, value in fields.items():
                form.locator(selector).fill(value)
            # The server's answer is what is checked here, not the browser's own bubbles
            # for required fields (which are accessible as they are).
            form.evaluate("form => { form.noValidate = true; }")
            with page.expect_navigation():
                form.locator("button[type=submit]").first.click()
            save_screenshot(page, PAGES_DIR / f"{role}-{language}-phone-error-{slug}.png")
            found = a11y.error_wiring(page) + a11y.axe_violations(page)
            found += a11y.sideways_overflow(page)
            if language == "zh_CN":
                found += a11y.english_words(page, a11y.ENGLISH_ALLOWED | USERNAMES)
            if not page.locator("[role=alert]").count():
                found.append("nothing announces the mistake (no role=alert)")
            problems += [f"{role} {slug}: {problem}" for problem in found]
        missing = i18n.missing_messages()
    finally:
        i18n.record_missing_messages(False)
    problems += [f"not in the zh_CN catalog: {message!r}" for message in sorted(missing)]
    assert not problems, f"{language}: {len(problems)} problems\n" + "\n".join(problems)


# --- the form that expired ----------------------------------------------------------------

DESCRIPTION = "周六上午在金湾社区<b>协助</b>老人体检登记。"


def zh(message: str) -> str:
    return i18n.translations("zh_CN").gettext(message)


def expire_csrf_cookie(context: BrowserContext, other_page: str) -> None:
    """What makes a form expire for real: the browser loses its CSRF cookie (restarted,
    cleared) and another tab gets a new one; the open form's token no longer matches."""
    kept = [cookie for cookie in context.cookies() if "csrf" not in cookie["name"]]
    context.clear_cookies()
    context.add_cookies(kept)  # type: ignore[arg-type]
    other = context.new_page()
    other.goto(other_page)
    other.close()


def test_an_expired_form_keeps_what_was_typed(
    site: Site, new_context: Callable[..., BrowserContext]
) -> None:
    """The member's entry form expires while they type: the 403 page says so, shows
    their text (escaped) in a new form with a fresh token, and sending it again files
    the entry. A password form that expires shows none of its passwords."""
    context = new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(context, "member")
    page = context.new_page()
    page.goto("/entries/new")
    old_token = page.locator("main input[name=_csrf_token]").input_value()
    page.select_option("#rule_id", "volunteer")
    page.fill("#activity_date", site.world.ids["today"])
    page.fill("#quantity", "2")
    page.fill("#description", DESCRIPTION)
    expire_csrf_cookie(context, "/entries")

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator('main form[action="/entries/new"] button[type=submit]').click()
    assert posted.value.status == 403
    assert page.locator("main h1").inner_text() == zh("This form has expired")
    assert page.locator("#resend-description").input_value() == DESCRIPTION
    assert page.locator("#resend-quantity").input_value() == "2"
    assert page.locator("main b").count() == 0  # the typed markup is text, not markup
    assert old_token not in page.content()
    save_screenshot(page, PAGES_DIR / "member-zh_CN-phone-form-expired.png")
    problems = a11y.axe_violations(page) + a11y.sideways_overflow(page) + a11y.small_targets(page)
    assert not problems, problems

    page.get_by_role("button", name=zh("Send again")).click()
    page.wait_for_url("**/entries?done=submitted")
    assert DESCRIPTION in page.locator("main").inner_text()

    # Passwords are never shown again, nor offered to send again.
    page.goto("/account/password")
    page.fill("#current", "an-old-password-123")
    page.fill("#new", "a-new-password-456")
    page.fill("#confirmation", "a-new-password-456")
    expire_csrf_cookie(context, "/entries")
    page.locator('main form[action="/account/password"] button[type=submit]').click()
    page.wait_for_load_state()
    assert page.locator("main h1").inner_text() == zh("This form has expired")
    html = page.content()
    assert "an-old-password-123" not in html and "a-new-password-456" not in html
    assert page.get_by_role("button", name=zh("Send again")).count() == 0
    assert page.get_by_role("link", name=zh("Back to the form")).get_attribute("href") == (
        "/account/password"
    )


# --- the phone's menu ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "secretary", "admin"])
def test_the_phone_header_is_two_rows_and_its_menu_holds_the_rest(
    role: str, site: Site, new_context: Callable[..., BrowserContext]
) -> None:
    """On a phone the header is a title bar and one row of tabs; the menu opens without
    a script and holds the other destinations, the password and signing out."""
    context = new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(context, role)
    page = context.new_page()
    page.goto("/boards")
    header = page.locator("header.top")
    height = header.bounding_box()["height"]  # type: ignore[index]
    assert height <= 110, f"the phone header is {height} px tall"
    assert page.locator(".nav-tabs a").count() <= 4
    header.get_by_text(zh("Menu")).click()
    panel = page.locator(".menu-panel")
    assert panel.is_visible()
    assert panel.get_by_role("button", name=zh("Sign out")).is_visible()
    assert panel.get_by_role("link", name=zh("Change password")).is_visible()
    assert header.get_by_role("button", name="English").is_visible()
    page.screenshot(path=PAGES_DIR / f"{role}-zh_CN-phone-menu-open.png")
    # The open menu lies over the page like a sheet: what it covers cannot be touched
    # until it closes, so the check is of the header and its menu, not of the half-hidden
    # links below it (axe counts those as too small; the walk above checks every page with
    # the menu closed).
    problems = (
        a11y.axe_violations(page, within="header.top")
        + a11y.sideways_overflow(page)
        + a11y.small_targets(page)
    )
    assert not problems, problems
    # Every destination of the role is one tap away: a tab or a link in the menu.
    visible = {
        link.get_attribute("href") for link in header.locator("a").all() if link.is_visible()
    }
    desktop = new_context(viewport=DESKTOP, storage_state=context.storage_state()).new_page()
    desktop.goto("/boards")
    wide = {link.get_attribute("href") for link in desktop.locator(".nav-wide a").all()}
    assert wide <= visible, wide - visible
    desktop.screenshot(path=PAGES_DIR / f"{role}-zh_CN-desktop-header.png")
