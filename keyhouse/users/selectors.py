from __future__ import annotations

import uuid

from keyhouse.core.queries import CompiledLookup
from keyhouse.users.models import User

# Every request that needs more of its caller than the token says loads the user by id.
_user_by_id = CompiledLookup(User, field="pk", sample=uuid.UUID(int=0))


def user_get_by_email(*, email: str) -> User | None:
    """Find the user with this address, compared case-insensitively after normalising."""
    try:
        return User.objects.get_by_natural_key(email)
    except User.DoesNotExist:
        return None


def user_get_active(*, user_id: uuid.UUID) -> User | None:
    """The active user with this id, or None (deleted, or deactivated): one query."""
    user = _user_by_id.get(user_id)
    return user if user is not None and user.is_active else None
