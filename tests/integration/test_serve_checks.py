"""``jifen serve`` runs the checks of /readyz before any worker starts and names every
one that fails; started, its workers log one line per request in the configured format
and share their request metrics (/metrics of any worker sums all of them)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from service.cli import main
from service.cli.common import CliContext
from service.kernel.config import Settings
from service.kernel.logs import MULTIPROCESS_DIR
from service.persistence.db import Database
from tests.live_server import JIFEN, process_database_url, process_env


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """uvicorn.run's arguments, when ``serve`` gets that far (it never serves here),
    with the metrics directory as it was while it ran."""
    import uvicorn

    calls: list[dict[str, Any]] = []

    def run(*_args: Any, **kwargs: Any) -> None:
        directory = os.environ.get(MULTIPROCESS_DIR)
        exists = directory is not None and Path(directory).is_dir()
        calls.append({**kwargs, "metrics_dir": directory, "metrics_dir_existed": exists})

    monkeypatch.setattr(uvicorn, "run", run)
    return calls


@pytest.fixture
def serve(database: Database, tmp_path: Path) -> Any:
    def invoke(**settings: Any) -> Result:
        defaults: dict[str, Any] = {
            "env": "test",
            "database_url": url_of(database),
            "upload_dir": tmp_path / "uploads",
            "roster_upload_dir": tmp_path / "roster",
        }
        merged = Settings(**{**defaults, **settings})
        return CliRunner().invoke(main, ["serve", "--port", "0"], obj=CliContext(merged))

    return invoke


def url_of(database: Database) -> str:
    """The URL another engine opens ``database``'s tables with (on PostgreSQL, its
    schema as the search path), found through the test's own transaction."""
    url = database.engine.url
    if url.get_backend_name() != "postgresql":
        return url.render_as_string(hide_password=False)
    with database.transaction(write=False) as session:
        schema = session.execute(text("SELECT current_schema()")).scalar_one()
    with_schema = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return with_schema.render_as_string(hide_password=False)


def refused(result: Result, started: list[dict[str, Any]]) -> str:
    assert result.exit_code == 1, result.output
    assert not started, "uvicorn was started"
    assert "the server does not start" in result.stderr
    assert "Traceback" not in result.output
    return result.stderr


def test_serve_refuses_an_upload_folder_that_takes_no_files(
    serve: Any, started: list[dict[str, Any]], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    stderr = refused(serve(upload_dir=blocker / "uploads"), started)
    assert "error: JIFEN_UPLOAD_DIR cannot hold uploads" in stderr
    stderr = refused(serve(roster_upload_dir=blocker / "roster"), started)
    assert "error: JIFEN_ROSTER_UPLOAD_DIR cannot hold uploads" in stderr


def test_serve_refuses_a_database_it_cannot_reach(
    serve: Any, started: list[dict[str, Any]], database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("postgresql"):
        url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    else:
        url = f"sqlite:///{tmp_path / 'folder'}"
        (tmp_path / "folder").mkdir()  # a folder where the database file should be
    stderr = refused(serve(database_url=url), started)
    assert "error: cannot reach the database" in stderr
    # The schema is not asked of a database that does not answer.
    assert "not checked: the database cannot be reached" in stderr


def test_serve_names_every_failed_check(
    serve: Any, started: list[dict[str, Any]], tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.toml").write_text('version = "x"\n', encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    stderr = refused(serve(rules_dir=rules, upload_dir=blocker / "uploads"), started)
    assert f"the scoring rules in {rules} are invalid" in stderr
    assert "bad.toml" in stderr
    assert "JIFEN_UPLOAD_DIR cannot hold uploads" in stderr


def test_serve_starts_uvicorn_with_its_own_log_and_a_private_metrics_folder(
    serve: Any, started: list[dict[str, Any]]
) -> None:
    before = os.environ.get(MULTIPROCESS_DIR)
    result = serve(log_format="json", log_level="warning")
    assert result.exit_code == 0, result.output
    [call] = started
    assert call["access_log"] is False
    assert call["log_level"] == "warning"
    formatter = call["log_config"]["formatters"]["jifen"]["()"]
    assert formatter.__name__ == "JsonFormatter"
    assert call["log_config"]["loggers"]["jifen"]["level"] == "WARNING"
    assert call["metrics_dir_existed"] is True
    assert not Path(call["metrics_dir"]).exists()  # removed when the server stopped
    assert os.environ.get(MULTIPROCESS_DIR) == before


# --- a real server with two workers ------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape_logins(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "jifen_http_requests_total"
        and sample.labels == {"method": "GET", "route": "/login", "status": "200"}
    )


def log_lines(log_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def login_pids(log_path: Path) -> set[int]:
    return {
        line["pid"]
        for line in log_lines(log_path)
        if line["logger"] == "jifen.access" and line["path"] == "/login"
    }


@pytest.mark.commits
def test_two_workers_log_json_and_sum_their_metrics(database: Database, tmp_path: Path) -> None:
    env = process_env(
        process_database_url(database),
        upload_dir=str(tmp_path / "uploads"),
        roster_upload_dir=str(tmp_path / "roster"),
        log_format="json",
    )
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*JIFEN, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the workers stop with the group
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"not serving:\n{log_path.read_text()}")
        # A new connection each: the kernel hands them to either worker; more until
        # both have answered some (the log names the process of each line).
        requests = 0
        while requests < 240 and len(login_pids(log_path)) < 2:
            for _ in range(12):
                assert httpx.get(f"{base_url}/login", timeout=10).status_code == 200
            requests += 12
            time.sleep(0.1)
        assert len(login_pids(log_path)) == 2, "one worker answered every request"
        # Whichever worker answers the scrape, it reports both workers' requests.
        for _ in range(6):
            assert scrape_logins(base_url) == requests
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    access = [line for line in log_lines(log_path) if line["logger"] == "jifen.access"]
    assert sum(1 for line in access if line["path"] == "/login") == requests
    assert {line["client"] for line in access} == {"127.0.0.1"}
