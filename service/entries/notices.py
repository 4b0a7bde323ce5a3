"""Telling a member their entry is decided, in the decision's transaction.

One notification per entry, bulk approvals too: the words name one entry and the points
it counts for, and a batch mostly spans many members with an entry or two each; a
member who wants fewer messages chooses the weekly digest.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from service.outbox.emit import emit, member_accounts
from service.outbox.facts import account_locale, points_text
from service.persistence.models import Entry
from service.scoring.rules import Rulebook

APPROVED_LINK = "/me/points"
REJECTED_LINK = "/entries"


def rule_title(rulebook: Rulebook | None, entry: Entry, locale: str) -> str:
    """The entry's rule as the member's entries list names it: the rule of the entry's
    ruleset, else of any later one, else its id."""
    if rulebook is None:
        return entry.rule_id
    exact = rulebook.version(entry.ruleset_version)
    for ruleset in ([exact] if exact else []) + list(reversed(rulebook.rulesets)):
        rule = ruleset.rule(entry.rule_id)
        if rule is not None:
            return rule.name(locale)
    return entry.rule_id


def _notify(
    session: Session,
    entry: Entry,
    rulebook: Rulebook | None,
    kind_id: str,
    extra: dict[str, str],
    link: str,
    now: datetime,
) -> None:
    accounts = member_accounts(session, [entry.member_id])
    if not accounts:
        return
    for account_id in accounts:
        params = {
            "rule": rule_title(rulebook, entry, account_locale(session, account_id)),
            "date": entry.activity_date.isoformat(),
            **extra,
        }
        emit(
            session,
            kind_id,
            params=params,
            link=link,
            accounts=[account_id],
            branch_id=entry.branch_id,
            now=now,
        )


def entry_approved(
    session: Session, entry: Entry, rulebook: Rulebook, points: Decimal, *, now: datetime
) -> None:
    _notify(
        session,
        entry,
        rulebook,
        "entry_approved",
        {"points": points_text(points)},
        APPROVED_LINK,
        now,
    )


def entry_rejected(
    session: Session, entry: Entry, rulebook: Rulebook | None, reason: str, *, now: datetime
) -> None:
    # The reason is private to the member (and their reviewers): a personal, private kind.
    _notify(session, entry, rulebook, "entry_rejected", {"reason": reason}, REJECTED_LINK, now)
