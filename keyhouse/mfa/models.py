"""Second factors of a user, and the challenges a sign-in answers with them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TotpFactor(models.Model):
    """An authenticator app (RFC 6238), pending until a first code confirms it.

    The seed is encrypted at rest like the signing keys. ``last_step`` is the time-step
    of the last code accepted: a code counts only for a later step, so none works twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_factors"
    )
    name = models.CharField(max_length=64)
    secret = models.TextField(
        help_text=_("Base32 seed, encrypted with a key derived from SECRET_KEY")
    )
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at",)
        verbose_name = _("TOTP factor")

    def __str__(self) -> str:
        return f"{self.name} ({'confirmed' if self.confirmed_at else 'pending'})"


class RecoveryCode(models.Model):
    """A single-use code that stands in for a lost authenticator, stored as a keyed hash."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="mfa_recovery_code_unique")
        ]

    def __str__(self) -> str:
        return f"recovery code {self.id} of {self.user_id}"


class MfaChallenge(models.Model):
    """The answer to a first factor on an account with a second one: single use, short-lived.

    Only a keyed hash of its token is stored. ``amr`` is how the first factor was
    proven, which the session started after the second factor carries on.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mfa_challenges"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    amr = models.JSONField(default=list)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"challenge {self.id} of {self.user_id}"


class PasskeyUserHandle(models.Model):
    """The opaque user handle (WebAuthn ``user.id``) of an account's passkeys.

    Random, one per account, never the email or the primary key: authenticators store it
    with every passkey and give it back at sign-in, so it must tell nothing about the
    account to whoever reads the authenticator.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="passkey_user_handle",
    )
    handle = models.CharField(max_length=64, unique=True, help_text=_("base64url"))

    def __str__(self) -> str:
        return f"passkey handle of {self.user_id}"


class Passkey(models.Model):
    """A WebAuthn credential: a key pair whose private half never leaves the authenticator.

    ``sign_count`` is the authenticator's counter from its last assertion; one that goes
    back means a cloned authenticator (WebAuthn section 6.1.1). Authenticators that keep
    no counter always report 0.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys"
    )
    name = models.CharField(max_length=64)
    credential_id = models.CharField(max_length=1400, unique=True, help_text=_("base64url"))
    public_key = models.BinaryField(help_text=_("COSE_Key"))
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    backup_eligible = models.BooleanField(default=False)
    backed_up = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at",)

    def __str__(self) -> str:
        return self.name


class PasskeyChallenge(models.Model):
    """A WebAuthn challenge held by the server: single use, 5 minutes.

    Kept in the database rather than a cookie, so that apps without cookies and
    browsers alike can answer it. Registration challenges belong to the signed-in
    user; sign-in challenges to nobody until a passkey answers.
    """

    class Purpose(models.TextChoices):
        REGISTER = "register", _("Registration")
        AUTHENTICATE = "authenticate", _("Authentication")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=12, choices=Purpose.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="passkey_challenges",
    )
    challenge = models.CharField(max_length=64, unique=True, help_text=_("base64url"))
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.purpose} challenge {self.id}"
