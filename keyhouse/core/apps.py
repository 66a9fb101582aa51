from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "keyhouse.core"
    label = "core"
    verbose_name = "Keyhouse core"

    def ready(self) -> None:
        from keyhouse.core import checks  # noqa: F401 - registers the system checks
