"""The GoTrue API, mounted at /auth/v1/ (where supabase-js looks for it)."""

from __future__ import annotations

from django.urls import path, re_path

from keyhouse.gotrue import social, views

app_name = "gotrue"

urlpatterns = [
    path("settings", views.SettingsApi.as_view(), name="settings"),
    path(".well-known/jwks.json", views.JwksApi.as_view(), name="jwks"),
    path("signup", views.SignupApi.as_view(), name="signup"),
    path("token", social.TokenApi.as_view(), name="token"),
    path("otp", views.OtpApi.as_view(), name="otp"),
    path("verify", views.VerifyApi.as_view(), name="verify"),
    path("resend", views.ResendApi.as_view(), name="resend"),
    path("recover", views.RecoverApi.as_view(), name="recover"),
    path("reauthenticate", views.ReauthenticateApi.as_view(), name="reauthenticate"),
    path("user", views.UserApi.as_view(), name="user"),
    path("authorize", social.AuthorizeApi.as_view(), name="authorize"),
    path(
        "user/identities/authorize",
        social.IdentityAuthorizeApi.as_view(),
        name="identity-authorize",
    ),
    path("user/identities/<str:identity_id>", social.IdentityApi.as_view(), name="identity"),
    path("logout", views.LogoutApi.as_view(), name="logout"),
    path("factors", views.FactorsApi.as_view(), name="factors"),
    path(
        "factors/<uuid:factor_id>/challenge",
        views.FactorChallengeApi.as_view(),
        name="factor-challenge",
    ),
    path("factors/<uuid:factor_id>/verify", views.FactorVerifyApi.as_view(), name="factor-verify"),
    path("factors/<uuid:factor_id>", views.FactorApi.as_view(), name="factor"),
    re_path(r"^.*$", views.NotFoundApi.as_view(), name="not-found"),
]
