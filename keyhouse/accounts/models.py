from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from keyhouse.codes.models import OneTimeCode
from keyhouse.core.models import TimeStampedModel


class PendingSignup(TimeStampedModel):
    """A sign-up waiting for its code: the account to create once the address is proven.

    No user exists until the code comes back, so an address that nobody has proven
    belongs to no one. There is one per address, in its canonical form: a newer
    sign-up replaces the name and code, and the password with an unusable one unless
    it is the same password (see ``keyhouse.accounts.services.signup``). It lasts as
    long as its code is kept (the purge of expired codes removes both).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("email address"), max_length=254, unique=True)
    password = models.CharField(_("password"), max_length=128)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    code = models.OneToOneField(
        OneTimeCode,
        on_delete=models.CASCADE,
        related_name="pending_signup",
        verbose_name=_("code"),
        help_text=_("The code last sent for this sign-up: only it creates the account."),
    )

    class Meta:
        verbose_name = _("pending sign-up")
        verbose_name_plural = _("pending sign-ups")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.email
