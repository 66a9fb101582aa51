"""Deploy check: access tokens cannot be issued without a signing key."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.db import DatabaseError

from keyhouse.tokens.models import SigningKey


@register(deploy=True)
def check_signing_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        missing = not SigningKey.objects.filter(retired_at__isnull=True).exists()
    except DatabaseError:
        return []  # core.E012 or E013 already says what is wrong with the database
    if missing:
        return [
            Error(
                "No signing key: access tokens cannot be issued.",
                hint="Run 'python manage.py rotate_signing_key' (or with --pem FILE).",
                id="tokens.E001",
            )
        ]
    return []
