from __future__ import annotations

from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "keyhouse.users"
    label = "users"
    verbose_name = "Users"

    def ready(self) -> None:
        from keyhouse.users import checks  # noqa: F401 - registers the system checks
