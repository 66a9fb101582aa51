from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.base_user import BaseUserManager
from django.db.models import Value
from django.db.models.functions import Lower

# validate_email_domain is imported here too: migrations name it by this module.
from keyhouse.users.emails import email_canonical, validate_email_domain

__all__ = ["UserManager", "validate_email_domain"]


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """Django's hook for the form of a stored address: the canonical one."""
        return email_canonical(email or "")

    def get_by_natural_key(self, username: str | None):
        """Find a user by email case-insensitively (Django's admin login uses this)."""
        email = self.normalize_email(username)
        if not email:  # accounts made by phone have no address to match
            raise self.model.DoesNotExist
        # The unique index on LOWER(email) leaves out accounts without an address; the
        # lookup must say so too, or PostgreSQL cannot use it and scans the whole table.
        return self.exclude(email="").get(email__lower=Lower(Value(email)))

    def create_user(self, email: str | None, password: str | None = None, **fields: Any):
        """Create a user with an email address, or with a phone number only.

        A password must meet the policy (AUTH_PASSWORD_VALIDATORS), which every way of
        setting one applies: the API's services, the admin's forms, and through this
        method createsuperuser, with or without --noinput, and any other caller. A
        ValidationError lists the rules it breaks.
        """
        if not email and not fields.get("phone"):
            raise ValueError("Users must have an email address or a phone number.")
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        user = self.model(email=self.normalize_email(email), **fields)
        if password is not None:
            password_validation.validate_password(password, user=user)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any):
        if not email:
            raise ValueError("Admins must have an email address.")
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self.create_user(email, password, **fields)
