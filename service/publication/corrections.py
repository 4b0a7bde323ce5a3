"""Corrections of a published month: opened with a reason while the notice window
runs, the month's entries may change again, and publishing the correction stores a new
revision linked to the one it replaces (with a new notice window).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_, Message
from service.kernel.periods import parse_period
from service.persistence.models import (
    Correction,
    Publication,
)
from service.publication.publish import REASON_MAX, store_publication
from service.publication.state import (
    MonthState,
    correction_in_progress,
    latest_publication,
    lock_months,
    month_state,
    pending_by_branch,
    pending_conflict,
    unclosed_conflict,
    unclosed_meetings,
)
from service.scoring.rules import Rulebook


def open_correction(
    session: Session, actor: Principal, period: str, reason: str, *, now: datetime
) -> Correction:
    """Start correcting a published month (within its notice window): from now on
    entries, adjustments and suggestion steps dated in it may change again, until the
    correction is published.

    One correction of a month is in progress at a time: the month's state is read
    under the month lock, so a second request waits for the first and is refused, and
    the database refuses a second open correction of a month whatever the path
    (``uq_correction_open``)."""
    require_admin(actor, N_("Only the organisation office corrects published boards."))
    period = parse_period(period)
    reason = reason.strip()
    if not reason:
        raise InvalidInput({"reason": Message(N_("Say why the month is corrected."))})
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            {
                "reason": Message(
                    N_("Keep the reason for the correction under %(max)d characters."),
                    {"max": REASON_MAX},
                )
            }
        )
    lock_months(session)
    state = month_state(session, period, now)
    if state is MonthState.OPEN:
        raise Conflict(
            Message(
                N_("%(period)s is not published; it can still change without a correction."),
                {"period": period},
            )
        )
    if state is MonthState.CORRECTING:
        raise correction_in_progress_conflict(period)
    if state is MonthState.FINAL:
        raise Conflict(
            Message(
                N_("The notice window of %(period)s has closed; the month is final."),
                {"period": period},
            )
        )
    latest = latest_publication(session, period)
    assert latest is not None
    correction = Correction(
        period=period,
        reason=reason,
        opened_at=now,
        opened_by_id=actor.account_id,
        replaces_id=latest.id,
    )
    try:
        with session.begin_nested():
            session.add(correction)
    except IntegrityError as exc:
        raise correction_in_progress_conflict(period) from exc
    return correction


def correction_in_progress_conflict(period: str) -> Conflict:
    return Conflict(
        Message(N_("A correction of %(period)s is already in progress."), {"period": period})
    )


def publish_correction(
    session: Session, actor: Principal, rulebook: Rulebook, period: str, *, now: datetime
) -> Publication:
    """Publish the correction in progress as the month's next revision: the board as it
    stands now, linked to the revision it replaces, with the correction's reason. The
    corrected board gets a notice window of its own."""
    require_admin(actor, N_("Only the organisation office corrects published boards."))
    period = parse_period(period)
    lock_months(session)
    correction = correction_in_progress(session, period)
    if correction is None:
        raise Conflict(
            Message(
                N_("No correction of %(period)s is in progress; open one first."),
                {"period": period},
            )
        )
    pending = pending_by_branch(session, period)
    if pending:
        raise pending_conflict(pending, period)
    unclosed = unclosed_meetings(session, period)
    if unclosed:
        raise unclosed_conflict(unclosed, period)
    latest = latest_publication(session, period)
    assert latest is not None
    publication = store_publication(
        session,
        actor,
        rulebook,
        period,
        now=now,
        revision=latest.revision + 1,
        replaces=latest,
        reason=correction.reason,
    )
    correction.publication_id = publication.id
    session.flush()
    return publication
