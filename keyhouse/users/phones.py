"""Phone numbers: read what people type as E.164, and refuse countries not served.

Every number that Keyhouse stores, rate-limits or texts goes through phone_normalize
first, so that "+44 20 7946 0958" and "020 7946 0958" are one number everywhere. The
country lists guard against SMS pumping: fraudsters requesting codes to expensive
destinations whose operators share the revenue.
"""

from __future__ import annotations

from http import HTTPStatus

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from keyhouse.core.exceptions import KeyhouseError


class _PhoneError(KeyhouseError):
    """An error about the ``phone`` field of the request, reported under that field."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, fields={"phone": [message or self.message]})


class InvalidPhone(_PhoneError):
    code = "invalid_phone"
    message = _("Enter a valid phone number.")


class PhoneNotAllowed(_PhoneError):
    code = "phone_country_not_allowed"
    message = _("Phone numbers from this country cannot be used here.")


# E.164: "+", a country code and at most 15 digits in all (ITU-T E.164 section 6).
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
INTERNATIONAL_FORMAT = _(
    "Enter a valid phone number in international format: + and the country code first."
)


def phone_normalize(raw: str) -> str:
    """Return the phone number ``raw`` in E.164, such as "+442079460958".

    A number without "+" and a country code is read as a national number of
    PHONENUMBER_DEFAULT_REGION when that is set. Spaces, dashes, dots and brackets
    are ignored; letters (vanity numbers, extensions) are refused rather than guessed.

    Raises InvalidPhone (400) for anything but a valid number, and PhoneNotAllowed
    (400) for a number outside KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES (when set) or
    inside KEYHOUSE_PHONE_DENIED_COUNTRY_CODES.
    """
    if not isinstance(raw, str) or any(character.isalpha() for character in raw):
        raise InvalidPhone
    region = settings.PHONENUMBER_DEFAULT_REGION
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        international = region is None and not raw.strip().startswith("+")
        raise InvalidPhone(INTERNATIONAL_FORMAT if international else None) from exc
    if number.extension or not phonenumbers.is_valid_number(number):
        raise InvalidPhone
    allowed = settings.KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES
    denied = settings.KEYHOUSE_PHONE_DENIED_COUNTRY_CODES
    if (allowed and not _country_listed(number, allowed)) or _country_listed(number, denied):
        raise PhoneNotAllowed
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_entry_normalize(entry: str) -> str:
    """Read an entry of a country list: a calling code ("44", "+44") or a region ("GB")."""
    return entry.strip().removeprefix("+").upper()


def _country_listed(number: phonenumbers.PhoneNumber, entries: list[str]) -> bool:
    """Say whether the number's calling code or region is in ``entries``.

    Regions tell apart the countries that share a calling code: "1" is the United
    States, Canada and much of the Caribbean, "US,CA" only the first two.
    """
    names = {str(number.country_code), phonenumbers.region_code_for_number(number)}
    return any(country_entry_normalize(entry) in names for entry in entries)
