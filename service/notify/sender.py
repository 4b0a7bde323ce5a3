"""The sender: delivers the outbox (``jifen notify run``, once or in a loop).

One pass first runs the ``before`` steps (the reminder sweeps, the weekly digests), each
in a write transaction of its own, then claims due deliveries in batches and delivers
each one:

1. Claim (a write transaction): the due rows get ``claimed_by`` (this worker) and a lease
   (``claimed_until``). On PostgreSQL the rows are picked with ``FOR UPDATE SKIP
   LOCKED``, so parallel senders take disjoint batches without waiting on each other; on
   SQLite a write transaction is ``BEGIN IMMEDIATE`` (service/persistence/db.py), so
   claims are serialised and a row is never claimed twice: a single claimant at a time.
2. Quiet hours: an email waits for the end of its recipient's quiet hours, a robot post
   for the town's; a held delivery gets ``not_before`` and its claim back, no attempt.
3. Deliver outside any write transaction (the channel reads in a read session).
4. Record the result (a write transaction), only if this worker still holds the claim:
   SENT; a failure with exponential backoff, DEAD at the attempt limit (or at once when
   the failure is permanent); SKIPPED when there is nobody to send to.

A sender killed between sending and recording leaves its claim to expire; the next claim
of that row passes ``possible_repeat`` to the channel, which says so in the message
with the same idempotency key: at most the message in flight is sent twice, none is lost.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service.kernel.config import Settings
from service.notify import robots
from service.notify.account_settings import quiet_span
from service.notify.channels import Deliver, DeliveryFailed, NothingToSend, SendContext, mask_url
from service.notify.quiet import parse_span, release_time
from service.persistence.db import Database
from service.persistence.notify import Channel, Delivery, DeliveryStatus, NotifySettings
from service.persistence.types import utcnow

logger = logging.getLogger("jifen.notify")

# A step run before the deliveries: (session, settings, now) -> how many rows it wrote.
Before = Callable[[Session, Settings, datetime], int]

MAX_BACKOFF = timedelta(days=1)
ERROR_LENGTH = 500
_URL = re.compile(r"https?://\S+")


def _email_deliver(session: Session, delivery: Delivery, context: SendContext) -> str:
    # Looked up at each call: the email channel is another module's, filled in later.
    from service.notify import email

    return email.deliver(session, delivery, context)


CHANNELS: dict[Channel, Deliver] = {
    Channel.EMAIL: _email_deliver,
    Channel.WECOM: robots.deliver,
    Channel.DINGTALK: robots.deliver,
}


def worker_id() -> str:
    """This sender's name on its claims: host, process and a random part (two senders
    in one process are two workers)."""
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(0)
    url = found.rstrip(".,:;)]}'\"")
    tail = found[len(url) :]
    if url.partition("?")[2].startswith("…"):  # masked already (a channel's own error)
        return found
    return mask_url(url) + tail


def scrub(text: str) -> str:
    """An error as it may be stored and shown: every URL masked, and not too long."""
    return _URL.sub(_mask_match, text)[:ERROR_LENGTH]


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: doubling, at most a day."""
    seconds = settings.notify_backoff_seconds * 2 ** max(0, attempts - 1)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


@dataclass
class RunReport:
    """What one pass did (its log line and the command's answer)."""

    before: dict[str, int] = field(default_factory=dict)
    claimed: int = 0
    sent: int = 0
    retrying: int = 0  # failed, another attempt is scheduled
    dead: int = 0
    skipped: int = 0
    held: int = 0  # quiet hours
    lost: int = 0  # the claim expired and another sender took the row meanwhile
    released: int = 0  # claimed, then given back unsent because the sender was stopped

    def line(self) -> str:
        steps = " ".join(f"{name}={count}" for name, count in self.before.items())
        counts = (
            f"claimed={self.claimed} sent={self.sent} retrying={self.retrying} "
            f"dead={self.dead} skipped={self.skipped} held={self.held} lost={self.lost} "
            f"released={self.released}"
        )
        return f"{steps} {counts}".strip()


@dataclass(frozen=True)
class _Claim:
    id: int
    possible_repeat: bool


class _Pass:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        now: datetime | None,
        worker: str,
        channels: Mapping[Channel, Deliver],
        stop: threading.Event | None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.fixed_now = now
        self.worker = worker
        self.channels = channels
        self.stop = stop
        self.zone = ZoneInfo(settings.timezone)
        self.lease = timedelta(seconds=settings.notify_lease_seconds)
        self.report = RunReport()

    def now(self) -> datetime:
        return self.fixed_now or utcnow()

    def run_before(self, before: Sequence[Before]) -> None:
        for step in before:
            name = getattr(step, "__name__", repr(step))
            try:
                with self.database.transaction() as session:
                    self.report.before[name] = int(step(session, self.settings, self.now()))
            except Exception:
                # A failing sweep must not stop the outbox from being delivered.
                logger.exception("notify: %s failed", name)
                self.report.before[name] = -1

    def claim(self) -> list[_Claim]:
        now = self.now()
        with self.database.transaction() as session:
            query = (
                select(Delivery.id, Delivery.claimed_by)
                .where(
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.channel != Channel.DIGEST,
                    Delivery.not_before <= now,
                    Delivery.next_attempt_at <= now,
                    or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
                )
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(self.settings.notify_batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if not rows:
                return []
            ids = [row.id for row in rows]
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(claimed_by=self.worker, claimed_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
        self.report.claimed += len(rows)
        # A row claimed before whose claim ran out without a result: its sender may have
        # sent it and died before recording so.
        return [_Claim(row.id, row.claimed_by is not None) for row in rows]

    def _finish(self, delivery_id: int, **values: object) -> bool:
        """Write ``values`` to the delivery if this worker still holds its claim."""
        with self.database.transaction() as session:
            result = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.claimed_by == self.worker,
                    Delivery.status == DeliveryStatus.PENDING,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            done = bool(result.rowcount)  # type: ignore[attr-defined]
        if not done:
            self.report.lost += 1
        return done

    def release(self, claims: Sequence[_Claim]) -> None:
        """Give claims back unsent (the sender is stopping); a possible repeat stays
        one (claimed_by kept, lease ended)."""
        for claim in claims:
            values: dict[str, object] = {"claimed_until": None}
            if not claim.possible_repeat:
                values["claimed_by"] = None
            if self._finish(claim.id, **values):
                self.report.released += 1

    def held_until(self, session: Session, delivery: Delivery, now: datetime) -> datetime:
        if delivery.channel == Channel.EMAIL and delivery.account_id is not None:
            row = session.get(NotifySettings, delivery.account_id)
            start, end = quiet_span(row, self.settings)
        else:
            start, end = parse_span(self.settings.quiet_hours)
        return release_time(now, start, end, self.zone)

    def deliver(self, claim: _Claim) -> None:
        now = self.now()
        with self.database.transaction(write=False) as session:
            delivery = session.get(Delivery, claim.id)
            if delivery is None:
                return
            attempts = delivery.attempts
            release = self.held_until(session, delivery, now)
            outcome = None
            if release <= now:
                context = SendContext(self.settings, now, claim.possible_repeat)
                channel = self.channels.get(delivery.channel)
                outcome = self._send(session, delivery, context, channel)
        if outcome is not None:
            self._record(claim.id, attempts, outcome)
            return
        # Quiet hours: back to the queue until they end; no attempt is counted.
        hold: dict[str, object] = {"not_before": release, "claimed_until": None}
        if not claim.possible_repeat:
            hold["claimed_by"] = None
        if self._finish(claim.id, **hold):
            self.report.held += 1

    def _send(
        self,
        session: Session,
        delivery: Delivery,
        context: SendContext,
        channel: Deliver | None,
    ) -> tuple[str, str, bool]:
        """("sent", address) / ("failed", error, permanent) / ("skipped", reason)."""
        if channel is None:
            return ("failed", f"no channel for {delivery.channel}", True)
        try:
            address = channel(session, delivery, context)
        except NothingToSend as exc:
            return ("skipped", scrub(str(exc)), False)
        except DeliveryFailed as exc:
            return ("failed", scrub(str(exc)), exc.permanent)
        except Exception as exc:
            # A bug in a channel fails this delivery (retried), never the batch. The log
            # names the exception, not its message, which might hold a URL.
            logger.error("notify: delivery %s: %s", delivery.id, type(exc).__name__)
            # The channel may have left the read transaction aborted (PostgreSQL).
            session.rollback()
            return self._fault(exc)
        return ("sent", scrub(address), False)

    def _record(self, delivery_id: int, attempts: int, outcome: tuple[str, str, bool]) -> None:
        state, text, permanent = outcome
        now = self.now()
        cleared: dict[str, object] = {"claimed_by": None, "claimed_until": None}
        if state == "sent":
            if self._finish(
                delivery_id, status=DeliveryStatus.SENT, sent_at=now, address=text, **cleared
            ):
                self.report.sent += 1
            return
        if state == "skipped":
            if self._finish(delivery_id, status=DeliveryStatus.SKIPPED, last_error=text, **cleared):
                self.report.skipped += 1
            return
        tried = attempts + 1
        if permanent or tried >= self.settings.notify_max_attempts:
            if self._finish(
                delivery_id,
                status=DeliveryStatus.DEAD,
                attempts=tried,
                last_error=text,
                next_attempt_at=now,
                **cleared,
            ):
                self.report.dead += 1
                logger.warning("notify: delivery %s is dead after %d attempts", delivery_id, tried)
            return
        if self._finish(
            delivery_id,
            attempts=tried,
            last_error=text,
            next_attempt_at=now + backoff(self.settings, tried),
            **cleared,
        ):
            self.report.retrying += 1

    def deliveries(self) -> None:
        while True:
            claims = self.claim()
            if not claims:
                return
            for index, claim in enumerate(claims):
                if self.stop is not None and self.stop.is_set():
                    self.release(claims[index:])
                    return
                try:
                    self.deliver(claim)
                except Exception as exc:
                    # Whatever went wrong with this one (a channel that broke its read
                    # session), the rest of the batch still goes out.
                    logger.error("notify: delivery %s failed: %s", claim.id, type(exc).__name__)
                    self._record(claim.id, self._attempts(claim.id), self._fault(exc))

    def _attempts(self, delivery_id: int) -> int:
        with self.database.transaction(write=False) as session:
            found = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id))
            return int(found or 0)

    @staticmethod
    def _fault(exc: Exception) -> tuple[str, str, bool]:
        return ("failed", scrub(f"{type(exc).__name__}: {exc}"), False)


def run_once(
    database: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    worker: str | None = None,
    before: Sequence[Before] = (),
    channels: Mapping[Channel, Deliver] | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """One pass: the ``before`` steps, then every due delivery, batch after batch, until
    none is due. ``now`` fixes the clock (tests); ``stop`` ends the pass early, giving
    back the claims not yet delivered."""
    work = _Pass(
        database,
        settings,
        now=now,
        worker=worker or worker_id(),
        channels=CHANNELS if channels is None else channels,
        stop=stop,
    )
    work.run_before(before)
    work.deliveries()
    logger.info("notify pass: %s", work.report.line())
    return work.report


def run_loop(
    database: Database,
    settings: Settings,
    *,
    interval: float,
    stop_event: threading.Event,
    before: Sequence[Before] = (),
    channels: Mapping[Channel, Deliver] | None = None,
) -> int:
    """Pass after pass, ``interval`` seconds apart, until ``stop_event`` is set (the
    pass in progress stops after the delivery in flight). Returns the passes made."""
    worker = worker_id()
    passes = 0
    while not stop_event.is_set():
        try:
            run_once(
                database, settings, worker=worker, before=before, channels=channels, stop=stop_event
            )
        except Exception:
            # The database away for a moment must not end the worker: try again later.
            logger.exception("notify: the pass failed")
        passes += 1
        stop_event.wait(interval)
    return passes
