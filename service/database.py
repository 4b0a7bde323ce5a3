"""Opening the database: the one way in for the web app, the ``jifen`` command, the
benchmark and the tests, so every session keeps the audit log and the board totals.

The hooks are the domain's (service/audit, service/boards); the ``Database`` installs
them on the session factories it makes. Nothing is installed by importing a module.
"""

from __future__ import annotations

from typing import Any

from service.audit import capture
from service.boards import roster_hooks
from service.persistence.db import Database, SessionHook

SESSION_HOOKS: tuple[SessionHook, ...] = (capture.install, roster_hooks.install)


def open_database(url: str, **kwargs: Any) -> Database:
    """The database at ``url`` with every session hook of the domain; ``kwargs`` go to
    SQLAlchemy's ``create_engine`` (e.g. ``connect_args``)."""
    return Database.from_url(url, hooks=SESSION_HOOKS, **kwargs)
