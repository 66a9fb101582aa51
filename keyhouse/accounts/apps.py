from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "keyhouse.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from keyhouse.accounts import schema  # noqa: F401 - registers the schema extensions
