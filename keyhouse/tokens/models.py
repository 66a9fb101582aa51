from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SigningKey(models.Model):
    """An asymmetric key that signs access tokens; its private half is encrypted at rest.

    A key is published from its creation, signs from ``activates_at`` until
    ``retired_at`` (when the next key takes over), and stays published until every
    token it signed has expired.
    """

    kid = models.CharField(max_length=64, primary_key=True)
    algorithm = models.CharField(max_length=10)
    private_key = models.TextField(help_text=_("PEM, encrypted with a key derived from SECRET_KEY"))
    public_jwk = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    activates_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-activates_at",)

    def __str__(self) -> str:
        return f"{self.algorithm} {self.kid}"


class LoginSession(models.Model):
    """One sign-in on one device, kept alive by rotating refresh tokens."""

    class Method(models.TextChoices):
        PASSWORD = "pwd", _("Password")
        EMAIL_CODE = "otp", _("Email code")
        SMS_CODE = "sms", _("SMS code")

    class Level(models.TextChoices):
        """Authenticator assurance level (NIST SP 800-63B): aal2 took a second factor."""

        AAL1 = "aal1", _("One factor")
        AAL2 = "aal2", _("Two factors")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions"
    )
    amr = models.JSONField(default=list, help_text=_("How the user authenticated (RFC 8176)"))
    aal = models.CharField(
        max_length=4,
        choices=Level.choices,
        default=Level.AAL1,
        help_text=_("The assurance level this session reached"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_refreshed_at = models.DateTimeField()
    authenticated_at = models.DateTimeField(
        help_text=_("Last time the user proved a password or code in this session")
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    expires_at = models.DateTimeField(help_text=_("Absolute end of the session"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ("-last_refreshed_at",)
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"session {self.id} of {self.user_id}"

    @property
    def idle_expires_at(self) -> datetime:
        return self.last_refreshed_at + timedelta(seconds=settings.KEYHOUSE_SESSION_IDLE_TIMEOUT)

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < min(self.expires_at, self.idle_expires_at)


class RefreshToken(models.Model):
    """A refresh token of a session, stored only as a keyed hash; each is used once."""

    id = models.BigAutoField(primary_key=True)
    session = models.ForeignKey(
        LoginSession, on_delete=models.CASCADE, related_name="refresh_tokens"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token {self.id} of session {self.session_id}"
