from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from keyhouse.audit.models import AuditEvent
from keyhouse.core.http import ClientInfo

# The detail key naming the staff user who acted on someone else's account.
ACTING_ADMIN = "admin"


def audit_record(
    *,
    type: AuditEvent.Type,
    user_id: Any = None,
    client: ClientInfo | None = None,
    detail: dict[str, Any] | None = None,
    by: Any = None,
) -> AuditEvent:
    """Record a security event. The detail must never hold a password, code or token.

    ``by`` is the staff user who acted, from the admin; ``client`` is then theirs.
    """
    detail = dict(detail or {})
    if by is not None:
        detail[ACTING_ADMIN] = str(by)
    return AuditEvent.objects.create(
        type=type,
        user_id=user_id,
        ip=client.ip if client else None,
        user_agent=client.user_agent if client else "",
        detail=detail,
    )


def audit_purge_old(*, now: datetime) -> int:
    """Delete events older than KEYHOUSE_AUDIT_RETENTION_DAYS; return how many."""
    cutoff = now - timedelta(days=settings.KEYHOUSE_AUDIT_RETENTION_DAYS)
    deleted, _by_model = AuditEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
