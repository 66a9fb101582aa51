from __future__ import annotations

from typing import Any

import idna
from django.contrib.auth import password_validation
from django.contrib.auth.base_user import BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


def _encode_domain(domain: str) -> str:
    return idna.encode(domain, uts46=True).decode("ascii")


def normalize_email(email: str) -> str:
    """Trim the address and lower-case and IDNA-encode its domain.

    The local part keeps its case (RFC 5321 section 2.4 lets a server distinguish
    it), while uniqueness and lookups compare the whole address case-insensitively.
    A domain IDNA cannot encode is only lower-cased, so that a lookup of any input
    still runs (and finds no one): ``validate_email_domain`` keeps it out of storage.
    """
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    try:
        domain = _encode_domain(domain)
    except idna.IDNAError:
        domain = domain.lower()
    return f"{local}@{domain.lower()}"


def validate_email_domain(email: str) -> None:
    """Refuse an address whose domain IDNA cannot encode, as no mail could reach it.

    EmailValidator accepts a label of 63 characters, which can pass DNS's limit of 63
    bytes once in Punycode ("ß" * 63). Only names it accepts are checked here: address
    literals and malformed names are its to judge, so an address gets one error.
    """
    domain = email.rpartition("@")[2]
    if not EmailValidator.domain_regex.match(domain):
        return
    try:
        _encode_domain(domain)
    except idna.IDNAError:
        raise ValidationError(
            _("Enter a valid email address: its domain cannot be encoded for DNS."),
            code="invalid",
        ) from None


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        return normalize_email(email or "")

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
