"""Reading HTML forms: validate with pydantic ourselves so invalid input re-renders the
form with a message beside each field instead of a bare 400."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from web.i18n import render

FormT = TypeVar("FormT", bound=BaseModel)

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
    return {field: render(message) for field, message in exc.errors.items()}
