"""System checks on the MFA settings: a typo in the policy stops a deploy."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from keyhouse.mfa.services.assurance import POLICIES


@register()
def check_mfa_policy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.KEYHOUSE_MFA_POLICY in POLICIES:
        return []
    return [
        Error(
            f"KEYHOUSE_MFA_POLICY is {settings.KEYHOUSE_MFA_POLICY!r}.",
            hint=f"Set it to one of {', '.join(POLICIES)}.",
            id="mfa.E001",
        )
    ]
