"""Audit lines the services write themselves: events that change no audited record, so
the session hook (service/audit/capture.py) cannot see them: sign-ins (succeeded,
failed, refused by the throttle), the office ending an account's sessions, and the first
office account made by ``jifen setup``.

They carry the same who and from where as the hook's lines (the request's context),
unless the caller knows better (a sign-in knows its account only once it succeeds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.capture import current_context, is_suspended, to_json_value
from service.persistence.models import Account, AuditEvent, Member
from service.persistence.types import utcnow

SIGN_IN = "sign_in"
SIGN_IN_SUCCESS = "sign_in.success"
SIGN_IN_FAILURE = "sign_in.failure"
SIGN_IN_THROTTLED = "sign_in.throttled"
# A person already signed in typed a wrong current password to change it.
PASSWORD_CHECK_FAILURE = "account.password_check_failure"  # noqa: S105 - a kind
PASSWORD_CHECK_THROTTLED = "account.password_check_throttled"  # noqa: S105 - a kind

# The first office account, made by ``jifen setup`` with nobody acting.
ACCOUNT_SETUP = "account.setup"

_CONTEXT = object()


def record_event(
    session: Session,
    kind: str,
    object_type: str,
    object_id: Any,
    *,
    summary: str = "",
    branch_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    actor_id: Any = _CONTEXT,
    ip_address: str | None = None,
) -> None:
    """Write one audit line in the session's transaction (nothing inside
    ``suspended()``). ``actor_id`` and ``ip_address`` default to the context's."""
    if is_suspended():
        return
    context = current_context()
    session.add(
        AuditEvent(
            at=utcnow(),
            actor_id=context.actor_id if actor_id is _CONTEXT else actor_id,
            ip_address=(context.ip_address if ip_address is None else ip_address)[:64],
            kind=kind[:48],
            object_type=object_type[:32],
            object_id="" if object_id is None else str(object_id)[:64],
            branch_id=branch_id,
            summary=summary[:200],
            before=_dumped(before),
            after=_dumped(after),
        )
    )
    session.flush()


def _dumped(values: Mapping[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps(
        {key: to_json_value(value) for key, value in values.items()},
        ensure_ascii=False,
        sort_keys=True,
    )


def record_account_event(
    session: Session,
    kind: str,
    account: Account,
    *,
    after: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
) -> None:
    """``record_event`` about ``account``: named by its username and filed under its
    member's branch (if any), so the branch's reviewers find it in their log."""
    branch_id = (
        session.scalar(select(Member.branch_id).where(Member.id == account.member_id))
        if account.member_id is not None
        else None
    )
    record_event(
        session,
        kind,
        "account",
        account.id,
        summary=account.username,
        branch_id=branch_id,
        after=after,
        ip_address=ip_address,
    )
