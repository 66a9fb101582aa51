"""The OpenAPI schema of each view, with the rate limits its ``rate_limit`` declares."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular import openapi


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, plus each operation's rate limits: the rules in force
    (from KEYHOUSE_RATE_LIMITS, so the served schema says what this server does), the
    variable that sets them, and the 429 answer."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        handler = getattr(self.view, self.method.lower(), None)
        action = getattr(handler, "rate_limit_action", None)
        if operation is None or action is None:
            return operation
        rules = settings.KEYHOUSE_RATE_LIMITS.get(action, "") or "none"
        variable = f"KEYHOUSE_RATE_LIMIT_{action.upper()}"
        operation["x-rate-limit"] = {"rules": rules, "setting": variable}
        note = f"Rate limit: {rules} (`{variable}`)."
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\n{note}" if description else note
        operation["responses"].setdefault(
            "429",
            {
                "description": "Too many requests: a problem with code `rate_limited` and a "
                "`Retry-After` header."
            },
        )
        return operation
