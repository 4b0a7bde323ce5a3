"""The town's names and public address (JIFEN_TOWN_NAME, JIFEN_COMMITTEE_NAME,
JIFEN_PUBLIC_URL) on what people see: page titles and the brand, the A4 notice-board
sheet (its issuer, title and link) and the XLSX exports; without them, neutral words
and no bare 镇党委; and the settings' own checks."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from openpyxl import load_workbook
from pydantic import ValidationError

from service.kernel.config import PROJECT_ROOT, Settings, serving_problems
from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.integration.test_period_views import seed_half_year

HOST = "testserver.local"
PUBLIC = "https://jifen.example.org"

MakeBrowser = Callable[..., Browser]


@pytest.fixture
def town_browser(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    database_url: str,
    tmp_path: Path,
) -> Iterator[MakeBrowser]:
    """A member signed in to an app of these town settings (a language cookie when
    ``lang`` is given), with half a year of points to show."""
    from web.app import create_app

    seed_half_year(database, town, rulebook)
    clients: list[TestClient[Any]] = []

    def make(lang: str | None = None, **town_settings: str) -> Browser:
        settings = Settings(
            env="test",
            database_url=database_url,
            upload_dir=tmp_path / "uploads",
            roster_upload_dir=tmp_path / "roster-uploads",
            **town_settings,  # type: ignore[arg-type]
        )
        client: TestClient[Any] = TestClient(
            app=create_app(settings, database=database, rulebook=rulebook)
        )
        client.__enter__()
        clients.append(client)
        browser = Browser(client)
        if lang:
            client.cookies.set("jifen_lang", lang, domain=HOST)
        browser.login("member")
        return browser

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


def title(html: str) -> str:
    return html.split("<title>", 1)[1].split("</title>", 1)[0]


def xlsx(browser: Browser, path: str) -> Any:
    response = browser.client.get(path)
    assert response.status_code == 200
    return load_workbook(io.BytesIO(response.content))


# --- with the town's settings --------------------------------------------------------------


def test_pages_name_the_town(town_browser: MakeBrowser) -> None:
    english = town_browser("en", town_name="青溪镇", public_url=PUBLIC)
    home = english.client.get("/").text
    assert title(home) == "Home · 青溪镇 · Party member points"
    assert '<span translate="no">青溪镇</span>' in home  # the brand, as typed
    chinese = town_browser(town_name="青溪镇", public_url=PUBLIC)
    assert title(chinese.client.get("/boards").text).endswith(" · 青溪镇 · 党员积分")


def test_the_print_sheet_is_issued_by_the_committee_with_the_public_link(
    town_browser: MakeBrowser,
) -> None:
    # A trailing slash is dropped; the request's own address (http://testserver.local
    # here, http://127.0.0.1 behind a proxy) never makes the link.
    browser = town_browser(town_name="青溪镇", public_url=PUBLIC + "/")
    html = browser.client.get("/boards/2026-02/print").text
    assert '<p class="print-issuer" translate="no">青溪镇党委</p>' in html
    assert "<h1>青溪镇党员积分公示(2026年2月)</h1>" in html
    assert title(html) == "青溪镇党员积分公示(2026年2月)"
    link = "https://jifen.example.org/boards/2026-02"
    assert f"登录 {link} 在积分榜上提出,或到青溪镇党委组织办反映" in html
    assert f"打印自 {link}。" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")

    english = town_browser("en", town_name="青溪镇", committee_name="中共青溪镇委员会")
    html = english.client.get("/boards/2026-02/print").text
    assert '<p class="print-issuer" translate="no">中共青溪镇委员会</p>' in html
    assert "<h1>青溪镇 party member points notice, February 2026</h1>" in html
    assert "or go to the organisation office of 中共青溪镇委员会." in html
    # Without a public address (development, tests) the link comes from the request.
    assert "http://testserver.local/boards/2026-02" in html


def test_the_xlsx_exports_carry_the_town_and_committee(town_browser: MakeBrowser) -> None:
    browser = town_browser("en", town_name="青溪镇", public_url=PUBLIC)
    workbook = xlsx(browser, "/boards/2026-02/members.xlsx")
    sheet = workbook.active
    assert sheet.title == "青溪镇 2026-02"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "青溪镇 · Party member points, February 2026"
    assert rows[1][0] == "青溪镇党委"
    assert list(rows[2][:5]) == ["Rank", "Tied", "Name", "Branch", "Points"]
    assert sheet.freeze_panes == "A4"  # the title lines and headings stay in view
    assert workbook.properties.creator == "青溪镇党委"

    branches = xlsx(browser, "/boards/2026-02/branches.xlsx").active
    assert [row[0] for row in branches.iter_rows(max_row=2, values_only=True)] == [
        "青溪镇 · Party branch points, February 2026",
        "青溪镇党委",
    ]
    chinese = town_browser(town_name="青溪镇", public_url=PUBLIC)
    first = next(xlsx(chinese, "/boards/2026-02/members.xlsx").active.iter_rows(values_only=True))
    assert first[0] == "青溪镇 · 党员积分(2026年2月)"


def test_a_town_name_that_looks_like_a_formula_stays_text(town_browser: MakeBrowser) -> None:
    browser = town_browser(town_name="=HYPERLINK(1)", public_url=PUBLIC)
    sheet = xlsx(browser, "/boards/2026-02/members.xlsx").active
    for (cell,) in sheet.iter_rows(max_row=2, max_col=1):
        assert cell.data_type == "s", cell.value


# --- without them ----------------------------------------------------------------------------


def test_without_a_town_the_words_are_neutral(town_browser: MakeBrowser) -> None:
    chinese = town_browser()
    html = chinese.client.get("/boards/2026-02/print").text
    assert "镇党委" not in html and "print-issuer" not in html
    assert "<h1>党员积分公示(2026年2月)</h1>" in html
    assert "或向组织办反映" in html
    assert title(chinese.client.get("/").text).endswith(" · 积分")

    english = town_browser("en")
    assert title(english.client.get("/").text) == "Home · Jifen"
    first = next(xlsx(english, "/boards/2026-02/members.xlsx").active.iter_rows(values_only=True))
    assert first[0] == "Party member points, February 2026"


# --- the settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "jifen.example.org",  # no scheme
        "ftp://jifen.example.org",
        "https://",  # no host
        "/boards",
        "https://jifen.example.org/?town=1",
        "https://jifen.example.org/#top",
        "https://user:secret@jifen.example.org",
        "https://jifen example.org",
    ],
)
def test_a_public_url_must_be_an_absolute_web_address(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(env="test", public_url=value)
    (error,) = raised.value.errors()
    assert error["loc"] == ("public_url",)
    assert "absolute http:// or https:// address" in error["msg"]
    assert "without a query, e.g. https://jifen.example.org" in error["msg"]


def test_the_settings_normalise_and_default_the_names(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(env="test", public_url="https://jifen.example.org/jifen/")
    assert settings.public_url == "https://jifen.example.org/jifen"
    assert Settings(env="test", town_name="青溪镇").committee_name == "青溪镇党委"
    named = Settings(env="test", town_name="青溪镇", committee_name="中共青溪镇委员会")
    assert named.committee_name == "中共青溪镇委员会"
    # An empty line of a settings file (JIFEN_TOWN_NAME=) is "not set", not a blank name.
    monkeypatch.setenv("JIFEN_TOWN_NAME", " ")
    monkeypatch.setenv("JIFEN_PUBLIC_URL", "")
    unset = Settings(env="test")
    assert (unset.town_name, unset.committee_name, unset.public_url) == (None, None, None)


def test_development_shows_the_demo_towns_names(tmp_path: Path) -> None:
    development = Settings(env="development", seeds_dir=PROJECT_ROOT / "seeds")
    assert (development.town_name, development.committee_name) == ("示范镇", "示范镇党委")
    assert Settings(env="development", town_name="青溪镇").committee_name == "青溪镇党委"
    # An installed package without the seeds: neutral, as in production.
    bare = Settings(env="development", seeds_dir=tmp_path)
    assert (bare.town_name, bare.committee_name) == (None, None)
    assert Settings(env="production", seeds_dir=PROJECT_ROOT / "seeds").town_name is None


def test_production_needs_a_public_url() -> None:
    production = {"env": "production", "secret_key": "a-production-secret-of-its-own"}
    problems = [str(problem) for problem in serving_problems(Settings(**production))]  # type: ignore[arg-type]
    assert any("set JIFEN_PUBLIC_URL" in problem for problem in problems), problems
    assert serving_problems(Settings(**production, public_url=PUBLIC)) == []  # type: ignore[arg-type]
    # Development and tests build links from the request.
    assert serving_problems(Settings(env="development")) == []


def test_the_town_names_are_escaped(town_browser: MakeBrowser) -> None:
    browser = town_browser(town_name="<i>青溪镇</i>", public_url=PUBLIC)
    for path in ("/", "/boards/2026-02/print"):
        html = browser.client.get(path).text
        assert "<i>" not in html, path
        assert "&lt;i&gt;青溪镇&lt;/i&gt;" in html, path
