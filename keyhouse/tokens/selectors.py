from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from keyhouse.tokens.models import LoginSession


def session_list_live(*, user_id: uuid.UUID) -> QuerySet[LoginSession]:
    """The user's sessions that can still be refreshed, most recently used first."""
    now = timezone.now()
    idle_cutoff = now - timedelta(seconds=settings.KEYHOUSE_SESSION_IDLE_TIMEOUT)
    return LoginSession.objects.filter(
        user_id=user_id,
        revoked_at__isnull=True,
        expires_at__gt=now,
        last_refreshed_at__gt=idle_cutoff,
    )


def session_get_for_user(*, user_id: uuid.UUID, session_id: uuid.UUID) -> LoginSession | None:
    return (
        LoginSession.objects.select_related("user")
        .filter(pk=session_id, user_id=user_id, revoked_at__isnull=True)
        .first()
    )
