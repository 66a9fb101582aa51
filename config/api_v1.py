"""Version 1 of the API: each app's routes under one namespace."""

from __future__ import annotations

from django.urls import include, path

app_name = "v1"

urlpatterns = [
    path("", include("keyhouse.accounts.urls")),
    path("", include("keyhouse.tokens.urls")),
    path("", include("keyhouse.audit.urls")),
    path("", include("keyhouse.mfa.urls")),
    path("", include("keyhouse.identities.urls")),
]
