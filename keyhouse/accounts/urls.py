from __future__ import annotations

from django.urls import path

from keyhouse.accounts import views

urlpatterns = [
    path("auth/login", views.LoginApi.as_view(), name="login"),
    path("auth/signup", views.SignupApi.as_view(), name="signup"),
    path("auth/email/verify", views.EmailVerifyApi.as_view(), name="email-verify"),
    path("auth/email/resend", views.EmailResendApi.as_view(), name="email-resend"),
    path("auth/password/forgot", views.PasswordForgotApi.as_view(), name="password-forgot"),
    path("auth/password/reset", views.PasswordResetApi.as_view(), name="password-reset"),
    path("auth/mfa/verify", views.MfaVerifyApi.as_view(), name="mfa-verify"),
    path("auth/reauthenticate", views.ReauthenticateApi.as_view(), name="reauthenticate"),
    path("auth/phone/send-code", views.PhoneSendCodeApi.as_view(), name="phone-send-code"),
    path("auth/phone/verify", views.PhoneVerifyApi.as_view(), name="phone-verify"),
    path("me", views.MeApi.as_view(), name="me"),
    path("me/phone", views.PhoneChangeApi.as_view(), name="phone-change"),
    path("me/phone/verify", views.PhoneChangeVerifyApi.as_view(), name="phone-change-verify"),
    path("me/password", views.PasswordChangeApi.as_view(), name="password-change"),
    path("me/email", views.EmailChangeApi.as_view(), name="email-change"),
    path("me/email/verify", views.EmailChangeVerifyApi.as_view(), name="email-change-verify"),
]
