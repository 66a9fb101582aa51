"""Keyhouse's routes exactly as in production, then the bench's floor views.

The floor views come last, so that Keyhouse's own routes resolve as fast as they do in
production and the floor pays for walking past them (the reference does the same).
"""

from __future__ import annotations

from django.urls import path

from config.urls import handler404, handler500
from config.urls import urlpatterns as keyhouse_urlpatterns
from keyhouse_bench import views

__all__ = ["handler404", "handler500", "urlpatterns"]

urlpatterns = [
    *keyhouse_urlpatterns,
    path("bench/django", views.plain_django),
    path("bench/bare", views.BareApi.as_view()),
    path("bench/authenticated", views.AuthenticatedApi.as_view()),
]
