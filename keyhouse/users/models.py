from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from keyhouse.users.emails import email_canonical, validate_email_domain
from keyhouse.users.managers import UserManager

# Lets queries say email__lower=..., which uses the case-insensitive unique index.
models.EmailField.register_lookup(Lower)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: by email and password, or by phone and a one-time code."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(
        _("email address"),
        max_length=254,
        blank=True,
        help_text=_("Empty for accounts that signed up by phone."),
        validators=[validate_email_domain],
    )
    phone = PhoneNumberField(_("phone number"), blank=True, null=True, unique=True)
    email_verified_at = models.DateTimeField(_("email verified at"), blank=True, null=True)
    phone_verified_at = models.DateTimeField(_("phone verified at"), blank=True, null=True)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Inactive users cannot sign in. Deactivate instead of deleting."),
    )
    is_staff = models.BooleanField(
        _("staff status"),
        default=False,
        help_text=_("Designates whether the user can sign in to this admin site."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ("-date_joined",)
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="users_user_email_ci_unique",
                violation_error_message=_("A user with this email address already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.email or str(self.phone)

    def clean(self) -> None:
        super().clean()
        self.email = email_canonical(self.email)

    def get_full_name(self) -> str:
        return self.display_name or str(self)

    def get_short_name(self) -> str:
        return self.display_name or str(self)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def phone_verified(self) -> bool:
        return self.phone_verified_at is not None
