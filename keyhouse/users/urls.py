from __future__ import annotations

from django.urls import path

from keyhouse.users.views import MeApi

urlpatterns = [
    path("me", MeApi.as_view(), name="me"),
]
