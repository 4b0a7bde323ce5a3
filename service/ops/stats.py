"""Counts for operators (``jifen stats``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.entries.entry import count_by_status
from service.persistence.models import Account, Branch, BranchKind, LedgerLine, Member, Organisation


def town_stats(session: Session) -> dict[str, Any]:
    branches_by_kind = {
        kind: count
        for kind, count in session.execute(select(Branch.kind, func.count()).group_by(Branch.kind))
    }
    return {
        "branches": sum(branches_by_kind.values()),
        "branches_joint": branches_by_kind.get(BranchKind.JOINT, 0),
        "branches_single": branches_by_kind.get(BranchKind.SINGLE, 0),
        "organisations": session.scalar(select(func.count()).select_from(Organisation)),
        "members": session.scalar(select(func.count()).select_from(Member)),
        "accounts": session.scalar(select(func.count()).select_from(Account)),
        "entries": count_by_status(session),
        "ledger_lines": session.scalar(select(func.count()).select_from(LedgerLine)),
    }


def is_empty(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(Branch)) == 0
