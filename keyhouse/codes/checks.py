"""System checks on the code settings: a bad value stops a deploy, not every sign-up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from keyhouse.codes.models import OneTimeCode
from keyhouse.core.ratelimit import parse_rate

RATE_SETTINGS = ("KEYHOUSE_CODE_RATE_PER_TARGET", "KEYHOUSE_CODE_RATE_PER_IP")


@register()
def check_code_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in RATE_SETTINGS:
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(Error(str(exc), hint=f"Fix {name}.", id="codes.E001"))
    if not 4 <= settings.KEYHOUSE_CODE_LENGTH <= 10:
        errors.append(
            Error(
                "KEYHOUSE_CODE_LENGTH must be between 4 and 10 digits.",
                hint="Six digits (the default) is usual.",
                id="codes.E002",
            )
        )
    if settings.KEYHOUSE_SMS_CODES not in OneTimeCode.Provider.values:
        errors.append(
            Error(
                f"KEYHOUSE_SMS_CODES is {settings.KEYHOUSE_SMS_CODES!r}.",
                hint="Set it to 'keyhouse' (the default) or 'twilio_verify'.",
                id="codes.E003",
            )
        )
    return errors
