"""Victims' identity numbers and phones as they are stored: checked and normalised.

Every way a victim comes in (the API, the officer's form, the demo) goes through
``normalise_id_number`` and ``normalise_phone`` in funds.services.cases.victim_add; the
serializer and the form call them too, to answer beside the field. Both raise
``PersonalDataError`` with a message for the user.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

# Separators people type inside numbers (and invisible ones pasted from documents).
SEPARATORS = re.compile(r"[\s\-()\u00a0\u200b-\u200d\u2060\ufeff]")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Area codes: 010 and 02x (8-digit numbers), else 0 and three digits (7 or 8).
LANDLINE = re.compile(r"^0(?:10|2\d)\d{8}$|^0[3-9]\d{2}\d{7,8}$")


class PersonalDataError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalise_id_number(raw: str) -> str:
    """The 18-character resident identity number (GB 11643-1999), upper-case X, checked.

    The check digit (ISO 7064 MOD 11-2, stdnum.cn.ric) catches a mistyped digit and most
    swapped pairs; the date of birth must be a real past day. The six-digit region code is
    not looked up: a table of regions that is out of date would refuse a real person, and
    the check digit already guards against typing errors. First-generation 15-digit numbers
    have had no legal force since 2013 and carry no check digit, so they are refused.
    """
    number = SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()
    if len(number) == 15 and number.isdigit():
        raise PersonalDataError(
            _(
                "15-digit identity numbers are no longer valid: enter the 18-character "
                "number of the second-generation card."
            )
        )
    if len(number) != 18 or not number[:17].isdigit() or not re.match(r"[\dX]$", number[17]):
        raise PersonalDataError(
            _("Enter the 18-character identity number: 17 digits and a check digit (0-9 or X).")
        )
    if ric.calc_check_digit(number) != number[17]:
        raise PersonalDataError(
            _("This identity number's check digit does not match: look for a mistyped digit.")
        )
    try:
        born = ric.get_birth_date(number)
    except StdnumError:
        born = None
    if born is None or not date(1900, 1, 1) <= born <= timezone.localdate():
        raise PersonalDataError(_("This identity number does not hold a valid date of birth."))
    return number


def with_check_digit(first17: str) -> str:
    """The identity number of 17 digits and its check digit (for generated data)."""
    return first17 + ric.calc_check_digit(first17 + "0")


def normalise_phone(raw: str) -> str:
    """A mainland mobile (11 digits) or a landline with its area code, digits only.

    Spaces, hyphens, brackets and the country code (+86, 0086, or 86 before a mobile) are
    dropped; a landline written internationally (+86 531 ...) gets its trunk 0 back.
    """
    number = SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    international = False
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number, international = number[len(prefix) :], True
            break
    else:
        if len(number) == 13 and number.startswith("861"):
            number, international = number[2:], True
    if international and number.startswith("0"):
        pass  # "+86 (0)531 ...": the trunk 0 kept
    elif international and not number.startswith("1"):
        number = "0" + number
    if not number.isdigit() or not (MOBILE.match(number) or LANDLINE.match(number)):
        raise PersonalDataError(
            _(
                "Enter a mainland mobile number (11 digits) or a landline with its area code, "
                "e.g. 0531-88888888."
            )
        )
    return number
