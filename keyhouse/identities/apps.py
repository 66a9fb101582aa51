from __future__ import annotations

from datetime import datetime

from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "keyhouse.identities"
    label = "identities"
    verbose_name = "Identities"

    def ready(self) -> None:
        from keyhouse.identities import (
            checks,  # noqa: F401 - registers the system checks
            schema,  # noqa: F401 - registers the schema extensions
        )
        from keyhouse.identities.views import oauth_code_grant
        from keyhouse.tokens.oauth import GRANT_HANDLERS

        GRANT_HANDLERS["authorization_code"] = oauth_code_grant

    def purge_expired(self, *, now: datetime) -> int:
        """Delete sign-in states, codes and link tokens past their end."""
        from keyhouse.identities.flows import oauth_purge_expired
        from keyhouse.identities.services import link_purge_expired

        return oauth_purge_expired(now=now) + link_purge_expired(now=now)
