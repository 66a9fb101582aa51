from __future__ import annotations

from datetime import datetime

from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "keyhouse.tokens"
    label = "tokens"
    verbose_name = "Tokens and sessions"

    def ready(self) -> None:
        from keyhouse.tokens import checks, schema  # noqa: F401 - registrations

    def purge_expired(self, *, now: datetime) -> int:
        """Delete ended sessions and their refresh tokens; called by ``purge_expired``."""
        from keyhouse.tokens.services import session_purge_ended

        return session_purge_ended(now=now)
