"""Recent authentication for sensitive operations (NIST SP 800-63B section 4.4)."""

from __future__ import annotations

import uuid
from http import HTTPStatus

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from keyhouse.accounts.services.signin import password_attempt_count, password_failures_clear
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.services import code_check
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.tokens.services import session_authenticated, session_recently_authenticated
from keyhouse.users.models import User


class ReauthenticationRequired(KeyhouseError):
    code = "reauthentication_required"
    status = HTTPStatus.FORBIDDEN
    message = _("Confirm your password or a code first (POST /api/v1/auth/reauthenticate).")


class WrongPassword(KeyhouseError):
    code = "invalid_password"
    status = HTTPStatus.BAD_REQUEST
    message = _("The password is incorrect.")


class NoCodeChannel(KeyhouseError):
    code = "no_verified_phone"
    status = HTTPStatus.BAD_REQUEST
    message = _("This account has no verified phone to receive a code; use the password.")


def reauthentication_require(*, session_id: uuid.UUID) -> None:
    """Refuse a sensitive operation unless the session authenticated recently."""
    if not session_recently_authenticated(
        session_id=session_id, within=settings.KEYHOUSE_REAUTHENTICATION_WINDOW
    ):
        raise ReauthenticationRequired


def password_confirm(*, user: User, password: str, client: ClientInfo, field: str) -> None:
    """Check the user's password, recording a failure; raise WrongPassword if it is wrong.

    Counted against the same thresholds as sign-in, and called outside any
    transaction that its error would roll back, so that the failure stays recorded.
    """
    account = user.email or str(user.pk)
    password_attempt_count(account=account, ip=client.ip)
    if user.check_password(password):
        password_failures_clear(account=account)
    else:
        audit_record(
            type=AuditEvent.Type.REAUTHENTICATION_FAILED,
            user_id=user.pk,
            client=client,
            detail={"method": "password"},
        )
        raise WrongPassword(fields={field: [WrongPassword.message]})


def reauthenticate(
    *,
    user: User,
    session_id: uuid.UUID,
    client: ClientInfo,
    password: str | None = None,
    code: str | None = None,
) -> None:
    """Prove the password, or a phone sign-in code, again in this session."""
    if password is not None:
        password_confirm(user=user, password=password, client=client, field="password")
        method = "password"
    else:
        if user.phone is None or user.phone_verified_at is None:
            raise NoCodeChannel
        code_check(
            purpose=Purpose.PHONE_SIGN_IN,
            target=str(user.phone),
            code=code or "",
            client=client,
            user_id=user.pk,
            anonymous=False,
        )
        method = "sms"
    session_authenticated(session_id=session_id)
    audit_record(
        type=AuditEvent.Type.REAUTHENTICATED,
        user_id=user.pk,
        client=client,
        detail={"method": method},
    )
