from __future__ import annotations

from http import HTTPStatus

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from keyhouse.core.exceptions import KeyhouseError
from keyhouse.users.models import User


class EmailTaken(KeyhouseError):
    code = "email_taken"
    status = HTTPStatus.CONFLICT
    message = _("A user with this email address already exists.")


def user_create(
    *, email: str, password: str | None, display_name: str = "", is_active: bool = True
) -> User:
    """Create a user; the database's case-insensitive constraint decides any race."""
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=email, password=password, display_name=display_name, is_active=is_active
            )
    except IntegrityError as exc:
        raise EmailTaken from exc
