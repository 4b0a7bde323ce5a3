"""The member form both the office (/admin/members) and a branch's roster
(/branches/{id}/roster) use: its values and the choices it offers."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from service.people.fields import MEMBER_STATUS_LABELS
from service.people.organisations import organisation_choices
from service.persistence.models import Member
from web.i18n import gettext


def labels(mapping: dict[str, str]) -> dict[str, str]:
    return {key: gettext(value) for key, value in mapping.items()}


def member_values(member: Member) -> dict[str, str]:
    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    return {
        "code": member.code,
        "name": member.name,
        "branch_id": str(member.branch_id),
        "organisation_id": text(member.organisation_id),
        "status": member.status.value,
        "joined_party_on": text(member.joined_party_on),
        "id_number": text(member.id_number),
        "phone": text(member.phone),
        "left_on": text(member.left_on),
    }


EMPTY_MEMBER = {
    "code": "",
    "name": "",
    "branch_id": "",
    "organisation_id": "",
    "status": "full",
    "joined_party_on": "",
    "id_number": "",
    "phone": "",
    "left_on": "",
}


def member_form_context(
    db: Session, *, branch_id: int | None, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "statuses": labels(MEMBER_STATUS_LABELS),
        "organisations": organisation_choices(db, branch_id),
    }
