from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One security-relevant event: who, from where, when, and a small secret-free detail."""

    class Type(models.TextChoices):
        SIGNED_UP = "signed_up", _("Signed up")
        EMAIL_VERIFIED = "email_verified", _("Email verified")
        CODE_SENT = "code_sent", _("Code sent")
        CODE_CHECKED = "code_checked", _("Code checked")
        CODE_CHECK_FAILED = "code_check_failed", _("Code check failed")
        LOGIN_SUCCEEDED = "login_succeeded", _("Login succeeded")
        LOGIN_FAILED = "login_failed", _("Login failed")
        REFRESH_REUSED = "refresh_reused", _("Refresh token reused")
        LOGOUT = "logout", _("Logout")
        SESSION_REVOKED = "session_revoked", _("Session revoked")
        SIGNING_KEY_ROTATED = "signing_key_rotated", _("Signing key rotated")
        REAUTHENTICATED = "reauthenticated", _("Re-authenticated")
        REAUTHENTICATION_FAILED = "reauthentication_failed", _("Re-authentication failed")
        PASSWORD_RESET = "password_reset", _("Password reset")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        EMAIL_CHANGED = "email_changed", _("Email changed")
        PHONE_VERIFIED = "phone_verified", _("Phone verified")
        PHONE_CHANGED = "phone_changed", _("Phone changed")
        PROFILE_UPDATED = "profile_updated", _("Profile updated")
        ACCOUNT_DELETED = "account_deleted", _("Account deleted")
        USER_DEACTIVATED = "user_deactivated", _("User deactivated")
        USER_REACTIVATED = "user_reactivated", _("User reactivated")
        MFA_FACTOR_ENROLLED = "mfa_factor_enrolled", _("Second factor enrolled")
        MFA_FACTOR_CONFIRMED = "mfa_factor_confirmed", _("Second factor confirmed")
        MFA_FACTOR_REMOVED = "mfa_factor_removed", _("Second factor removed")
        MFA_CHALLENGE_ISSUED = "mfa_challenge_issued", _("Second factor asked for")
        MFA_CHALLENGE_SUCCEEDED = "mfa_challenge_succeeded", _("Second factor proven")
        MFA_CHALLENGE_FAILED = "mfa_challenge_failed", _("Second factor check failed")
        RECOVERY_CODES_GENERATED = "recovery_codes_generated", _("Recovery codes generated")
        RECOVERY_CODE_USED = "recovery_code_used", _("Recovery code used")
        PASSKEY_REGISTERED = "passkey_registered", _("Passkey registered")
        PASSKEY_REMOVED = "passkey_removed", _("Passkey removed")
        PASSKEY_SIGN_COUNT_REGRESSED = (
            "passkey_sign_count_regressed",
            _("Passkey counter went back (cloned authenticator?)"),
        )
        IDENTITY_LINK_REQUIRED = "identity_link_required", _("Identity waits to be linked")
        IDENTITY_LINKED = "identity_linked", _("Identity linked")
        IDENTITY_UNLINKED = "identity_unlinked", _("Identity removed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40, choices=Type.choices, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_type_display()} at {self.created_at:%Y-%m-%d %H:%M:%S}"
