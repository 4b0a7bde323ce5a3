"""Reading HTML forms: validate with pydantic ourselves so invalid input re-renders the
form with a message beside each field instead of a bare 400. Also the body types of form
posts, and the member form both the office (/admin/members) and a branch's roster
(/branches/{id}/roster) use: its values and the choices it offers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, TypeVar

from litestar.enums import RequestEncodingType
from litestar.params import Body
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from service.people.fields import MEMBER_STATUS_LABELS
from service.people.organisations import organisation_choices
from service.persistence.models import Member
from web.i18n import gettext, render

FormT = TypeVar("FormT", bound=BaseModel)

# A posted HTML form, every field as sent (a repeated field as a list).
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
# A form with file fields (photos, a roster file); one sent URL-encoded is read as well.
UploadData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]

# What a person should read for each kind of pydantic failure.
_MESSAGES = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
    "date_from_datetime_parsing": N_("Enter a date like 2026-03-12."),
    "date_parsing": N_("Enter a date like 2026-03-12."),
    "date_type": N_("Enter a date like 2026-03-12."),
    "decimal_parsing": N_("Enter a number, e.g. 1 or 2.5."),
    "decimal_type": N_("Enter a number, e.g. 1 or 2.5."),
    "finite_number": N_("Enter a number, e.g. 1 or 2.5."),
    "decimal_max_places": N_("Use at most one decimal place."),
    "decimal_max_digits": N_("This number is too large."),
    "string_too_long": N_("This text is too long."),
}


def first_value(data: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields as single strings (a repeated field keeps its first value)."""
    return {
        key: (value[0] if isinstance(value, list) and value else value)
        for key, value in data.items()
    }


def parse_form(model: type[FormT], data: Mapping[str, Any]) -> FormT | dict[str, str]:
    """The validated form, or a dict of field name → translated message."""
    try:
        return model.model_validate(first_value(data))
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "__all__"
            message = _MESSAGES.get(error["type"], N_("This value is not valid."))
            errors.setdefault(field, render(Message(message)))
        return errors


def domain_field_errors(exc: InvalidInput) -> dict[str, str]:
    """A service's InvalidInput as the form shows it: each field's message, translated."""
    return {field: render(message) for field, message in exc.errors.items()}


# --- the member form -----------------------------------------------------------


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
