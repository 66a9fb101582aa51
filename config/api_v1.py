"""Version 1 of the API: each app's routes under one namespace."""

from __future__ import annotations

app_name = "v1"

urlpatterns: list = []
