from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from keyhouse.core.queries import CompiledLookup
from keyhouse.tokens.models import LoginSession, RefreshToken

# Every refresh finds its token, locked, with the token's session and user.
_refresh_token_by_hash = CompiledLookup(
    RefreshToken, field="token_hash", sample="", related="session__user", lock=True
)


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


def refresh_token_locked(*, token_hash: str) -> RefreshToken | None:
    """The refresh token with this hash, its row locked until the transaction ends, with
    its session and the session's user; None if there is none. One query."""
    return _refresh_token_by_hash.get(token_hash)
