"""What the GoTrue-shaped API keeps that Keyhouse's own model has no field for."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from keyhouse.core.models import TimeStampedModel


class UserMetadata(TimeStampedModel):
    """A user's ``user_metadata``: a JSON object the user writes (``data`` of PUT /user).

    It is the user's own, as in GoTrue: nothing in Keyhouse trusts it for a decision.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="gotrue_metadata",
    )
    data = models.JSONField(_("user metadata"), default=dict, blank=True)

    class Meta:
        verbose_name = _("user metadata")
        verbose_name_plural = _("user metadata")

    def __str__(self) -> str:
        return str(self.user_id)
