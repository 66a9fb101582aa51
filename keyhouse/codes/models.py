from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from keyhouse.core.models import TimeStampedModel


class Purpose(models.TextChoices):
    VERIFY_EMAIL = "verify_email", _("Verify email")
    VERIFY_PHONE = "verify_phone", _("Verify phone")
    PHONE_SIGN_IN = "phone_sign_in", _("Sign in by phone")
    EMAIL_SIGN_IN = "email_sign_in", _("Sign in by email")
    PASSWORD_RESET = "password_reset", _("Reset password")
    CHANGE_EMAIL = "change_email", _("Change email")
    CHANGE_PHONE = "change_phone", _("Change phone")
    LINK_IDENTITY = "link_identity", _("Link a provider identity")


# The purposes whose target is a phone number: their codes go by SMS.
SMS_PURPOSES = frozenset({Purpose.VERIFY_PHONE, Purpose.PHONE_SIGN_IN, Purpose.CHANGE_PHONE})


class OneTimeCode(TimeStampedModel):
    """A short code sent to an address or number, stored only as an HMAC.

    A code is live until it is consumed, replaced by a newer one for the same purpose
    and target (``invalidated_at``), expires, or has been guessed wrong too often.
    A code that Twilio Verify made is checked by Twilio (``provider``); its row keeps
    the limits, tries and expiry all the same.
    """

    class Provider(models.TextChoices):
        KEYHOUSE = "keyhouse", _("Keyhouse")
        TWILIO_VERIFY = "twilio_verify", _("Twilio Verify")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(_("purpose"), max_length=32, choices=Purpose.choices)
    target = models.CharField(
        _("target"), max_length=254, help_text=_("The email address or E.164 phone number.")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="one_time_codes",
    )
    provider = models.CharField(
        _("made by"),
        max_length=16,
        choices=Provider.choices,
        default=Provider.KEYHOUSE,
        help_text=_("Who made the code and checks it."),
    )
    code_hash = models.CharField(_("code HMAC"), max_length=64)
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("wrong tries"), default=0)
    consumed_at = models.DateTimeField(_("consumed at"), null=True, blank=True)
    invalidated_at = models.DateTimeField(_("replaced at"), null=True, blank=True)

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")
        ordering = ("-created_at",)
        indexes = [
            models.Index(
                fields=["purpose", "target", "-created_at"], name="codes_purpose_target_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} for {self.target}"
