"""System checks on the phone settings: a typo in a country list stops a deploy.

(django-phonenumber-field already refuses an unknown PHONENUMBER_DEFAULT_REGION.)
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from keyhouse.users.phones import country_entry_normalize

COUNTRY_LIST_SETTINGS = (
    "KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES",
    "KEYHOUSE_PHONE_DENIED_COUNTRY_CODES",
)


def _country_known(entry: str) -> bool:
    entry = country_entry_normalize(entry)
    if entry.isdigit():
        return int(entry) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    return entry in phonenumbers.SUPPORTED_REGIONS


@register()
def check_phone_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in COUNTRY_LIST_SETTINGS:
        unknown = [entry for entry in getattr(settings, name) if not _country_known(entry)]
        if unknown:
            errors.append(
                Error(
                    f"{name} names no country in {', '.join(map(repr, unknown))}.",
                    hint="List country calling codes (44) or ISO regions (GB).",
                    id="users.E001",
                )
            )
    return errors
