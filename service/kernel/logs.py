"""How the processes log: plain lines for a terminal (``make run``), or one JSON object
per line for a log collector (``JIFEN_LOG_FORMAT=json``), at ``JIFEN_LOG_LEVEL``.

Standard library logging throughout: Jifen's loggers ("jifen", "jifen.access", ...) and
the server's (uvicorn) share one handler, so a collector reads one format. The request
being served is known through a context variable (set by the web layer for each
request), so every line logged while serving it, errors included, carries its id.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from service.kernel.config import Settings

# Where the workers of one server keep their request metrics (prometheus-client's
# multiprocess mode): set by ``jifen serve`` before any worker starts.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# The id of the request being served in this context (None outside a request).
REQUEST_ID: ContextVar[str | None] = ContextVar("jifen_request_id", default=None)

# The attributes every LogRecord has: anything else on a record came as ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class RequestIdFilter(logging.Filter):
    """Gives each record the id of the request it was logged for (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, process
    id, the record's extra fields (request_id, client, status ...) and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            # Which worker: several write to one stream.
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in data:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii=False: a branch's name stays readable; json escapes newlines, so
        # a value can never start a line of its own.
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Time, level, logger, the request id (or "-") and the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server process and its workers (uvicorn
    applies it in each worker it starts): Jifen's loggers and uvicorn's through one
    handler on standard error. uvicorn's access log is left off; Jifen writes its own
    line per request (web/observability.py)."""
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    handler = ["default"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"jifen": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "jifen",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "jifen": {"handlers": handler, "level": settings.log_level, "propagate": False},
            "uvicorn": {"handlers": handler, "level": settings.log_level, "propagate": False},
            "uvicorn.error": {"level": settings.log_level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": handler, "level": "WARNING"},
    }


def configure_unless_configured(settings: Settings) -> None:
    """Apply ``logging_config`` in a process that has set up no logging at all (the app
    served by uvicorn without ``jifen serve``); leave alone one that has (``jifen
    serve`` did, or a test captures the log)."""
    if logging.getLogger().handlers or logging.getLogger("jifen").handlers:
        return
    logging.config.dictConfig(logging_config(settings))
