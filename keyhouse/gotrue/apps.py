from __future__ import annotations

from django.apps import AppConfig


class GoTrueConfig(AppConfig):
    name = "keyhouse.gotrue"
    label = "gotrue"
    verbose_name = "GoTrue-compatible API"
