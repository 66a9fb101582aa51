from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair, session_start


class InvalidCredentials(KeyhouseError):
    code = "invalid_credentials"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The email address or password is incorrect.")


class EmailNotVerified(KeyhouseError):
    code = "email_not_verified"
    status = HTTPStatus.FORBIDDEN
    message = _("Verify your email address before signing in with a password.")


def signin_with_password(
    *, email: str, password: str, client: ClientInfo, request: HttpRequest | None = None
) -> TokenPair:
    """Sign in with email and password and start a session.

    Unknown address, wrong password and inactive account all fail the same way after
    the same work: Django's ModelBackend hashes the password even when no user
    matches, so response times do not tell them apart. Whether the address is verified
    is told only to someone who has just proved the password.
    """
    user = authenticate(request, email=email, password=password)
    if user is None:
        audit_record(type=AuditEvent.Type.LOGIN_FAILED, client=client, detail={"email": email})
        raise InvalidCredentials
    if settings.KEYHOUSE_LOGIN_REQUIRES_VERIFIED_EMAIL and user.email_verified_at is None:
        raise EmailNotVerified
    pair = session_start(user=user, amr=[LoginSession.Method.PASSWORD], client=client)
    audit_record(
        type=AuditEvent.Type.LOGIN_SUCCEEDED,
        user_id=user.pk,
        client=client,
        detail={"method": "password", "session": str(pair.session.pk)},
    )
    return pair
