from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from refapp import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("auth/", include("djoser.urls")),
    path("auth/", include("djoser.urls.jwt")),
    path("bench/django", views.plain_django),
    path("bench/bare", views.BareApi.as_view()),
    path("bench/authenticated", views.AuthenticatedApi.as_view()),
]
