"""Re-authentication: prove a password or code again before a sensitive operation.

What an operation needs is decided by ``keyhouse.mfa.services.assurance``; a TOTP
code or a passkey proven here also raises the session to aal2 (step-up).
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from django.utils.translation import gettext_lazy as _

from keyhouse.accounts.services.signin import (
    password_attempt_count,
    password_failures_clear,
    throttle_account,
)
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.services import code_check, code_send
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.mfa.services.factors import TOTP_AMR, totp_any_accept
from keyhouse.mfa.services.passkeys import PasskeyChallengeInvalid, PasskeyInvalid, passkey_assert
from keyhouse.tokens.services import session_authenticated
from keyhouse.users.models import User


class WrongPassword(KeyhouseError):
    code = "invalid_password"
    status = HTTPStatus.BAD_REQUEST
    message = _("The password is incorrect.")


class NoCodeChannel(KeyhouseError):
    code = "no_verified_phone"
    status = HTTPStatus.BAD_REQUEST
    message = _("This account has no verified phone or email to receive a code; use the password.")


def reauthentication_code_channel(*, user: User) -> tuple[Purpose, str] | None:
    """Where a re-authentication code goes: the verified phone, else the verified email."""
    if user.phone is not None and user.phone_verified_at is not None:
        return Purpose.PHONE_SIGN_IN, str(user.phone)
    if user.email and user.email_verified_at is not None:
        return Purpose.EMAIL_SIGN_IN, user.email
    return None


def reauthentication_code_send(*, user: User, client: ClientInfo) -> None:
    """Send a code to prove again, by SMS to the verified phone or else by email."""
    channel = reauthentication_code_channel(user=user)
    if channel is None:
        raise NoCodeChannel
    purpose, target = channel
    code_send(purpose=purpose, target=target, client=client, user=user)


def password_confirm(*, user: User, password: str, client: ClientInfo, field: str) -> None:
    """Check the user's password, recording a failure; raise WrongPassword if it is wrong.

    Counted against the same thresholds as sign-in, and called outside any
    transaction that its error would roll back, so that the failure stays recorded.
    """
    account = throttle_account(user)
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


def _passkey_confirm(*, user: User, passkey: dict[str, Any], client: ClientInfo) -> list[str]:
    """Check an assertion of one of the user's passkeys; return its ``amr``, or record the
    failure."""
    try:
        return passkey_assert(
            challenge_id=passkey["challenge_id"],
            credential=passkey["credential"],
            client=client,
            user_id=user.pk,
        ).amr
    except (PasskeyInvalid, PasskeyChallengeInvalid) as exc:
        audit_record(
            type=AuditEvent.Type.REAUTHENTICATION_FAILED,
            user_id=user.pk,
            client=client,
            detail={"method": "passkey", "reason": getattr(exc, "reason", exc.code)},
        )
        raise


def reauthenticate(
    *,
    user: User,
    session_id: uuid.UUID,
    client: ClientInfo,
    password: str | None = None,
    code: str | None = None,
    totp_code: str | None = None,
    passkey: dict[str, Any] | None = None,
    factor_id: uuid.UUID | None = None,
) -> None:
    """Prove the password, a code sent by ``reauthentication_code_send`` (or a phone
    sign-in code), an authenticator code or a passkey (``{"challenge_id", "credential"}``)
    again.

    An authenticator code or a passkey of the user raises the session to aal2; like a
    password, each code counts on the account's failed sign-in counters. With
    ``factor_id`` only that factor's code is accepted.
    """
    second_factor = None
    if password is not None:
        password_confirm(user=user, password=password, client=client, field="password")
        method = "password"
    elif totp_code is not None:
        password_attempt_count(account=throttle_account(user), ip=client.ip)
        totp_any_accept(
            user=user,
            code=totp_code,
            client=client,
            during="reauthenticate",
            factor_id=factor_id,
        )
        second_factor, method = TOTP_AMR, "totp"
    elif passkey is not None:
        second_factor = _passkey_confirm(user=user, passkey=passkey, client=client)
        method = "passkey"
    else:
        channel = reauthentication_code_channel(user=user)
        if channel is None:
            raise NoCodeChannel
        purpose, target = channel
        code_check(
            purpose=purpose,
            target=target,
            code=code or "",
            client=client,
            user_id=user.pk,
            anonymous=False,
        )
        method = "sms" if purpose == Purpose.PHONE_SIGN_IN else "email"
    session_authenticated(session_id=session_id, second_factor=second_factor)
    audit_record(
        type=AuditEvent.Type.REAUTHENTICATED,
        user_id=user.pk,
        client=client,
        detail={"method": method},
    )
