from __future__ import annotations

from django.urls import path

from keyhouse.accounts.views import EmailResendApi, EmailVerifyApi, LoginApi, SignupApi

urlpatterns = [
    path("auth/login", LoginApi.as_view(), name="login"),
    path("auth/signup", SignupApi.as_view(), name="signup"),
    path("auth/email/verify", EmailVerifyApi.as_view(), name="email-verify"),
    path("auth/email/resend", EmailResendApi.as_view(), name="email-resend"),
]
