"""Checks and labels of people's fields, shared by the office's forms and the roster
import: 身份证号 with its check character, mobile numbers, statuses and kinds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from service.kernel.fields import folded
from service.kernel.i18n import N_, Message
from service.persistence.models import (
    BranchKind,
    MemberStatus,
    OrganisationKind,
)

BRANCH_KIND_LABELS = {
    BranchKind.SINGLE.value: N_("single"),
    BranchKind.JOINT.value: N_("joint"),
}

ORGANISATION_KIND_LABELS = {
    OrganisationKind.ENTERPRISE.value: N_("enterprise"),
    OrganisationKind.SOCIAL.value: N_("social organisation"),
}

MEMBER_STATUS_LABELS = {
    MemberStatus.FULL.value: N_("full member"),
    MemberStatus.PROBATIONARY.value: N_("probationary member"),
    MemberStatus.MOBILE.value: N_("mobile member"),
    MemberStatus.EXEMPT.value: N_("exempt from rating"),
}

BUSINESS_STATUS_LABELS = {
    "operating": N_("operating"),
    "suspended": N_("suspended"),
    "closed": N_("closed"),
}

# 身份证号 (GB 11643-1999): 17 digits, then a check character over them. [0-9], not \d:
# \d also matches other scripts' digits, which int() reads but nobody else would.
ID_NUMBER_PATTERN = re.compile(r"^[0-9]{17}[0-9X]$")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

ID_CHECK = "10X98765432"

# Mainland mobile numbers: 11 digits starting 13-19.
PHONE_PATTERN = re.compile(r"^1[3-9][0-9]{9}$")


def normal_id_number(text: str) -> str:
    """A typed 身份证号 as stored: folded to ASCII, without spaces, X upper case."""
    return re.sub(r"\s+", "", folded(text)).upper()


def normal_phone(text: str) -> str:
    """A typed mobile number as stored: folded to ASCII, without spaces or dashes, and
    without the country code (+86 or 86) before an 11-digit number."""
    value = re.sub(r"[\s\-]+", "", folded(text))
    return re.sub(r"^\+?86(?=1[0-9]{10}$)", "", value)


def id_number_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a 身份证号 (GB 11643)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


@dataclass(frozen=True)
class IdNumberWording:
    """What ``id_number_problem`` says: worded for a form field or a row of a file."""

    shape: str
    birth_date: str
    check_char: str


FORM_WORDING = IdNumberWording(
    shape=N_("An ID number has 18 characters: 17 digits, then a digit or X."),
    birth_date=N_("The birth date inside this ID number is not a real date."),
    check_char=N_("This ID number's check character is wrong; check for a typo."),
)
FILE_WORDING = IdNumberWording(
    shape=N_("An ID number has 18 characters: 17 digits, then a digit or X."),
    birth_date=N_("Characters 7 to 14 of the ID number are not a date of birth."),
    check_char=N_(
        "The last character of the ID number does not match the others: check for a typo."
    ),
)


def id_number_problem(value: str, wording: IdNumberWording = FORM_WORDING) -> Message | None:
    """Why ``value`` is not a valid 18-character 身份证号, or None."""
    if not ID_NUMBER_PATTERN.fullmatch(value):
        return Message(wording.shape)
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return Message(wording.birth_date)
    if id_number_check_char(value[:17]) != value[17]:
        return Message(wording.check_char)
    return None


def phone_problem(value: str) -> Message | None:
    if not PHONE_PATTERN.fullmatch(value):
        return Message(N_("Enter a mainland mobile number: 11 digits starting with 1."))
    return None
