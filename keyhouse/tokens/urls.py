from __future__ import annotations

from django.urls import path

from keyhouse.tokens.views import (
    LogoutApi,
    SessionListApi,
    SessionRevokeApi,
    TokenRefreshApi,
    TokenRevokeApi,
)

urlpatterns = [
    path("auth/token/refresh", TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/token/revoke", TokenRevokeApi.as_view(), name="token-revoke"),
    path("auth/logout", LogoutApi.as_view(), name="logout"),
    path("me/sessions", SessionListApi.as_view(), name="session-list"),
    path("me/sessions/<uuid:session_id>", SessionRevokeApi.as_view(), name="session-revoke"),
]
