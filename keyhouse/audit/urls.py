from __future__ import annotations

from django.urls import path

from keyhouse.audit.views import MyEventsApi

urlpatterns = [
    path("me/events", MyEventsApi.as_view(), name="my-events"),
]
