from __future__ import annotations

from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "keyhouse.users"
    label = "users"
    verbose_name = "Users"
