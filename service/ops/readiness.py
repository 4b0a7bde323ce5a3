"""Whether this instance can serve requests: the database answers, its schema is the one
this release's code expects, the scoring rules load, and the upload folders take files.

One function (``readiness``) answers for both askers: ``GET /readyz`` (a load balancer
or an orchestrator takes the process out of service while it is not ready) and
``jifen serve``, which refuses to start workers on an instance that is not ready and
names each failed check. The details are messages: English in /readyz, the terminal's
language on the command line.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from service.kernel.config import Settings
from service.kernel.files import UnsafeDirectory, owned_private_directory, private_directory
from service.kernel.i18n import N_, Message
from service.ledger.adoption import rulebook_in_force as adopted_rulebook
from service.persistence.db import Database
from service.persistence.migrate import head_revision, revision_chain, revision_of
from service.scoring.rules import Rulebook, RulesError

CHECK_NAMES = ("database", "schema", "rules", "uploads")


@dataclass(frozen=True)
class Check:
    """One check: passed or not, and what was found (why it failed, or what it saw).
    ``problems`` lists the rule files' problems one by one (file, rule, field)."""

    ok: bool
    detail: Message
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    @property
    def failed(self) -> dict[str, Check]:
        return {name: check for name, check in self.checks.items() if not check.ok}

    def as_json(self) -> dict[str, Any]:
        """The body of /readyz (details in English: they are for operators' tools)."""
        return {
            "ready": self.ready,
            "checks": {
                name: {"ok": check.ok, "detail": str(check.detail)}
                for name, check in self.checks.items()
            },
        }


def rulebook_in_force(settings: Settings, database: Database | None = None) -> Rulebook:
    """The rulebook the instance scores with (RulesError names each problem): the rules
    folder's files, plus the versions adopted on the web when the database can be read
    (a file contradicting an adopted version is a problem too)."""
    files = Rulebook.from_directory(settings.rules_dir)
    if database is None:
        return files
    with database.transaction(write=False) as session:
        return adopted_rulebook(session, files)


def readiness(settings: Settings, database: Database) -> Readiness:
    """Run every check; none raises (a failure is a check that did not pass)."""
    database_check, revision = _database(database)
    schema_check = _schema(revision) if database_check.ok else _not_checked()
    return Readiness(
        checks={
            "database": database_check,
            "schema": schema_check,
            # The adopted versions are read only from a schema that has their table.
            "rules": _rules(settings, database if schema_check.ok else None),
            "uploads": _uploads(settings),
        }
    )


def _not_checked() -> Check:
    return Check(False, Message(N_("not checked: the database cannot be reached")))


def _database(database: Database) -> tuple[Check, str | None]:
    try:
        with database.transaction(write=False) as session:
            revision = revision_of(session.connection())
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0:1]
        return Check(
            False,
            Message(
                N_("cannot reach the database: %(reason)s"),
                {"reason": reason[0] if reason else type(exc).__name__},
            ),
        ), None
    return Check(True, Message(N_("the database answers"))), revision


def schema_message(revision: str | None) -> Message | None:
    """Why a database at ``revision`` cannot be served by this release, with the fix
    (None: it can)."""
    head = head_revision()
    if revision == head:
        return None
    if revision is None:
        return Message(N_("the database has no schema yet: run 'jifen db upgrade' first"))
    if revision in revision_chain():
        return Message(
            N_(
                "the database schema is at revision %(revision)s, this release needs "
                "%(head)s: run 'jifen db upgrade' first"
            ),
            {"revision": revision, "head": head},
        )
    return Message(
        N_(
            "the database schema is at revision %(revision)s, which this release does not "
            "know (made by a newer release?): serve it with that release"
        ),
        {"revision": revision},
    )


def _schema(revision: str | None) -> Check:
    problem = schema_message(revision)
    if problem is not None:
        return Check(False, problem)
    return Check(True, Message(N_("at revision %(revision)s"), {"revision": revision}))


def _rules(settings: Settings, database: Database | None) -> Check:
    try:
        rulebook = rulebook_in_force(settings, database)
    except RulesError as exc:
        return Check(
            False,
            Message(
                N_("the scoring rules in %(directory)s are invalid: %(problems)s"),
                {"directory": str(settings.rules_dir), "problems": "; ".join(exc.problems)},
            ),
            problems=tuple(exc.problems),
        )
    except (OSError, SQLAlchemyError) as exc:
        return Check(
            False,
            Message(
                N_("the scoring rules in %(directory)s cannot be read: %(reason)s"),
                {"directory": str(settings.rules_dir), "reason": exc},
            ),
        )
    versions = ", ".join(ruleset.version for ruleset in rulebook.rulesets)
    return Check(True, Message(N_("rulesets %(versions)s"), {"versions": versions}))


def _uploads(settings: Settings) -> Check:
    """Both upload folders exist (made if missing, as their users would) and take a
    file; the roster folder also belongs to this user alone."""
    for setting, directory, owned in (
        ("JIFEN_UPLOAD_DIR", settings.upload_dir, False),
        ("JIFEN_ROSTER_UPLOAD_DIR", settings.roster_upload_dir, True),
    ):
        try:
            if owned:
                owned_private_directory(directory)
            else:
                private_directory(directory)
            _probe_write(directory)
        except (UnsafeDirectory, OSError) as exc:
            return Check(
                False,
                Message(
                    N_("%(setting)s cannot hold uploads: %(reason)s"),
                    {"setting": setting, "reason": exc},
                ),
            )
    return Check(True, Message(N_("the upload folders take files")))


def _probe_write(directory: Path) -> None:
    """Write and remove a file in ``directory`` (OSError when that fails): asking the
    file system is the only sure answer (a read-only mount, a full disk, root's view)."""
    descriptor, name = tempfile.mkstemp(prefix=".ready-", dir=directory)
    try:
        os.write(descriptor, b"ok")
    finally:
        os.close(descriptor)
        os.unlink(name)
