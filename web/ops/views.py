"""/healthz, /readyz and /metrics.

/healthz says only that the process answers (a liveness probe restarts a process that
does not; a database outage must not make it restart every worker). /readyz runs the
checks ``jifen serve`` runs before it starts (service/ops/readiness.py) and answers
503 while one fails, so a load balancer sends no requests to an instance that cannot
serve them. /metrics is for a Prometheus server: loopback (or JIFEN_METRICS_ALLOW) or
the bearer token of JIFEN_METRICS_TOKEN; anyone else gets the 404 of an address that
does not exist, so the endpoint is not advertised.
"""

from __future__ import annotations

from datetime import datetime
from hmac import compare_digest
from ipaddress import ip_address
from typing import Any

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from service.kernel.config import Settings
from service.ops.metrics import OpsCounts, ops_counts
from service.ops.readiness import readiness
from service.persistence.db import Database
from web.auth import client_address
from web.observability import RequestMetrics

AnyRequest = Request[Any, Any, Any]


class OpsController(Controller):
    path = ""

    @get("/healthz", sync_to_thread=False, include_in_schema=False)
    def health(self) -> dict[str, str]:
        """Alive: this process answers HTTP. Touches no database on purpose."""
        return {"status": "ok"}

    @get("/readyz", sync_to_thread=True, include_in_schema=False)
    def ready(self, request: AnyRequest) -> Response[dict[str, Any]]:
        state = request.app.state
        found = readiness(state.settings, state.database)
        return Response(
            found.as_json(),
            status_code=HTTP_200_OK if found.ready else HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Cache-Control": "no-store"},
        )

    @get("/metrics", sync_to_thread=True, include_in_schema=False)
    def metrics(self, request: AnyRequest) -> Response[bytes]:
        settings: Settings = request.app.state.settings
        if not metrics_allowed(request, settings):
            raise NotFoundException()
        request_metrics: RequestMetrics = request.app.state.metrics
        body = request_metrics.exposition() + town_metrics(request.app.state.database)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def metrics_allowed(request: AnyRequest, settings: Settings) -> bool:
    """From an allowed network (the real client behind a trusted proxy), or with the
    metrics token (compared in constant time)."""
    authorization = request.headers.get("authorization", "")
    scheme, _sep, credentials = authorization.partition(" ")
    token = settings.metrics_token.encode()
    if token and scheme.lower() == "bearer" and compare_digest(credentials.strip().encode(), token):
        return True
    address = client_address(request.scope, trust_proxy=settings.trusted_proxy)
    try:
        client = ip_address(address)
    except ValueError:  # no address (a test client, a Unix socket): not allowed
        return False
    return any(client in network for network in settings.metrics_allow)


class TownCollector(Collector):
    """The town's numbers of one scrape (service/ops/metrics.py), or only
    ``jifen_database_up 0`` when the database does not answer."""

    def __init__(self, counts: OpsCounts | None) -> None:
        self.counts = counts

    def collect(self) -> Any:
        yield GaugeMetricFamily(
            "jifen_database_up",
            "1 when the database answered this scrape.",
            value=int(self.counts is not None),
        )
        counts = self.counts
        if counts is None:
            return
        yield GaugeMetricFamily(
            "jifen_entries_pending", "Entries waiting for review.", value=counts.entries_pending
        )
        yield GaugeMetricFamily(
            "jifen_entries_approved",
            "Entries approved (and not revoked since).",
            value=counts.entries_approved,
        )
        yield CounterMetricFamily(
            "jifen_sign_in_failures",
            "Failed sign-ins, from the audit log.",
            value=counts.sign_in_failures,
        )
        if counts.last_publication_at is not None:
            yield GaugeMetricFamily(
                "jifen_last_publication_timestamp_seconds",
                "When a board was last published (or corrected), Unix time.",
                value=_unix(counts.last_publication_at),
            )


def _unix(moment: datetime) -> float:
    return moment.timestamp()


def town_metrics(database: Database) -> bytes:
    counts: OpsCounts | None
    try:
        with database.transaction(write=False) as session:
            counts = ops_counts(session)
    except SQLAlchemyError:
        counts = None
    registry = CollectorRegistry()
    registry.register(TownCollector(counts))
    return generate_latest(registry)
