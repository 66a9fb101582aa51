"""System checks on the rate-limit settings: a typo stops a deploy, not every request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from keyhouse.core.ratelimit import parse_limits, parse_rate

LOGIN_FAILURE_SETTINGS = (
    "KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP",
    "KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT",
)


@register()
def check_rate_limits(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for action, spec in settings.KEYHOUSE_RATE_LIMITS.items():
        try:
            parse_limits(spec)
        except ValueError as exc:
            hint = f"Fix KEYHOUSE_RATE_LIMIT_{action.upper()}."
            errors.append(Error(str(exc), hint=hint, id="core.E001"))
    for name in LOGIN_FAILURE_SETTINGS:
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(Error(str(exc), hint=f"Fix {name}.", id="core.E002"))
    return errors
