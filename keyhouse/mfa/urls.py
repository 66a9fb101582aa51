from __future__ import annotations

from django.urls import path

from keyhouse.mfa import views

urlpatterns = [
    path("me/mfa", views.MfaStatusApi.as_view(), name="mfa"),
    path("me/mfa/totp", views.TotpEnrolApi.as_view(), name="mfa-totp-enrol"),
    path(
        "me/mfa/totp/<str:factor_id>/confirm",
        views.TotpConfirmApi.as_view(),
        name="mfa-totp-confirm",
    ),
    path(
        "me/mfa/recovery-codes",
        views.RecoveryCodesRegenerateApi.as_view(),
        name="mfa-recovery-codes",
    ),
    path("me/mfa/<str:factor_id>", views.MfaFactorRemoveApi.as_view(), name="mfa-factor"),
    path("me/passkeys", views.PasskeyListApi.as_view(), name="passkeys"),
    path(
        "me/passkeys/options",
        views.PasskeyRegistrationOptionsApi.as_view(),
        name="passkey-registration-options",
    ),
    path("me/passkeys/<str:passkey_id>", views.PasskeyDetailApi.as_view(), name="passkey"),
    path("auth/passkey/options", views.PasskeySignInOptionsApi.as_view(), name="passkey-options"),
    path("auth/passkey/verify", views.PasskeySignInApi.as_view(), name="passkey-verify"),
]
