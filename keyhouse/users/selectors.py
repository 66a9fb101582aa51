from __future__ import annotations

from keyhouse.users.models import User


def user_get_by_email(*, email: str) -> User | None:
    """Find the user with this address, compared case-insensitively after normalising."""
    try:
        return User.objects.get_by_natural_key(email)
    except User.DoesNotExist:
        return None
