from __future__ import annotations

import uuid

from keyhouse.codes.models import OneTimeCode, Purpose


def code_live_target(*, purpose: Purpose | str, user_id: uuid.UUID) -> str | None:
    """The target of the user's newest live code for ``purpose`` (a pending change)."""
    return (
        OneTimeCode.objects.filter(
            purpose=purpose,
            user_id=user_id,
            consumed_at__isnull=True,
            invalidated_at__isnull=True,
        )
        .order_by("-created_at")
        .values_list("target", flat=True)
        .first()
    )
