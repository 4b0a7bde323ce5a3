"""The digest chain over every stored board.

Every publication stores its board as rows and a SHA-256 digest of its canonical content
(``canonical_content``), which includes the digest of the publication stored just before
it, whatever its month: one chain over the whole history. ``verify_chain`` re-hashes
every stored board and checks each link. Publishing extends the chain under the month
lock (``service.publication.state.lock_months``), so two publications never take the
same predecessor into their digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.kernel.i18n import N_
from service.persistence.assessment import PublishedResultRow
from service.persistence.models import (
    Publication,
    PublicationKind,
    PublishedBranchRow,
    PublishedMemberRow,
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _fields(row: Any) -> Any:
    """Rows as attribute access: ORM rows, result rows, and the dicts publishing builds."""
    return SimpleNamespace(**row) if isinstance(row, Mapping) else row


def member_dict(row: Any) -> dict[str, Any]:
    row = _fields(row)
    return {
        "member_id": row.member_id,
        "code": row.member_code,
        "name": row.name,
        "branch_id": row.branch_id,
        "branch_name": row.branch_name,
        "points": f"{row.points:.1f}",
        "exempt": row.exempt,
        "town_rank": row.town_rank,
        "branch_rank": row.branch_rank,
    }


def branch_dict(row: Any) -> dict[str, Any]:
    row = _fields(row)
    return {
        "branch_id": row.branch_id,
        "code": row.code,
        "name": row.name,
        "kind": row.kind.value,
        "total": f"{row.total:.1f}",
        "members": row.members,
        "participants": row.participants,
        "per_member": row.per_member,
        "participation": row.participation,
        "rank_total": row.rank_total,
        "rank_per_member": row.rank_per_member,
        "rank_participation": row.rank_participation,
    }


def result_dict(row: Any) -> dict[str, Any]:
    row = _fields(row)
    return {
        "subject_id": row.subject_id,
        "code": row.code,
        "name": row.name,
        "branch_id": row.branch_id,
        "branch_name": row.branch_name,
        "value": row.value,
        "label": row.label,
        "rank": row.rank,
    }


def _head(
    publication: Publication,
    replaces_digest: str,
    results: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The digested fields of a revision other than its member and branch lines. A
    results list (red list, 优秀 list, branch stars) adds its kind and its lines here;
    a month's board has neither key, so every month digested before results lists
    existed still hashes the same."""
    head = _month_head(publication, replaces_digest)
    if publication.kind not in (None, PublicationKind.MONTH):
        head["kind"] = PublicationKind(publication.kind).value
        head["results"] = sorted(results, key=lambda row: row["subject_id"])
    return head


def _month_head(publication: Publication, replaces_digest: str) -> dict[str, Any]:
    return {
        "period": publication.period,
        "revision": publication.revision,
        "published_at": _iso(publication.published_at),
        "window_ends_at": _iso(publication.window_ends_at),
        "notice_days": publication.notice_days,
        "ruleset_version": publication.ruleset_version,
        "reason": publication.reason,
        "replaces": replaces_digest,
        "previous_digest": publication.previous_digest,
    }


def canonical_content(
    publication: Publication,
    members: Iterable[PublishedMemberRow],
    branches: Iterable[PublishedBranchRow],
    replaces_digest: str,
    results: Iterable[Any] = (),
) -> str:
    """The text the digest is taken of: JSON with sorted keys, no spaces, points as
    strings with one decimal place, rows by id of member and branch (and of subject)."""
    content = {
        **_head(publication, replaces_digest, [result_dict(r) for r in results]),
        "members": [member_dict(r) for r in sorted(members, key=lambda r: r.member_id)],
        "branches": [branch_dict(r) for r in sorted(branches, key=lambda r: r.branch_id)],
    }
    return _dumps(content)


def digest_of(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def streamed_digest(
    publication: Publication,
    members: Iterable[dict[str, Any]],
    branches: Iterable[dict[str, Any]],
    replaces_digest: str,
    results: Iterable[dict[str, Any]] = (),
) -> str:
    """``digest_of(canonical_content(...))`` without building the text: the same bytes
    fed to SHA-256 a line at a time, from row dicts (``member_dict``, ``branch_dict``)
    already in member and branch id order. A province's board is millions of lines.
    ``results`` (``result_dict``s) are a results list's lines: at most one per member."""
    head = _head(publication, replaces_digest, results)
    sha = hashlib.sha256()
    # Sorted keys put "branches" and "members" before every key of ``head``.
    sha.update(b'{"branches":[')
    _feed(sha, branches)
    sha.update(b'],"members":[')
    _feed(sha, members)
    sha.update(b"]," + _dumps(head)[1:].encode("utf-8"))
    return sha.hexdigest()


def _feed(sha: Any, rows: Iterable[dict[str, Any]]) -> None:
    separator = b""
    for row in rows:
        sha.update(separator + _dumps(row).encode("utf-8"))
        separator = b","


MEMBER_COLUMNS = (
    PublishedMemberRow.member_id,
    PublishedMemberRow.member_code,
    PublishedMemberRow.name,
    PublishedMemberRow.branch_id,
    PublishedMemberRow.branch_name,
    PublishedMemberRow.points,
    PublishedMemberRow.exempt,
    PublishedMemberRow.town_rank,
    PublishedMemberRow.branch_rank,
)

BRANCH_COLUMNS = (
    PublishedBranchRow.branch_id,
    PublishedBranchRow.code,
    PublishedBranchRow.name,
    PublishedBranchRow.kind,
    PublishedBranchRow.total,
    PublishedBranchRow.members,
    PublishedBranchRow.participants,
    PublishedBranchRow.per_member,
    PublishedBranchRow.participation,
    PublishedBranchRow.rank_total,
    PublishedBranchRow.rank_per_member,
    PublishedBranchRow.rank_participation,
)


def _stored_member_dicts(session: Session, publication_id: int) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        select(*MEMBER_COLUMNS)
        .where(PublishedMemberRow.publication_id == publication_id)
        .order_by(PublishedMemberRow.member_id)
        .execution_options(yield_per=20_000)
    )
    for row in rows:
        yield member_dict(row)


def _stored_branch_dicts(session: Session, publication_id: int) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        select(*BRANCH_COLUMNS)
        .where(PublishedBranchRow.publication_id == publication_id)
        .order_by(PublishedBranchRow.branch_id)
        .execution_options(yield_per=20_000)
    )
    for row in rows:
        yield branch_dict(row)


def stored_result_dicts(session: Session, publication: Publication) -> list[dict[str, Any]]:
    """A results list's stored lines as ``result_dict``s (none for a month's board)."""
    if publication.kind in (None, PublicationKind.MONTH):
        return []
    rows = session.scalars(
        select(PublishedResultRow)
        .where(PublishedResultRow.publication_id == publication.id)
        .order_by(PublishedResultRow.subject_id)
    )
    return [result_dict(row) for row in rows]


def stored_rows(
    session: Session, publication_id: int
) -> tuple[list[PublishedMemberRow], list[PublishedBranchRow]]:
    members = list(
        session.scalars(
            select(PublishedMemberRow).where(PublishedMemberRow.publication_id == publication_id)
        )
    )
    branches = list(
        session.scalars(
            select(PublishedBranchRow).where(PublishedBranchRow.publication_id == publication_id)
        )
    )
    return members, branches


def _replaces_digest(session: Session, publication: Publication) -> str:
    if publication.replaces_id is None:
        return ""
    return (
        session.scalar(select(Publication.digest).where(Publication.id == publication.replaces_id))
        or ""
    )


def _recomputed_digest(session: Session, publication: Publication) -> str:
    return streamed_digest(
        publication,
        _stored_member_dicts(session, publication.id),
        _stored_branch_dicts(session, publication.id),
        _replaces_digest(session, publication),
        stored_result_dicts(session, publication),
    )


def _link_holds(session: Session, publication: Publication) -> bool:
    before = session.scalar(
        select(Publication.digest)
        .where(Publication.id < publication.id)
        .order_by(Publication.id.desc())
        .limit(1)
    )
    return publication.previous_digest == (before or "")


def publication_intact(session: Session, publication: Publication) -> bool:
    """The stored rows still give the publication's digest and its link to the
    publication before holds (re-hashes every stored line: a city's board takes a
    second or so; the web caches the answer per revision for a while)."""
    return _recomputed_digest(session, publication) == publication.digest and _link_holds(
        session, publication
    )


class BreakKind(StrEnum):
    CONTENT = "content"  # the stored rows no longer hash to the stored digest
    LINK = "link"  # previous_digest is not the digest of the publication before


BREAK_LABELS = {
    BreakKind.CONTENT: N_("The stored board does not match its digest"),
    BreakKind.LINK: N_("The link to the publication before is broken"),
}


@dataclass(frozen=True)
class ChainBreak:
    publication_id: int
    period: str
    revision: int
    kind: BreakKind
    expected: str
    found: str

    def describe(self) -> str:
        what = (
            "the stored rows hash to another digest"
            if self.kind is BreakKind.CONTENT
            else "previous_digest is not the digest of the publication before"
        )
        return (
            f"publication {self.publication_id} ({self.period} revision {self.revision}): "
            f"{what}: expected {self.expected or '(none)'}, stored {self.found or '(none)'}"
        )


@dataclass(frozen=True)
class ChainReport:
    publications: int
    breaks: list[ChainBreak]

    @property
    def ok(self) -> bool:
        return not self.breaks

    def broken_ids(self) -> frozenset[int]:
        return frozenset(item.publication_id for item in self.breaks)


def verify_chain(session: Session) -> ChainReport:
    """Re-hash every publication's stored rows and check every link of the chain."""
    publications = list(session.scalars(select(Publication).order_by(Publication.id)))
    digests = {p.id: p.digest for p in publications}
    breaks: list[ChainBreak] = []
    previous = ""
    for publication in publications:
        replaces = digests.get(publication.replaces_id or 0, "")
        recomputed = streamed_digest(
            publication,
            _stored_member_dicts(session, publication.id),
            _stored_branch_dicts(session, publication.id),
            replaces,
            stored_result_dicts(session, publication),
        )
        if recomputed != publication.digest:
            breaks.append(
                ChainBreak(
                    publication.id,
                    publication.period,
                    publication.revision,
                    BreakKind.CONTENT,
                    recomputed,
                    publication.digest,
                )
            )
        if publication.previous_digest != previous:
            breaks.append(
                ChainBreak(
                    publication.id,
                    publication.period,
                    publication.revision,
                    BreakKind.LINK,
                    previous,
                    publication.previous_digest,
                )
            )
        previous = publication.digest
    return ChainReport(publications=len(publications), breaks=breaks)
