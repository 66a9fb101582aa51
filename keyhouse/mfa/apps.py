from __future__ import annotations

from datetime import datetime

from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "keyhouse.mfa"
    label = "mfa"
    verbose_name = "Multi-factor authentication"

    def ready(self) -> None:
        from keyhouse.mfa import (
            checks,  # noqa: F401 - registers the system checks
            schema,  # noqa: F401 - registers the schema extensions
        )

    def purge_expired(self, *, now: datetime) -> int:
        """Delete spent sign-in challenges and unconfirmed factors; called by ``purge_expired``."""
        from keyhouse.mfa.services.challenges import mfa_purge_expired

        return mfa_purge_expired(now=now)
