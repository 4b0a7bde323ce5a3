"""Each role's main journey in a real browser, on a phone and on a desktop, in Chinese
and in English: 4 roles x 2 widths x 2 languages.

- member: sign in, the home page's points and "N entries waiting", the Declare button
  to the entry form, submit, the notice, the entry pending in the list, the home page's
  waiting count one higher;
- secretary: sign in, the home page's queue and the members without an entry this
  month, the queue from the home page, a filter by item, one approval, the notice, the
  queue one shorter (on the queue and on the home page);
- instructor: sign in, the home page's branch they oversee, its board, the review of
  the secretary's own entry (a secretary's entries go to the instructor), the board with
  the new points;
- office admin: sign in, the home page's months, the publication page, publishing last
  month, the month's publication page, its public board.

The Chinese runs keep the browser's language (zh-CN); the English runs choose English
with the header's language button on the sign-in page, and every later page must stay
English. At each step: <html lang> is the language, nothing scrolls sideways on the
phone, and a screenshot lands in tests/browser/screenshots/journey-<role>-<lang>-
<width>-<NN-step>.png. axe-core checks each journey's main page. Expected text comes
from the zh_CN catalog in Chinese and is the msgid itself in English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from babel.dates import format_skeleton
from playwright.sync_api import BrowserContext, Page, expect

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.i18n import ENTRY_STATUS_LABELS
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.browser import a11y
from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import PASSWORD, SmallTown
from web.i18n import translations
from web.notices import NOTICES

pytestmark = pytest.mark.browser

WIDTHS = {"phone": PHONE, "desktop": DESKTOP}
HTML_LANG = {"zh": "zh-CN", "en": "en"}
CATALOG = {"zh": "zh_CN", "en": "en"}
COMBINATIONS = [
    pytest.param(lang, width, id=f"{lang}-{width}")
    for lang in ("zh", "en")
    for width in ("phone", "desktop")
]
PUBLISHED_NOTICE = "The month is published; objections are taken until the date shown."

DECLARED = "在金湾社区协助老人体检登记，共两小时。"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def declare(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    rule_id: str,
    *,
    day: date | None = None,
    quantity: str = "1",
    description: str = "社区服务",
) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput(rule_id, day or today(), Decimal(quantity), description),
            today=today(),
            now=utcnow(),
        )


def approve(
    database: Database, town: SmallTown, rulebook: Rulebook, reviewer: str, entry_id: int
) -> None:
    with database.transaction() as session:
        approve_entry(session, town.principal(database, reviewer), rulebook, entry_id, now=utcnow())


@dataclass
class Journey:
    """One browser page walking one role's journey in one language at one width."""

    page: Page
    role: str
    lang: str
    width: str
    shoot: Callable[[Page, str], Path]

    def t(self, message: str, **values: Any) -> str:
        """``message`` as the page shows it: the catalog's text (or the msgid in English),
        with its placeholders filled like the templates' ``_()``."""
        text = translations(CATALOG[self.lang]).gettext(message)
        return text % values if values else text

    def n(self, singular: str, plural: str, count: int, **values: Any) -> str:
        """A ``{% trans count=... %}`` block's text for ``count``."""
        text = translations(CATALOG[self.lang]).ngettext(singular, plural, count)
        return text % {"count": count, **values}

    def period(self, period: str) -> str:
        """``2026-10`` as the pages show a month: 2026年10月 / October 2026."""
        year, month = int(period[:4]), int(period[5:7])
        return format_skeleton(
            "yMMMM", date(year, month, 1), locale=Locale.parse(CATALOG[self.lang])
        )

    def step(self, name: str) -> None:
        """The page is in the journey's language, fits the phone, and is photographed."""
        expect(self.page.locator("html")).to_have_attribute("lang", HTML_LANG[self.lang])
        if self.width == "phone":
            scroll_width = int(self.page.evaluate("document.documentElement.scrollWidth"))
            assert scroll_width <= PHONE["width"], (
                f"{self.role} {name}: {self.page.url} scrolls sideways on a "
                f"{PHONE['width']} px phone (scrollWidth {scroll_width} px); "
                + "; ".join(a11y.sideways_overflow(self.page))
            )
        self.shoot(self.page, f"journey-{self.role}-{self.lang}-{self.width}-{name}")

    def axe(self) -> None:
        problems = a11y.axe_violations(self.page)
        assert not problems, f"{self.page.url}:\n" + "\n".join(problems)

    def header_link(self, message: str) -> None:
        """Follow a link of the header's navigation (tabs on a phone, a row on a desktop)."""
        self.page.locator("header").get_by_role("link", name=self.t(message), exact=True).click()

    def sign_in(self, username: str) -> None:
        """Open the sign-in page, choose English there for an English run, sign in."""
        page = self.page
        page.goto("/login")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        if self.lang == "en":
            page.locator("header").get_by_role("button", name="English").click()
            expect(page).to_have_url(re.compile(r"/login$"))
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.locator("header").get_by_role("button", name="中文")).to_be_visible()
        self.step("01-login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        # The header's language switch is a submit button too: take the one in the form.
        page.locator("main form button[type=submit]").click()
        expect(page).not_to_have_url(re.compile(r"/login"))


@pytest.fixture
def journey(
    request: pytest.FixtureRequest,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> Iterator[Callable[[str], Journey]]:
    lang, width = request.node.callspec.params["lang"], request.node.callspec.params["width"]

    def start(role: str) -> Journey:
        options: dict[str, Any] = {"viewport": WIDTHS[width]}
        if width == "phone":
            options.update(is_mobile=True, has_touch=True)
        return Journey(new_context(**options).new_page(), role, lang, width, screenshot)

    yield start


@pytest.mark.parametrize(("lang", "width"), COMBINATIONS)
def test_member_declares_from_the_home_page(
    lang: str,
    width: str,
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    journey: Callable[[str], Journey],
) -> None:
    approve(
        database,
        town,
        rulebook,
        "secretary",
        declare(database, town, rulebook, "member", "volunteer", quantity="2"),
    )
    declare(database, town, rulebook, "member", "study", description="参加党课学习")

    j = journey("member")
    page = j.page
    j.sign_in("member")

    # Home: this month's points and one entry waiting for the secretary.
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(j.t("Hello, %(name)s", name="张伟"))
    home = page.locator("#home-member")
    expect(home.locator("#month-points")).to_have_text("6.0")
    waiting = (
        "%(count)s entry is waiting for review by your secretary.",
        "%(count)s entries are waiting for review by your secretary.",
    )
    expect(home.locator("#next-steps .next-pending")).to_contain_text(j.n(*waiting, 1))
    j.step("02-home")

    # The Declare button, to the form: every field labelled, every control thumb-sized.
    home.locator("a.cta").click()
    expect(page).to_have_url(re.compile(r"/entries/new$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(j.t("Declare an entry"))
    for label in ("What did you do?", "Date of the activity", "Quantity", "What happened"):
        expect(page.get_by_label(j.t(label), exact=True)).to_be_visible()
    if width == "phone":
        small = a11y.small_targets(page)
        assert not small, "\n".join(small)
    j.axe()
    j.step("03-entry-form")

    page.get_by_label(j.t("What did you do?"), exact=True).select_option("volunteer")
    page.get_by_label(j.t("Date of the activity"), exact=True).fill(today().isoformat())
    page.get_by_label(j.t("Quantity"), exact=True).fill("2")
    page.get_by_label(j.t("What happened"), exact=True).fill(DECLARED)
    j.step("04-entry-filled")
    page.get_by_role("button", name=j.t("Submit for review")).click()

    # The notice, and the entry pending in the list.
    expect(page).to_have_url(re.compile(r"/entries\?done=submitted$"))
    expect(page.locator(".notice")).to_have_text(j.t(NOTICES["submitted"]))
    entry = page.locator("li.entry", has_text=DECLARED)
    expect(entry).to_have_count(1)
    expect(entry).to_have_class(re.compile(r"\bstatus-pending\b"))
    expect(entry.locator(".badge")).to_have_text(j.t(ENTRY_STATUS_LABELS["pending"]))
    j.step("05-entries-submitted")

    # Home again (the brand link): two entries wait now, the points are unchanged.
    page.locator("header a.brand").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(home.locator("#next-steps .next-pending")).to_contain_text(j.n(*waiting, 2))
    expect(home.locator("#month-points")).to_have_text("6.0")
    j.step("06-home-two-waiting")


@pytest.mark.parametrize(("lang", "width"), COMBINATIONS)
def test_secretary_filters_the_queue_and_approves(
    lang: str,
    width: str,
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    journey: Callable[[str], Journey],
) -> None:
    declare(database, town, rulebook, "member", "volunteer", quantity="2", description=DECLARED)
    declare(database, town, rulebook, "member", "study", description="参加党课学习")

    j = journey("secretary")
    page = j.page
    j.sign_in("secretary")

    # Home: two entries to review; 李娜 and the secretary himself have declared nothing.
    branch = page.locator(f"#branch-{town.jinwan}")
    queue_link = branch.locator(".home-queue a")
    to_review = ("%(count)s entry waits for your review", "%(count)s entries wait for your review")
    expect(queue_link).to_have_text(j.n(*to_review, 2))
    idle = (
        "%(count)s member has no entry this month",
        "%(count)s members have no entry this month",
    )
    expect(branch.get_by_role("heading", level=3)).to_have_text(j.n(*idle, 2))
    expect(branch.locator(".idle-members")).to_contain_text("李娜")
    expect(branch.locator(".idle-members")).not_to_contain_text("张伟")
    j.step("02-home")

    # The queue, from the home page.
    queue_link.click()
    expect(page).to_have_url(re.compile(rf"/review\?branch={town.jinwan}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(j.t("Review queue"))
    expect(page.locator("ol.queue > li.entry")).to_have_count(2)
    j.axe()
    j.step("03-queue")

    # Only volunteer service.
    page.get_by_label(j.t("Item"), exact=True).select_option("volunteer")
    page.get_by_role("button", name=j.t("Filter"), exact=True).click()
    expect(page).to_have_url(re.compile(r"rule=volunteer"))
    queued = page.locator("ol.queue > li.entry")
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text(DECLARED)
    expect(page.locator("#queue-count")).to_have_text(
        j.t(
            "Entries %(first)s–%(last)s of %(count)s matching the filters.",
            first=1,
            last=1,
            count=1,
        )
    )
    expect(queued).to_contain_text(j.t("+%(points)s points if approved", points="6.0"))
    j.step("04-queue-filtered")

    approve_button = j.t("Approve the entry of %(name)s", name="张伟")
    queued.get_by_role("button", name=approve_button).click()
    expect(page).to_have_url(re.compile(r"/review\?.*done=approved"))
    expect(page.locator(".notice")).to_have_text(j.t(NOTICES["approved"]))
    expect(page.locator("ol.queue > li.entry")).to_have_count(0)
    expect(page.locator("p.empty")).to_contain_text(j.t("No pending entry matches these filters."))
    j.step("05-approved")

    # The whole queue: one entry left, here and on the home page.
    page.get_by_role("link", name=j.t("Show the whole queue"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/review$"))
    expect(page.locator("ol.queue > li.entry")).to_have_count(1)
    expect(page.locator("main p.muted").first).to_contain_text(
        j.n(
            "%(count)s entry waits for your decision, oldest first.",
            "%(count)s entries wait for your decision, oldest first.",
            1,
        )
    )
    j.step("06-queue-one-left")
    page.locator("header a.brand").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(queue_link).to_have_text(j.n(*to_review, 1))
    j.step("07-home-one-left")


@pytest.mark.parametrize(("lang", "width"), COMBINATIONS)
def test_instructor_oversees_a_branch_and_reviews_its_secretary(
    lang: str,
    width: str,
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    journey: Callable[[str], Journey],
) -> None:
    approve(
        database,
        town,
        rulebook,
        "secretary",
        declare(database, town, rulebook, "member", "volunteer", quantity="2"),
    )
    # A secretary's own entry goes to the instructor.
    declare(database, town, rulebook, "secretary", "study", description="支部书记参加党课学习")

    j = journey("instructor")
    page = j.page
    j.sign_in("instructor")

    # Home: the one branch the instructor oversees, with the secretary's entry waiting.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        j.t("Hello, %(name)s", name="党建指导员")
    )
    expect(page.locator("section.home-branch")).to_have_count(1)
    branch = page.locator(f"#branch-{town.jinwan}")
    expect(branch.get_by_role("heading", level=2)).to_contain_text("金湾工业园区联合党支部")
    expect(branch.locator(".home-queue a")).to_have_text(
        j.n("%(count)s entry waits for your review", "%(count)s entries wait for your review", 1)
    )
    expect(page.locator("#home-member")).to_have_count(0)
    j.axe()
    j.step("02-home")

    # The branch board: 张伟 ranked, the secretary without points yet.
    branch.locator(".home-links").get_by_role("link", name=j.t("Branch board")).click()
    period = period_of(today())
    expect(page).to_have_url(re.compile(rf"/boards/{period}/branches/{town.jinwan}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("金湾工业园区联合党支部")
    board = page.locator("table.branch-board tbody")
    expect(board.locator("tr", has_text="张伟").locator("td.num")).to_have_text("6.0")
    expect(board.locator("tr", has_text="王书记")).to_have_count(0)
    j.step("03-branch-board")

    # The review queue: the secretary's entry, approved.
    j.header_link("Review")
    expect(page).to_have_url(re.compile(r"/review$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(j.t("Review queue"))
    queued = page.locator("ol.queue > li.entry")
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text("王书记")
    j.step("04-queue")
    queued.get_by_role("button", name=j.t("Approve the entry of %(name)s", name="王书记")).click()
    expect(page).to_have_url(re.compile(r"/review\?done=approved$"))
    expect(page.locator(".notice")).to_have_text(j.t(NOTICES["approved"]))
    expect(page.locator("ol.queue > li.entry")).to_have_count(0)
    j.step("05-approved")

    # Back on the board, the secretary has the study session's points.
    page.goto(f"/boards/{period}/branches/{town.jinwan}")
    expect(board.locator("tr", has_text="王书记").locator("td.num")).to_have_text("2.0")
    j.step("06-branch-board-updated")


@pytest.mark.parametrize(("lang", "width"), COMBINATIONS)
def test_office_publishes_last_month_and_opens_its_board(
    lang: str,
    width: str,
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    journey: Callable[[str], Journey],
) -> None:
    last_month = shift_period(period_of(today()), -1)
    last_day = date(int(last_month[:4]), int(last_month[5:7]), 1) + timedelta(days=27)
    approve(
        database,
        town,
        rulebook,
        "secretary",
        declare(database, town, rulebook, "member", "study", day=last_day),
    )

    j = journey("admin")
    page = j.page
    j.sign_in("admin")

    # Home: the office's months; last month has ended, nothing holds it: ready.
    office = page.locator("#home-office")
    expect(office.get_by_role("heading", level=2)).to_have_text(j.t("Organisation office"))
    expect(office.locator("#office-pending")).to_contain_text(
        j.t("No entry is pending anywhere in the town.")
    )
    month_row = office.locator(f"#office-month-{last_month}")
    expect(month_row).to_contain_text(j.t("ready to publish"))
    j.step("02-home")

    # The publication page, from the home page.
    office.locator(".home-links").get_by_role("link", name=j.t("Publication"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/publication$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(j.t("Publication"))
    row = page.locator(f"#month-{last_month}")
    publish = row.get_by_role("button", name=j.t("Publish %(period)s", period=j.period(last_month)))
    expect(publish).to_be_visible()
    j.axe()
    j.step("03-publication")

    # Publish: first a page saying what will be frozen, then the month's publication page.
    publish.click()
    # (the button is a GET form's: the address ends in an empty query)
    expect(page).to_have_url(re.compile(rf"/admin/publication/{last_month}/publish\??$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        j.t("Publish %(period)s?", period=j.period(last_month))
    )
    expect(page.locator("#frozen-points")).to_contain_text("2.0")
    j.axe()
    j.step("04-confirm-publication")
    page.get_by_role(
        "button", name=j.t("Publish %(period)s now", period=j.period(last_month))
    ).click()
    expect(page).to_have_url(re.compile(rf"/admin/publication/{last_month}\?done=published$"))
    expect(page.locator(".notice").first).to_have_text(j.t(PUBLISHED_NOTICE))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        j.t("Publication of %(period)s", period=j.period(last_month))
    )
    state = j.t("State: %(state)s", state=j.t("published, on notice"))
    expect(page.locator("main")).to_contain_text(state)
    expect(page.locator("#revision-1")).to_be_visible()
    j.step("05-month-published")

    # The public board of the month, as published.
    board_link = j.t("The public board of %(period)s", period=j.period(last_month))
    page.get_by_role("link", name=board_link, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/boards/{last_month}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        j.t("Members board %(period)s", period=j.period(last_month))
    )
    expect(page.locator("div.publication.published")).to_be_visible()
    row = page.locator("table.members-board tbody tr", has_text="张伟")
    expect(row.locator("td.num")).to_have_text("2.0")
    j.step("06-public-board")
