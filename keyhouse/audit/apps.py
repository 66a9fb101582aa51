from __future__ import annotations

from datetime import datetime

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "keyhouse.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def purge_expired(self, *, now: datetime) -> int:
        """Delete events past KEYHOUSE_AUDIT_RETENTION_DAYS; called by ``purge_expired``."""
        from keyhouse.audit.services import audit_purge_old

        return audit_purge_old(now=now)
