"""What an operator's tools see: /healthz (alive, no database), /readyz (the checks of
``jifen serve``), the access log (one line per request, its id in X-Request-ID, the
real client only behind a trusted proxy) and /metrics (allowed by address or token,
else a plain 404)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from service.database import open_database
from service.kernel.config import Settings
from service.kernel.logs import JsonFormatter, TextFormatter
from service.persistence.db import Database
from service.persistence.models import Entry, EntryStatus
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from web.app import create_app

HOST = "http://testserver.local"
PROXY_ID = "proxy-7f3a9c"


def make_app(
    database: Database, rulebook: Rulebook, database_url: str, tmp_path: Path, **settings: Any
) -> Litestar:
    defaults: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "upload_dir": tmp_path / "uploads",
        "roster_upload_dir": tmp_path / "roster-uploads",
    }
    return create_app(Settings(**{**defaults, **settings}), database=database, rulebook=rulebook)


@pytest.fixture
def build(
    database: Database, rulebook: Rulebook, database_url: str, tmp_path: Path
) -> Iterator[Any]:
    """``build(**settings)``: a client of an app of the test's own with these settings."""
    clients: list[TestClient[Litestar]] = []

    def client_with(**settings: Any) -> TestClient[Litestar]:
        app = make_app(database, rulebook, database_url, tmp_path, **settings)
        client: TestClient[Litestar] = TestClient(app=app, base_url=HOST)
        client.__enter__()
        clients.append(client)
        return client

    yield client_with
    for client in clients:
        client.__exit__(None, None, None)


def unreachable_database(database_url: str, tmp_path: Path) -> Database:
    """A database of the same kind that cannot be reached (any more)."""
    if database_url.startswith("postgresql"):
        return open_database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    folder = tmp_path / "gone"
    database = open_database(f"sqlite:///{folder / 'jifen.sqlite3'}")
    shutil.rmtree(folder)
    database.dispose()  # no connection to the removed file is kept
    return database


# --- /healthz and /readyz ---------------------------------------------------------------


def test_healthz_answers_without_the_database(
    database_url: str, rulebook: Rulebook, tmp_path: Path
) -> None:
    """Alive is not ready: with the database gone the process still answers /healthz
    (a liveness probe must not restart it), while /readyz names the database."""
    broken = unreachable_database(database_url, tmp_path)
    try:
        app = make_app(broken, rulebook, database_url, tmp_path)
        with TestClient(app=app, base_url=HOST) as client:
            health = client.get("/healthz")
            assert health.status_code == 200
            assert health.json() == {"status": "ok"}
            assert "set-cookie" not in health.headers  # a probe needs no CSRF cookie
            ready = client.get("/readyz")
            assert ready.status_code == 503
            checks = ready.json()["checks"]
            assert checks["database"]["ok"] is False
            assert "cannot reach the database" in checks["database"]["detail"]
            assert checks["schema"] == {
                "ok": False,
                "detail": "not checked: the database cannot be reached",
            }
            assert checks["rules"]["ok"] is True and checks["uploads"]["ok"] is True
    finally:
        broken.dispose()


def test_readyz_is_ready_on_a_good_instance(client: TestClient[Litestar]) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert set(body["checks"]) == {"database", "schema", "rules", "uploads"}
    assert all(check["ok"] for check in body["checks"].values()), body
    assert "at revision" in body["checks"]["schema"]["detail"]


@pytest.mark.parametrize("setting", ["upload_dir", "roster_upload_dir"])
def test_readyz_is_not_ready_when_an_upload_folder_takes_no_files(
    build: Any, tmp_path: Path, setting: str
) -> None:
    """A file where the folder should be (root may write anywhere, so a read-only mode
    would prove nothing in a container): the folder cannot be made."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    client = build(**{setting: blocker / "uploads"})
    ready = client.get("/readyz")
    assert ready.status_code == 503
    uploads = ready.json()["checks"]["uploads"]
    assert uploads["ok"] is False
    assert f"JIFEN_{setting.upper()} cannot hold uploads" in uploads["detail"]
    assert ready.json()["checks"]["database"]["ok"] is True


def test_readyz_is_not_ready_on_broken_rules(build: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.toml").write_text('version = "x"\n', encoding="utf-8")
    ready = build(rules_dir=rules).get("/readyz")
    assert ready.status_code == 503
    detail = ready.json()["checks"]["rules"]["detail"]
    assert ready.json()["checks"]["rules"]["ok"] is False
    assert "bad.toml" in detail and "invalid" in detail


def test_the_probes_and_metrics_are_not_in_the_api_schema(client: TestClient[Litestar]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert paths  # the API is there
    assert not {"/healthz", "/readyz", "/metrics"} & set(paths)


# --- the access log ----------------------------------------------------------------------


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access log lines as the JSON format writes them."""
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "jifen.access"
    ]


def test_each_request_has_an_id_and_one_json_access_line(
    town: SmallTown, client: TestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    """Without a trusted proxy a client's X-Request-ID and X-Forwarded-For are its own
    inventions: the id is generated and the client is the socket's peer."""
    with caplog.at_level(logging.INFO, logger="jifen.access"):
        response = client.get(
            "/login?next=/secret-search-term",
            headers={"X-Request-ID": PROXY_ID, "X-Forwarded-For": "203.0.113.9"},
        )
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    assert request_id != PROXY_ID and len(request_id) == 32
    [line] = access_lines(caplog)
    assert line["request_id"] == request_id
    assert line["client"] == "testclient"
    assert line["account"] is None
    assert (line["method"], line["path"], line["route"]) == ("GET", "/login", "/login")
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["logger"] == "jifen.access" and line["level"] == "INFO"
    assert "secret-search-term" not in json.dumps(line)


def test_the_access_line_names_the_signed_in_account_and_the_route_template(
    town: SmallTown, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    browser.login("member")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jifen.access"):
        assert browser.client.get(f"/branches/{town.jinwan}").status_code in (200, 403)
        assert browser.client.get("/no-such-page").status_code == 404
    known, unknown = access_lines(caplog)
    assert known["account"] == "member"
    assert known["route"] == "/branches/{branch_id}"  # one label value for every branch
    assert known["path"] == f"/branches/{town.jinwan}"
    assert unknown["status"] == 404 and unknown["route"] is None
    assert unknown["account"] is None  # no route matched: the session is not looked up


def test_behind_a_trusted_proxy_its_request_id_and_client_address_are_taken(
    town: SmallTown, build: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = build(trusted_proxy=True)
    with caplog.at_level(logging.INFO, logger="jifen.access"):
        response = client.get(
            "/login",
            # The client sent the first hop itself; the proxy appended the last.
            headers={"X-Request-ID": PROXY_ID, "X-Forwarded-For": "10.9.9.9, 203.0.113.9"},
        )
        insane = client.get("/login", headers={"X-Request-ID": "two words"})
        real_ip = client.get("/login", headers={"X-Real-IP": "198.51.100.4"})
        assert real_ip.status_code == 200
    assert response.headers["X-Request-ID"] == PROXY_ID
    assert insane.headers["X-Request-ID"] != "two words"
    first, second, third = access_lines(caplog)
    assert (first["request_id"], first["client"]) == (PROXY_ID, "203.0.113.9")
    assert second["request_id"] == insane.headers["X-Request-ID"]
    assert third["client"] == "198.51.100.4"


def test_the_text_format_keeps_a_crafted_path_on_one_line(
    client: TestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="jifen.access"):
        client.get("/x%0Aforged%20line")
    [record] = [record for record in caplog.records if record.name == "jifen.access"]
    text = TextFormatter().format(record)
    assert "\n" not in text and record.request_id in text  # type: ignore[attr-defined]


# --- /metrics -----------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def login_count(values: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    key = (
        "jifen_http_requests_total",
        (("method", "GET"), ("route", "/login"), ("status", "200")),
    )
    return values.get(key, 0.0)


def test_metrics_are_a_404_to_anyone_not_allowed(build: Any) -> None:
    plain = build()
    assert plain.get("/metrics").status_code == 404  # the test client is no address
    # Without a trusted proxy, X-Forwarded-For is the client's say-so.
    assert plain.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404
    assert plain.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404

    proxied = build(trusted_proxy=True)
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "::1"}).status_code == 200
    outside = proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
    assert outside.status_code == 404
    assert "jifen_http" not in outside.text

    office = build(trusted_proxy=True, metrics_allow=["203.0.113.0/24"])
    assert office.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    assert office.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404

    token = build(metrics_token="scrape-token-of-some-length")
    assert (
        token.get(
            "/metrics", headers={"Authorization": "Bearer scrape-token-of-some-length"}
        ).status_code
        == 200
    )
    assert token.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert token.get("/metrics").status_code == 404


def test_metrics_count_requests_and_read_the_town_from_the_database(
    town: SmallTown, database: Database, build: Any
) -> None:
    client = build(metrics_token="scrape-token-of-some-length")
    auth = {"Authorization": "Bearer scrape-token-of-some-length"}
    before = client.get("/metrics", headers=auth)
    assert before.headers["content-type"].startswith("text/plain")
    for _ in range(3):
        assert client.get("/login").status_code == 200
    after = samples(client.get("/metrics", headers=auth).text)
    assert login_count(after) - login_count(samples(before.text)) == 3
    assert (
        "jifen_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/login")),
    ) in after
    with database.transaction(write=False) as session:
        pending = session.scalar(
            select(func.count()).select_from(Entry).where(Entry.status == EntryStatus.PENDING)
        )
    assert after[("jifen_entries_pending", ())] == pending
    assert after[("jifen_database_up", ())] == 1
    assert ("jifen_sign_in_failures_total", ()) in after


def test_sign_in_failures_show_in_the_metrics(town: SmallTown, build: Any) -> None:
    client = build(metrics_token="scrape-token-of-some-length")
    auth = {"Authorization": "Bearer scrape-token-of-some-length"}
    key = ("jifen_sign_in_failures_total", ())
    before = samples(client.get("/metrics", headers=auth).text)[key]
    browser = Browser(client)
    failed = browser.submit("/login", "/login", {"username": "member", "password": "wrong"})
    assert failed.status_code != 303
    assert samples(client.get("/metrics", headers=auth).text)[key] == before + 1
