"""HTTP scenarios (2, 5): the real server (uvicorn, N workers) on loopback under wrk, the
board pages against a trivial page of the same app, and the workers' memory."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from service.kernel.config import PROJECT_ROOT

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"


@dataclass(frozen=True)
class Load:
    """One wrk run: requests per second and latency percentiles in milliseconds."""

    path: str
    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    errors: int
    non_2xx: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    workers: int
    peaks: dict[int, int] = field(default_factory=dict)  # pid -> peak RSS in kB

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        if self.workers == 1:
            return [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            pids = [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []
        # uvicorn's supervisor also starts a resource tracker: keep the server workers.
        return [pid for pid in pids if "uvicorn" in _cmdline(pid) or "spawn_main" in _cmdline(pid)]

    def rss_kb(self) -> dict[int, int]:
        return {pid: _status_kb(pid, "VmRSS") for pid in self.worker_pids()}

    def hwm_kb(self) -> dict[int, int]:
        return {pid: _status_kb(pid, "VmHWM") for pid in self.worker_pids()}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("JIFEN_")}
    env.update(
        JIFEN_DATABASE_URL=url,
        JIFEN_ENV="production",
        JIFEN_SECRET_KEY=secrets.token_urlsafe(32),
        JIFEN_PUBLIC_URL="https://jifen.bench.example",
        JIFEN_UPLOAD_DIR=str(Path("/tmp") / "jifen-bench-uploads"),  # noqa: S108
        PYTHONPATH=str(PROJECT_ROOT),
    )
    return env


@contextmanager
def running_server(url: str, workers: int) -> Iterator[Server]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=server_env(url))
    server = Server(process, port, workers)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server stopped (exit {process.returncode})")
            try:
                with urllib.request.urlopen(f"{server.base}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200 and len(server.worker_pids()) >= workers:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fetch(server: Server, path: str, cookie: str) -> tuple[int, str]:
    request = urllib.request.Request(f"{server.base}{path}", headers={"Cookie": cookie})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", errors="replace")


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _cpu_ticks(pids: list[int]) -> int:
    """User and system CPU time of the processes, in clock ticks (1/100 s)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def wait_until_idle(server: Server, *, limit: float = 120.0, interval: float = 0.5) -> float:
    """Wait until the workers use (almost) no CPU; the seconds waited.

    When wrk stops, the requests already queued on the server are still answered: a slow
    page's backlog (tens of seconds of work) would otherwise be paid by the next page
    measured. Before this wait, a page measured straight after a slow one showed 0 req/s
    while it made 143 req/s alone (bench/README.md)."""
    pids = server.worker_pids()
    started = time.monotonic()
    last = _cpu_ticks(pids)
    while time.monotonic() - started < limit:
        time.sleep(interval)
        now = _cpu_ticks(pids)
        if now - last <= 5 * interval:  # under 5 % of a core
            break
        last = now
    return time.monotonic() - started


def wrk(
    server: Server, path: str, cookie: str, *, connections: int, duration: float, threads: int = 2
) -> Load:
    if not have_wrk():
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    wait_until_idle(server)
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--timeout", "30s", "-s", str(WRK_SCRIPT), "-H", f"Cookie: {cookie}",
        f"{server.base}{path}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{"))
    data = json.loads(line)
    if not data["requests"]:
        # Not one answer within the run: latency is at least the run's length.
        data["p50"] = data["p95"] = data["p99"] = round(duration * 1e6)
    return Load(
        path=path,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50=data["p50"] / 1000,
        p95=data["p95"] / 1000,
        p99=data["p99"] / 1000,
        errors=data["errors"],
        non_2xx=data["non2xx"],
    )


class MemoryWatch:
    """Samples the workers' resident memory while a load runs."""

    def __init__(self, server: Server, interval: float = 0.25) -> None:
        self.server = server
        self.interval = interval
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid, kb in self.server.rss_kb().items():
                self.peak[pid] = max(self.peak.get(pid, 0), kb)
            self._stop.wait(self.interval)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        # VmHWM: the peak the kernel saw, between samples too.
        for pid, kb in self.server.hwm_kb().items():
            self.peak[pid] = max(self.peak.get(pid, 0), kb)
