"""The real app over real HTTP, for tests: in a thread of the test process, or as a
separate ``jifen serve`` process that a test can kill -9 and start again.

Another process reaches the test database only through a URL. On PostgreSQL each test
run keeps its tables in a schema of its own (tests/conftest.py), set as connect options
rather than in the URL; ``process_database_url`` puts that schema into the URL, so the
server and every ``jifen`` command a test runs see the same tables as the test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import make_url, text

from service.persistence.db import Database

# Generous: a 2-core machine running the suite on every core starts a server slowly.
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 10.0
# The installed ``jifen`` script, as an operator runs it (``python -m service.cli`` where
# the script is not installed).
_SCRIPT = Path(sys.executable).with_name("jifen")
JIFEN = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "service.cli"]
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


# --- in the test process ---------------------------------------------------------------


@contextmanager
def serve_in_thread(app: Any, *, timeout: float = SERVER_START_TIMEOUT_S) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread on 127.0.0.1:<free port>; yields the
    base URL and stops the server when the block ends."""
    # Bind first and hand the socket to uvicorn: the port cannot be taken in between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("the live server stopped while starting; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError(f"the live server did not start within {timeout} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_STOP_TIMEOUT_S)
        sock.close()
        assert not thread.is_alive(), "the live server did not stop within 10 s"


# --- in another process ------------------------------------------------------------------


def process_database_url(database: Database) -> str:
    """A URL with which another process opens the very tables ``database`` uses."""
    url = database.engine.url
    if url.get_backend_name() != "postgresql":
        return url.render_as_string(hide_password=False)
    with database.engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    # psycopg hands URL query parameters to libpq, which reads "options" as server
    # settings for every connection: the same effect as conftest's connect_args.
    with_schema = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return with_schema.render_as_string(hide_password=False)


def process_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a ``jifen`` process on ``database_url``: this process's, without
    any JIFEN_ setting that could point it elsewhere."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("JIFEN_")}
    env["JIFEN_DATABASE_URL"] = database_url
    env["JIFEN_ENV"] = "test"
    env.update({f"JIFEN_{key.upper()}": value for key, value in settings.items()})
    return env


def run_jifen(
    args: list[str], env: dict[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``jifen ARGS`` as an operator would: a process of its own."""
    return subprocess.run(
        [*JIFEN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """``jifen serve`` running in a process of its own; stdout and stderr go to a file."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """kill -9: no shutdown handler, no rollback, no flush; as a power cut to the app."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(SERVER_STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(env: dict[str, str], log_path: Path, *, attempts: int = 3) -> ServerProcess:
    """Start ``jifen serve`` on a free loopback port and wait until it answers."""
    for _attempt in range(attempts):
        port = _free_port()
        # Appending: a restarted server's log follows the killed one's in the same file.
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [*JIFEN, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
        if _wait_until_up(server):
            return server
        server.stop()
        # Another process may have taken the port between the probe and the bind: retry.
        if "address already in use" not in server.log().lower():
            break
    raise RuntimeError(f"jifen serve did not start; its log:\n{server.log()}")


def _wait_until_up(server: ServerProcess) -> bool:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if httpx.get(f"{server.base_url}/login", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


# --- a signed-in client over real HTTP ------------------------------------------------------


class SignedIn:
    """Someone signed in over real HTTP: the cookies (session and CSRF) and a CSRF token
    for forms, as a browser holds them. ``client()`` gives a new connection with the same
    cookies, so many threads can act as the same person at once."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.username = username
        with httpx.Client(base_url=base_url, timeout=30) as client:
            token = self._token(client, "/login")
            response = client.post(
                "/login",
                data={"username": username, "password": password, "_csrf_token": token},
                follow_redirects=False,
            )
            assert response.status_code == 303, f"{username} not signed in: {response.text}"
            self.cookies = dict(client.cookies)
            self.csrf_token = self._token(client, "/review")

    @staticmethod
    def _token(client: httpx.Client, path: str) -> str:
        page = client.get(path)
        match = CSRF_FIELD.search(page.text)
        assert match, f"no CSRF field on {path} ({page.status_code})"
        return match.group(1)

    def client(self, *, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, cookies=self.cookies, timeout=timeout)

    def post_form(
        self, client: httpx.Client, path: str, fields: dict[str, str] | None = None
    ) -> httpx.Response:
        data = {**(fields or {}), "_csrf_token": self.csrf_token}
        return client.post(path, data=data, follow_redirects=False)
