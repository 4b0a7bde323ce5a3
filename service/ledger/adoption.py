"""The rulebook in force: the rules folder's files plus the versions the office adopted
on the web, and adopting one.

One function builds the rulebook for every way in (``rulebook_in_force``): the web app
(through ``RulebookCache``, which reloads when an adoption changed the table), the
``jifen`` command (``load_rulebook`` in service/cli/common.py), scoring, publishing and
``jifen ledger verify``. A version named both by a file and by an adopted row must be
the same ruleset; otherwise the rulebook is refused, like two files of one version.

Adopting (``adopt_ruleset``) stores the exact TOML text with its SHA-256, who adopted it,
when and why; the row is never changed or deleted (service/persistence/guards.py), a
later version supersedes it. A version whose effective date falls in or before a
published month is refused: published months are never rescored (DESIGN.md, scoring
principle 3), and the months after it would score by rules the board did not use. The
ledger of the open months is brought in line in the same transaction
(``rescore_ledger``), so ``jifen ledger verify`` agrees right after.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.ledger.preview import RescoreResult, rescore_ledger
from service.persistence.models import Account, AdoptedRuleset
from service.publication.state import lock_months, published_periods
from service.scoring.rules import Rulebook, RulesError, Ruleset, load_ruleset, parse_ruleset

FILE = "file"
ADOPTED = "adopted"
MAX_REASON_CHARS = 500
MAX_TOML_CHARS = 200_000


def digest_of(text: str) -> str:
    """The SHA-256 (hex) of the text's UTF-8 bytes: what is stored and exported."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def adopted_source(version: str) -> str:
    """How problems name an adopted version, where a file check names the file."""
    return f"adopted:{version}"


def adopted_rows(session: Session) -> list[AdoptedRuleset]:
    return list(session.scalars(select(AdoptedRuleset).order_by(AdoptedRuleset.id)))


def adopted_marker(session: Session) -> tuple[tuple[int, str], ...]:
    """A cheap fingerprint of the adopted versions: (id, digest) of each row. It changes
    when one is adopted (and when a test's rollback takes one away)."""
    rows = session.execute(
        select(AdoptedRuleset.id, AdoptedRuleset.digest).order_by(AdoptedRuleset.id)
    )
    return tuple((row[0], row[1]) for row in rows)


def merge_rulebook(files: Rulebook, adopted: Sequence[AdoptedRuleset]) -> Rulebook:
    """The folder's versions plus the adopted ones. A version in both is taken once if
    it is the same ruleset (an adopted version exported into the folder), and is a
    problem if not. Raises RulesError naming each problem."""
    problems: list[str] = []
    rulesets = list(files.rulesets)
    for row in adopted:
        source = adopted_source(row.version)
        try:
            ruleset = parse_ruleset(row.toml, source)
        except RulesError as exc:
            problems.extend(exc.problems)
            continue
        in_folder = files.version(ruleset.version)
        if in_folder is not None:
            if in_folder != ruleset:
                problems.append(
                    f"{source}: field 'version': version '{ruleset.version}' is also a file "
                    "in the rules folder, with other content; which one is in force? "
                    "Remove or rename the file"
                )
            continue
        rulesets.append(ruleset)
    if problems:
        raise RulesError(problems)
    return Rulebook.of(rulesets, "rules folder and adopted versions")


def rulebook_in_force(session: Session, files: Rulebook) -> Rulebook:
    """``files`` (the rules folder's rulebook) with the adopted versions added."""
    return merge_rulebook(files, adopted_rows(session))


def load_rulebook(session: Session, rules_dir: Path) -> Rulebook:
    """The rulebook in force: every file of ``rules_dir`` and every adopted version."""
    return rulebook_in_force(session, Rulebook.from_directory(rules_dir))


class RulebookCache:
    """The rulebook in force for one process (a web worker): rebuilt only when the
    adopted versions' fingerprint changed since the last request, so a version adopted
    in another worker or by the command line takes effect without a restart."""

    def __init__(self, files: Rulebook) -> None:
        self.files = files
        self._lock = threading.Lock()
        self._marker: tuple[tuple[int, str], ...] | None = None
        self._rulebook = files

    @property
    def last(self) -> Rulebook:
        """The rulebook the last request used (no database): for display helpers."""
        return self._rulebook

    def current(self, session: Session) -> Rulebook:
        marker = adopted_marker(session)
        with self._lock:
            if marker != self._marker:
                self._rulebook = rulebook_in_force(session, self.files)
                self._marker = marker
            return self._rulebook


# --- checking and adopting a candidate --------------------------------------------------


def check_candidate(rulebook: Rulebook, text: str, source: str) -> Ruleset:
    """The candidate as a ruleset that can join ``rulebook`` as a new version: the
    checks of ``jifen rules check``, then a version name and an effective date nobody
    uses yet. Raises RulesError naming ``source``, the field and what is wrong."""
    ruleset = parse_ruleset(text, source)
    if rulebook.version(ruleset.version) is not None:
        raise RulesError(
            [
                f"{source}: field 'version': version '{ruleset.version}' already exists; "
                "a version in force is never changed: give the new one a new name"
            ]
        )
    taken = next((r for r in rulebook.rulesets if r.effective_from == ruleset.effective_from), None)
    if taken is not None:
        raise RulesError(
            [
                f"{source}: field 'effective_from': version '{ruleset.version}' takes effect "
                f"on {ruleset.effective_from}, the same day as version '{taken.version}'; "
                "which one would be in force?"
            ]
        )
    return ruleset


def published_refusal(session: Session, ruleset: Ruleset) -> Message | None:
    """Why ``ruleset`` cannot be adopted because of published months, or None."""
    published = published_periods(session)
    if not published:
        return None
    last = max(published)
    month = period_of(ruleset.effective_from)
    if month > last:
        return None
    return Message(
        N_(
            "Version %(version)s would take effect on %(date)s, in or before %(month)s, "
            "which is published: published months are never rescored. Give it an effective "
            "date after %(month)s."
        ),
        {"version": ruleset.version, "date": ruleset.effective_from.isoformat(), "month": last},
    )


@dataclass(frozen=True)
class Adoption:
    id: int
    version: str
    effective_from: date
    digest: str
    rescore: RescoreResult | None  # None: it takes effect after today


def adopt_ruleset(
    session: Session,
    actor: Principal,
    files: Rulebook,
    text: str,
    *,
    reason: str,
    now: datetime,
    today: date,
    source: str = "candidate",
) -> Adoption:
    """Adopt ``text`` as a new ruleset version: office only, with a reason. Raises
    InvalidInput (no reason), RulesError (the check's problems, named by ``source``) or
    Conflict (a published month). Rescores the open months' ledger in the same
    transaction."""
    require_admin(actor)
    reason = reason.strip()
    if not reason:
        raise InvalidInput({"reason": Message(N_("Say why this version is adopted."))})
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(
            {
                "reason": Message(
                    N_("This text is too long (at most %(max)s characters)."),
                    {"max": f"{MAX_REASON_CHARS:,}"},
                )
            }
        )
    if len(text) > MAX_TOML_CHARS:
        raise RulesError([f"{source}: longer than {MAX_TOML_CHARS:,} characters"])
    # The month lock alone, before reading the published months and the adopted rows:
    # publications, other adoptions and every write of points wait for this
    # transaction, so no month gets published and no entry scored between the check and
    # the rescore. (A request that read the rulebook before this commits may still score
    # once by the version before; the next change to that member's year, or
    # `jifen ledger rescore`, brings it in line, and `jifen ledger verify` would say so.)
    lock_months(session)
    rulebook = rulebook_in_force(session, files)
    ruleset = check_candidate(rulebook, text, source)
    refusal = published_refusal(session, ruleset)
    if refusal is not None:
        raise Conflict(refusal)
    row = AdoptedRuleset(
        version=ruleset.version,
        effective_from=ruleset.effective_from,
        toml=text,
        digest=digest_of(text),
        adopted_by_id=actor.account_id,
        adopted_at=now,
        reason=reason,
    )
    session.add(row)
    session.flush()
    rescore = None
    if ruleset.effective_from <= today:
        rescore = rescore_ledger(
            session,
            rulebook.with_candidate(ruleset),
            years=range(ruleset.effective_from.year, today.year + 1),
            now=now,
        )
    return Adoption(row.id, row.version, row.effective_from, row.digest, rescore)


# --- listing and exporting --------------------------------------------------------------


@dataclass(frozen=True)
class VersionSource:
    """Where a version in force comes from, for the rules page and the export."""

    version: str
    effective_from: date
    source: str  # FILE or ADOPTED
    digest: str  # SHA-256 of the exact bytes
    name: str  # the file's name, or "adopted:VERSION"
    adopted_by: str | None = None  # username
    adopted_at: datetime | None = None
    reason: str | None = None


def version_sources(session: Session, actor: Principal, rules_dir: Path) -> list[VersionSource]:
    """Every version: the folder's files and the adopted rows, latest effective first."""
    require_admin(actor)
    sources: list[VersionSource] = []
    for path in sorted(rules_dir.glob("*.toml")) if rules_dir.is_dir() else []:
        try:
            ruleset = load_ruleset(path)
        except RulesError:
            continue  # the server refuses to start on a broken file; nothing to list
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        sources.append(
            VersionSource(ruleset.version, ruleset.effective_from, FILE, digest, path.name)
        )
    in_folder = {source.version for source in sources}
    rows = session.execute(
        select(AdoptedRuleset, Account.username)
        .join(Account, Account.id == AdoptedRuleset.adopted_by_id)
        .order_by(AdoptedRuleset.id)
    )
    for row, username in rows:
        if row.version in in_folder:
            continue  # the same ruleset exported into the folder (merge_rulebook checks)
        sources.append(
            VersionSource(
                row.version,
                row.effective_from,
                ADOPTED,
                row.digest,
                adopted_source(row.version),
                adopted_by=username,
                adopted_at=row.adopted_at,
                reason=row.reason,
            )
        )
    return sorted(sources, key=lambda source: source.effective_from, reverse=True)


def export_version(
    session: Session, actor: Principal, rules_dir: Path, version: str
) -> tuple[str, bytes]:
    """(file name, exact bytes) of a version: the file as it is in the folder, or the
    adopted text as it was stored. NotFound for an unknown version."""
    require_admin(actor)
    for path in sorted(rules_dir.glob("*.toml")) if rules_dir.is_dir() else []:
        try:
            if load_ruleset(path).version == version:
                return path.name, path.read_bytes()
        except RulesError:
            continue
    row = session.scalar(select(AdoptedRuleset).where(AdoptedRuleset.version == version))
    if row is None:
        raise NotFound(Message(N_("No ruleset version %(version)s."), {"version": version}))
    return f"{row.version}.toml", row.toml.encode("utf-8")
