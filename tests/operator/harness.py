"""What the operator test drives: the wheel built and installed into a venv of its own,
``jifen`` run from that venv, PostgreSQL databases made for the run, ``jifen serve``
and nginx (configured from deploy/nginx/jifen.conf) as processes, and a person signed in
over HTTPS through nginx. Nothing here imports the checkout's ``service`` or ``web``:
the journey must work with what the wheel installed."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NGINX_SITE = PROJECT_ROOT / "deploy" / "nginx" / "jifen.conf"
SYSTEMD = PROJECT_ROOT / "deploy" / "systemd"
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# What the source copy leaves out: what a checkout grows, never what the wheel ships.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "var",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the package ---------------------------------------------------------------------------


@dataclass
class Installed:
    """The wheel installed into a venv outside the checkout, and how long that took."""

    venv: Path
    wheel: Path
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def jifen(self) -> Path:
        return self.venv / "bin" / "jifen"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def build_and_install(tmp: Path) -> Installed:
    """``pip wheel`` of a clean copy of the checkout (a build in place would leave build/
    in it, whose stale files a later wheel could pick up), then a fresh venv with the
    wheel and its dependencies installed as an operator installs them: not editable."""
    seconds: dict[str, float] = {}
    source = tmp / "src"
    started = time.perf_counter()
    shutil.copytree(PROJECT_ROOT, source, ignore=_NOT_SOURCE)
    dist = tmp / "dist"
    _check(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(dist),
            str(source),
        ],
        "building the wheel",
        cwd=tmp,
    )
    (wheel,) = dist.glob("jifen-*.whl")
    seconds["build wheel"] = time.perf_counter() - started
    started = time.perf_counter()
    venv = tmp / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], "creating the venv", cwd=tmp)
    _check(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            str(wheel),
        ],
        "installing the wheel",
        cwd=tmp,
    )
    seconds["venv + pip install"] = time.perf_counter() - started
    return Installed(venv, wheel, seconds)


def _check(args: list[str], what: str, *, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{what} failed:\n{done.stdout}\n{done.stderr}"


# --- PostgreSQL ----------------------------------------------------------------------------


def admin_url() -> str:
    """The server the tests use: JIFEN_TEST_DATABASE_URL when it is PostgreSQL, else the
    developers' default one."""
    url = os.environ.get("JIFEN_TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else DEFAULT_ADMIN_URL


def postgresql_problem() -> str | None:
    """Why PostgreSQL cannot be used (None: it can)."""
    engine = create_engine(admin_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"PostgreSQL at {make_url(admin_url()).render_as_string()}: {exc}"
    finally:
        engine.dispose()
    return None


@contextmanager
def postgresql_databases(*suffixes: str) -> Iterator[list[str]]:
    """New databases on the test server, one per suffix, dropped when the block ends;
    yields their URLs."""
    engine = create_engine(admin_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    stem = f"jifen_operator_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = [f"{stem}_{suffix}" for suffix in suffixes]
    try:
        with engine.connect() as connection:
            for name in names:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        base = make_url(admin_url())
        yield [base.set(database=name).render_as_string(hide_password=False) for name in names]
    finally:
        with engine.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# --- jifen ---------------------------------------------------------------------------------


def operator_env(**settings: str) -> dict[str, str]:
    """The environment of an operator's shell: nothing of the test run's JIFEN_ settings
    or venv, English messages, and ``settings`` (JIFEN_ + the upper-cased key)."""
    skip = {"VIRTUAL_ENV", "PYTHONPATH", "LANGUAGE", "LC_ALL", "LC_MESSAGES"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_") and k not in skip}
    env["LANG"] = "C.UTF-8"
    env.update({f"JIFEN_{key.upper()}": value for key, value in settings.items()})
    return env


@dataclass
class Jifen:
    """The installed ``jifen``, run in the instance folder with the operator's settings."""

    installed: Installed
    cwd: Path
    env: dict[str, str]

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.installed.jifen), *args],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run ``jifen ARGS``; it must succeed. Returns what it printed (stdout, then
        stderr, where the progress and status lines go)."""
        done = self.run(*args, env=env)
        assert done.returncode == 0, (
            f"jifen {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        return done.stdout + done.stderr

    def json(self, *args: str, env: dict[str, str] | None = None) -> object:
        """Run ``jifen ARGS`` (a --json command); it must succeed. Returns its JSON."""
        done = self.run(*args, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def python(self, code: str) -> str:
        """Run ``code`` with the venv's Python and the installed package (no checkout)."""
        done = subprocess.run(
            [str(self.installed.python), "-c", code],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"python -c failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout


@dataclass
class Process:
    """A server process whose output goes to a file; stopped by ``stop``."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def start_process(
    name: str, args: list[str], *, cwd: Path, env: dict[str, str], log_path: Path, probe: str
) -> Process:
    """Start ``args`` and wait until a GET of ``probe`` (plain HTTP) answers at all."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    started = Process(name, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited {process.returncode}:\n{started.log()}")
        try:
            httpx.get(probe, timeout=2)
            return started
        except httpx.TransportError:
            time.sleep(0.2)
    started.stop()
    raise AssertionError(f"{name} did not answer {probe} in {START_TIMEOUT_S} s:\n{started.log()}")


# --- systemd ---------------------------------------------------------------------------


def unit_command(unit: str, replacements: dict[str, str]) -> list[str]:
    """The ExecStart command of the shipped ``deploy/systemd/UNIT``, with the unit's own
    escapes undone (%% is %) and each of ``replacements`` (an installed path for the
    shipped one) made; each must be found, so the unit and the test cannot drift apart."""
    text = (SYSTEMD / unit).read_text(encoding="utf-8")
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    command = line.removeprefix("ExecStart=").replace("%%", "%")
    for old, new in replacements.items():
        assert old in command, f"deploy/systemd/{unit} no longer runs {old!r}: {command}"
        command = command.replace(old, new)
    return shlex.split(command)


# --- nginx ---------------------------------------------------------------------------------


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, made with openssl."""
    cert, key = folder / "localhost.crt", folder / "localhost.key"
    openssl = shutil.which("openssl")
    assert openssl, "openssl is not installed"
    done = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return cert, key


@dataclass(frozen=True)
class NginxPorts:
    http: int
    https: int
    upstream: int


# The site as shipped, adapted to a test run: each pattern must be found in the shipped
# file, so a change there that the test no longer covers fails here instead.
def nginx_site(site: str, folder: Path, ports: NginxPorts, cert: Path, key: Path) -> str:
    replacements = [
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{ports.upstream};"),
        (r"listen 80;", f"listen 127.0.0.1:{ports.http};"),
        (r"listen \[::\]:80;\n", ""),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{ports.https} ssl;"),
        (r"listen \[::\]:443 ssl http2;\n", ""),
        (r"server_name jifen\.example\.org;", "server_name localhost;"),
        (
            r"return 301 https://\$host\$request_uri;",
            f"return 301 https://$host:{ports.https}$request_uri;",
        ),
        (r"ssl_certificate\s+/etc/letsencrypt/\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key\s+/etc/letsencrypt/\S+;", f"ssl_certificate_key {key};"),
        (
            r"access_log\s+/var/log/nginx/jifen\.access\.log jifen;",
            f"access_log {folder / 'access.log'} jifen;",
        ),
        (r"error_log\s+/var/log/nginx/jifen\.error\.log;", f"error_log {folder / 'error.log'};"),
        (r"root /var/www/html;", f"root {folder / 'www'};"),
        # nginx reaches Jifen from another loopback address than the client's: the
        # socket's peer is then 127.0.0.2, the client's real address 127.0.0.1 only in
        # X-Forwarded-For, and the test can tell which of the two Jifen used.
        (r"proxy_pass http://jifen;", "proxy_pass http://jifen;\n        proxy_bind 127.0.0.2;"),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement.replace("\\", "\\\\"), site)
        # server_name: the plain-HTTP server and the TLS one.
        expected = 2 if pattern.startswith("server_name") else 1
        assert count == expected, f"deploy/nginx/jifen.conf no longer has {pattern!r}"
    return site


def nginx_config(folder: Path, ports: NginxPorts, cert: Path, key: Path) -> Path:
    """A whole nginx.conf around the shipped site, every path under ``folder``."""
    for name in ("www", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / name).mkdir(exist_ok=True)
    site = nginx_site(NGINX_SITE.read_text(encoding="utf-8"), folder, ports, cert, key)
    # As root nginx's workers would run as nobody, who cannot enter pytest's 0700 folders.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(
        f"""{user}daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {folder / "client_body"};
    proxy_temp_path {folder / "proxy"};
    fastcgi_temp_path {folder / "fastcgi"};
    uwsgi_temp_path {folder / "uwsgi"};
    scgi_temp_path {folder / "scgi"};
{site}
}}
""",
        encoding="utf-8",
    )
    return config


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None
    )


# --- a person at a browser -----------------------------------------------------------------


class Person:
    """Someone at a browser over HTTPS through nginx: cookies kept, forms posted with the
    CSRF token of the page they are on."""

    def __init__(self, base_url: str, cert: Path) -> None:
        context = ssl.create_default_context(cafile=str(cert))
        self.client = httpx.Client(base_url=base_url, verify=context, timeout=60)

    def close(self) -> None:
        self.client.close()

    def token(self, page: str) -> str:
        response = self.client.get(page)
        match = CSRF_FIELD.search(response.text)
        assert match, f"no CSRF field on {page} ({response.status_code})"
        return match.group(1)

    def submit(self, page: str, action: str, fields: dict[str, str]) -> httpx.Response:
        data = {**fields, "_csrf_token": self.token(page)}
        return self.client.post(action, data=data, follow_redirects=False)

    def sign_in_first_time(self, username: str, initial: str, new: str) -> None:
        """Sign in with the office's one-time password, then choose a new one (no page
        opens before that)."""
        signed = self.submit("/login", "/login", {"username": username, "password": initial})
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"].startswith("/account/password"), signed.headers
        changed = self.submit(
            "/account/password",
            "/account/password",
            {"current": initial, "new": new, "confirmation": new},
        )
        assert changed.status_code == 303, changed.text
        home = self.client.get("/")
        assert home.status_code == 200 and "/login" not in str(home.url)
