from __future__ import annotations

from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "keyhouse.tokens"
    label = "tokens"
    verbose_name = "Tokens and sessions"

    def ready(self) -> None:
        from keyhouse.tokens import schema  # noqa: F401 - registers the extension
