from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from keyhouse.core.models import TimeStampedModel


class Identity(TimeStampedModel):
    """A way to sign in that a provider vouches for: its subject there, and the email it gave."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities"
    )
    provider = models.CharField(_("provider"), max_length=32)
    subject = models.CharField(
        _("subject"), max_length=255, help_text=_("The provider's stable id of the person.")
    )
    email = models.EmailField(_("email at the provider"), max_length=254, blank=True)
    email_verified = models.BooleanField(_("email verified by the provider"), default=False)
    last_sign_in_at = models.DateTimeField(_("last sign-in"), null=True, blank=True)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        ordering = ("created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("provider", "subject"), name="identities_provider_subject_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.subject}"


class OAuthState(models.Model):
    """A browser sign-in under way at a provider: what the callback needs, for 10 minutes.

    ``state`` itself travels through the provider and comes back once; only its keyed
    hash is stored. ``user`` is set when a signed-in user adds the identity;
    ``add_signs_in`` when that adding ends in a sign-in (GoTrue's linkIdentity).
    """

    id = models.BigAutoField(primary_key=True)
    state_hash = models.CharField(max_length=64, unique=True)
    provider = models.CharField(max_length=32)
    redirect_to = models.URLField(max_length=2048)
    app_state = models.CharField(max_length=512, blank=True)
    code_challenge = models.CharField(max_length=128)
    code_verifier = models.TextField(help_text=_("PKCE verifier for the provider, encrypted"))
    nonce = models.CharField(max_length=64, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    add_signs_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.provider} sign-in started {self.created_at:%Y-%m-%d %H:%M:%S}"


class OAuthCode(models.Model):
    """The one-time code a browser app exchanges, with its PKCE verifier, after a callback.

    It holds what the provider vouched for; the exchange decides what it leads to
    (tokens, a second-factor challenge, a link), as the native flow does.
    """

    id = models.BigAutoField(primary_key=True)
    code_hash = models.CharField(max_length=64, unique=True)
    code_challenge = models.CharField(max_length=128)
    redirect_to = models.URLField(max_length=2048)
    provider = models.CharField(max_length=32)
    subject = models.CharField(max_length=255)
    email = models.EmailField(max_length=254, blank=True)
    email_verified = models.BooleanField(default=False)
    name = models.CharField(max_length=150, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    add_signs_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.provider} code {self.pk}"


class IdentityLink(models.Model):
    """A provider identity waiting for its owner to prove the account it would join."""

    id = models.BigAutoField(primary_key=True)
    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=32)
    subject = models.CharField(max_length=255)
    email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.provider}:{self.subject} waiting to join {self.user_id}"
