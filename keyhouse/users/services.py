from __future__ import annotations

from http import HTTPStatus

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.core.exceptions import VALIDATION_ERROR, KeyhouseError
from keyhouse.users.emails import email_canonical
from keyhouse.users.models import User


class EmailTaken(KeyhouseError):
    code = "email_taken"
    status = HTTPStatus.CONFLICT
    message = _("A user with this email address already exists.")


class InvalidPassword(KeyhouseError):
    code = VALIDATION_ERROR
    message = _("The request has invalid fields.")


def user_password_validate(*, user: User, password: str, field: str = "password") -> None:
    """Apply the password policy (NIST SP 800-63B, Django's validators) for ``user``.

    Raises InvalidPassword with each broken rule under ``field``, with its own code
    (``password_too_short``, ``password_too_common``, ``password_too_similar``).
    """
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise InvalidPassword(fields={field: exc.error_list}) from exc


def password_min_length() -> int | None:
    """The shortest password the policy accepts, if it sets a minimum length."""
    lengths = [
        validator.min_length
        for validator in password_validation.get_default_password_validators()
        if isinstance(validator, password_validation.MinimumLengthValidator)
    ]
    return max(lengths, default=None)


def user_profile_update(*, user: User, display_name: str) -> User:
    user.display_name = display_name
    user.save(update_fields=["display_name"])
    return user


def user_create(
    *,
    email: str,
    password: str | None = None,
    password_hash: str | None = None,
    display_name: str = "",
    is_active: bool = True,
    email_verified: bool = False,
) -> User:
    """Create a user; the database's case-insensitive constraint decides any race.

    Give the ``password`` in clear, or its ``password_hash`` made before (by
    ``make_password``); with neither, the user has no usable password.
    """
    fields = {
        "display_name": display_name,
        "is_active": is_active,
        "email_verified_at": timezone.now() if email_verified else None,
    }
    try:
        with transaction.atomic():
            if password_hash is None:
                return User.objects.create_user(email=email, password=password, **fields)
            return User.objects.create(
                email=email_canonical(email), password=password_hash, **fields
            )
    except IntegrityError as exc:
        raise EmailTaken from exc
