from __future__ import annotations

from django.urls import path

from keyhouse.identities import views

urlpatterns = [
    path("auth/oauth/providers", views.ProviderListApi.as_view(), name="oauth-providers"),
    path("auth/oauth/link", views.OAuthLinkApi.as_view(), name="oauth-link"),
    path("auth/oauth/link/send-code", views.OAuthLinkCodeApi.as_view(), name="oauth-link-code"),
    path(
        "auth/oauth/<str:provider>/authorize",
        views.OAuthAuthorizeApi.as_view(),
        name="oauth-authorize",
    ),
    path(
        "auth/oauth/<str:provider>/callback",
        views.OAuthCallbackApi.as_view(),
        name="oauth-callback",
    ),
    path("auth/oauth/<str:provider>/token", views.OAuthIdTokenApi.as_view(), name="oauth-token"),
    path("me/identities", views.IdentityListApi.as_view(), name="identity-list"),
    path(
        "me/identities/authorize",
        views.IdentityAuthorizeApi.as_view(),
        name="identity-authorize",
    ),
    path(
        "me/identities/<str:identity_id>",
        views.IdentityRemoveApi.as_view(),
        name="identity-remove",
    ),
]
