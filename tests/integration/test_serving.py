"""``jifen serve`` checks, before any worker starts, what would keep the app from serving,
and exits 1 with the reason; an app on a database whose schema is behind the code
answers 503 (and /readyz says not ready) instead of failing on missing tables.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from service.database import open_database
from service.kernel.config import Settings
from service.persistence.db import Database
from service.persistence.migrate import previous_revision, upgrade
from service.scoring.rules import Rulebook
from tests.live_server import JIFEN, process_database_url, process_env
from web.app import create_app

HOST = "http://testserver.local"
# Without the fix the parent kept running while its workers failed: a refusal must come
# well within this.
REFUSED_WITHIN_S = 30


def _english(env: dict[str, str]) -> dict[str, str]:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "JIFEN_LOCALE"):
        env.pop(name, None)
    env["LANG"] = "C.UTF-8"
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(env: dict[str, str], *more: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    process = subprocess.Popen(
        [*JIFEN, "serve", "--host", "127.0.0.1", "--port", str(port), *more],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Its own process group: the workers are stopped with it, whatever happens.
        start_new_session=True,
    )
    return process, port


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _refused(env: dict[str, str], *more: str) -> subprocess.CompletedProcess[str]:
    """``jifen serve`` that must exit by itself, soon; the whole group is stopped if not."""
    process, _port = _serve(env, *more)
    try:
        stdout, stderr = process.communicate(timeout=REFUSED_WITHIN_S)
    except subprocess.TimeoutExpired:
        _stop(process)
        stdout, stderr = process.communicate()
        pytest.fail(f"jifen serve still running after {REFUSED_WITHIN_S} s:\n{stderr}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture
def behind_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database at the previous release's schema revision (an upgrade not run yet): a
    SQLite file, or on PostgreSQL a schema of its own in the test database."""
    previous = previous_revision()
    assert previous is not None
    if not database_url.startswith("postgresql"):
        url = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
        schema = None
    else:
        schema = f"behind_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        url = (
            make_url(database_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        admin = create_engine(database_url, poolclass=NullPool)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    database = open_database(url)
    try:
        upgrade(database.engine, previous)
    finally:
        database.dispose()
    yield url
    if schema is not None:
        admin = create_engine(database_url, poolclass=NullPool)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_serve_refuses_a_schema_behind_the_code(behind_url: str, tmp_path: Path) -> None:
    env = _english(process_env(behind_url, roster_upload_dir=str(tmp_path / "roster")))
    refused = _refused(env)
    assert refused.returncode == 1, refused.stderr
    assert f"at revision {previous_revision()}" in refused.stderr
    assert "run 'jifen db upgrade' first" in refused.stderr
    assert "the server does not start" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_an_app_on_a_schema_behind_answers_503_until_upgraded(
    behind_url: str, rulebook: Rulebook, tmp_path: Path
) -> None:
    database = open_database(behind_url)
    settings = Settings(
        env="test",
        database_url=behind_url,
        upload_dir=tmp_path / "uploads",
        roster_upload_dir=tmp_path / "roster",
    )
    try:
        app = create_app(settings, database=database, rulebook=rulebook)
        with TestClient(app=app, base_url=HOST) as client:
            # Alive, but not ready: the schema check says what to run.
            assert client.get("/healthz").json() == {"status": "ok"}
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["ready"] is False
            schema = ready.json()["checks"]["schema"]
            assert schema["ok"] is False and "run 'jifen db upgrade'" in schema["detail"]
            assert ready.json()["checks"]["database"]["ok"] is True
            client.cookies.set("jifen_lang", "en", domain="testserver.local")
            for path in ("/login", "/", "/api/members"):
                page = client.get(path)
                assert page.status_code == 503, path
                assert "Traceback" not in page.text and "UndefinedTable" not in page.text
            assert "not ready yet" in client.get("/login").text

            upgrade(database.engine)
            assert client.get("/readyz").status_code == 200
            assert client.get("/readyz").json()["ready"] is True
            assert client.get("/login").status_code == 200
    finally:
        database.dispose()


@pytest.mark.commits
def test_serve_with_workers_refuses_production_without_a_secret_key(
    database: Database, tmp_path: Path
) -> None:
    """The parent checks the settings before it forks: without the check each worker
    failed on them and was started again, while the parent ran on and a supervisor
    took the service for up."""
    env = _english(
        process_env(process_database_url(database), roster_upload_dir=str(tmp_path / "roster"))
    )
    env["JIFEN_ENV"] = "production"
    env.pop("JIFEN_SECRET_KEY", None)
    started = time.monotonic()
    refused = _refused(env, "--workers", "2")
    assert refused.returncode == 1, refused.stderr
    assert time.monotonic() - started < REFUSED_WITHIN_S
    assert "set JIFEN_SECRET_KEY" in refused.stderr
    # Printed and exported links need the address people use, not the proxy's side.
    assert "set JIFEN_PUBLIC_URL" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "Started server process" not in refused.stderr  # no worker was started

    # A setting the environment gets wrong is named, without a traceback either.
    env["JIFEN_SECRET_KEY"] = "short"
    invalid = _refused(env, "--workers", "2")
    assert invalid.returncode == 1
    assert "JIFEN_SECRET_KEY" in invalid.stderr and "Traceback" not in invalid.stderr

    # So is a public address that is not one.
    env["JIFEN_SECRET_KEY"] = "a-production-secret-of-its-own"
    env["JIFEN_PUBLIC_URL"] = "jifen.example.org"
    invalid = _refused(env, "--workers", "2")
    assert invalid.returncode == 1
    assert "JIFEN_PUBLIC_URL" in invalid.stderr and "https://jifen.example.org" in invalid.stderr
    assert "Traceback" not in invalid.stderr


@pytest.mark.commits
def test_serve_with_workers_starts_on_good_settings(database: Database, tmp_path: Path) -> None:
    env = _english(
        process_env(process_database_url(database), roster_upload_dir=str(tmp_path / "roster"))
    )
    env["JIFEN_ENV"] = "production"
    env["JIFEN_SECRET_KEY"] = "a-production-secret-of-its-own"
    env["JIFEN_PUBLIC_URL"] = "https://jifen.example.org"
    process, port = _serve(env, "--workers", "2")
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
            except httpx.TransportError:
                status = None
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, f"not serving (exit {process.poll()})"
    finally:
        _stop(process)
