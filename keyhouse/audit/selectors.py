from __future__ import annotations

import uuid

from django.db.models import QuerySet

from keyhouse.audit.models import AuditEvent


def audit_events_for_user(*, user_id: uuid.UUID, limit: int) -> QuerySet[AuditEvent]:
    """The user's most recent security events, newest first."""
    return AuditEvent.objects.filter(user_id=user_id).order_by("-created_at")[:limit]
