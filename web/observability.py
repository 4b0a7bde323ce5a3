"""What an operator sees of each request: its id (``X-Request-ID``), one access log line
and the request metrics (/metrics, web/ops).

``Observed`` wraps the whole Litestar app (``app.asgi_handler``), not a route's
middleware stack: Litestar runs middleware only for matched routes, and a 404, a 405
or a refused Host must be counted and logged like any other request.

Request metrics live in prometheus-client's objects. Several uvicorn workers each count
their own requests; with ``PROMETHEUS_MULTIPROC_DIR`` set (``jifen serve`` sets it)
every worker writes its values to files there and a scrape of any worker sums them all.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from service.kernel.logs import MULTIPROCESS_DIR, REQUEST_ID
from web.auth import client_address

access_log = logging.getLogger("jifen.access")
REQUEST_ID_HEADER = "X-Request-ID"
# An id a proxy hands in is taken only when it looks like an id (nginx's $request_id,
# a UUID): it is written into every log line, so no spaces, quotes or control bytes.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# The route label of a request that matched no route: never the path itself, which
# anyone can vary to make endless label values.
UNMATCHED = "<unmatched>"
# Seconds; from a cached page to a slow export.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def request_id_of(scope: Scope, *, trust_proxy: bool) -> str:
    """The proxy's ``X-Request-ID`` behind a trusted proxy (so its log and ours name a
    request the same way), else a new one: a client's own id could impersonate
    another request in the log."""
    if trust_proxy:
        for key, value in scope.get("headers", []):
            if key == b"x-request-id":
                candidate = value.decode("latin-1").strip()
                if SANE_REQUEST_ID.fullmatch(candidate):
                    return candidate
    return uuid.uuid4().hex


class RequestMetrics:
    """The request counter and latency histogram of one app. Without a multiprocess
    directory they live in the app's own registry (tests build many apps in one
    process); with one, in its files."""

    def __init__(self) -> None:
        self.directory = os.environ.get(MULTIPROCESS_DIR) or None
        self.registry = CollectorRegistry()
        own = None if self.directory else self.registry
        self.requests = Counter(
            "jifen_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "jifen_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The request metrics in Prometheus text format (every worker's, summed)."""
        if self.directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def process_ended(self) -> None:
        """This worker stops: its live gauges are dropped from the sums (its counters
        stay, as Prometheus expects of counters)."""
        if self.directory is not None:
            mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]


class Observed:
    """Gives each HTTP request an id (in the ``X-Request-ID`` response header and in
    every log line while it is served), then writes its access log line and counts
    it in the request metrics."""

    def __init__(self, app: ASGIApp, *, trust_proxy: bool, metrics: RequestMetrics) -> None:
        self.app = app
        self.trust_proxy = trust_proxy
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope, trust_proxy=self.trust_proxy)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self._record(scope, request_id, status, time.perf_counter() - started)
            finally:
                REQUEST_ID.reset(token)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = scope.get("path_template") or UNMATCHED
        method = str(scope.get("method", ""))
        self.metrics.observe(method, route, status, seconds)
        principal: Any = scope.get("user")
        account = getattr(principal, "username", None)
        client = client_address(scope, trust_proxy=self.trust_proxy)
        duration_ms = round(seconds * 1000, 1)
        # The path without its query string: query values can be search terms (a
        # member's name, an ID number), which have no place in a log.
        path = scope["path"]
        # A decoded path may hold a newline (%0A): escaped in the text line, so no
        # request can write a log line of its own (the JSON format escapes by itself).
        shown = path if path.isprintable() else path.encode("unicode_escape").decode("ascii")
        access_log.info(
            '%s %s "%s %s" %s %sms',
            client or "-",
            account or "-",
            method,
            shown,
            status,
            duration_ms,
            extra={
                "request_id": request_id,
                "client": client or None,
                "account": account,
                "method": method,
                "path": path,
                "route": None if route == UNMATCHED else route,
                "status": status,
                "duration_ms": duration_ms,
            },
        )
