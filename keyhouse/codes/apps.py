from __future__ import annotations

from datetime import datetime

from django.apps import AppConfig


class CodesConfig(AppConfig):
    name = "keyhouse.codes"
    label = "codes"
    verbose_name = "One-time codes"

    def ready(self) -> None:
        from keyhouse.codes import checks  # noqa: F401  (registers the system checks)

    def purge_expired(self, *, now: datetime) -> int:
        """Delete codes past their retention; called by ``manage.py purge_expired``."""
        from keyhouse.codes.services import code_purge_expired

        return code_purge_expired(now=now)
