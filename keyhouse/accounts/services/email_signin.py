"""Sign in with a code sent by email, to an account that already has the address.

A code by email proves the mailbox as a password reset does, so it signs the owner in
(RFC 8176 ``otp``); an account with a second factor is challenged for it as at every
sign-in. No account is created here: an address becomes an account only through
sign-up, whose code answers ``email_verify``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from keyhouse.accounts.models import PendingSignup
from keyhouse.accounts.services.signin import password_failures_clear
from keyhouse.accounts.services.signup import email_verify
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.services import CodeInvalid, code_check, code_limits_hit, code_send
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.mfa.services.challenges import MfaChallengeIssued, signin_complete
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email


@transaction.atomic
def email_sign_in_code_send(*, email: str, client: ClientInfo) -> None:
    """Mail a sign-in code to an active account; count the request for any address.

    The caller answers the same either way, as ``password_forgot`` does.
    """
    user = user_get_by_email(email=email)
    if user is not None and user.is_active:
        code_send(purpose=Purpose.EMAIL_SIGN_IN, target=user.email, client=client, user=user)
    else:
        code_limits_hit(purpose=Purpose.EMAIL_SIGN_IN, target=email, ip=client.ip)


def email_sign_in(
    *, email: str, code: str, client: ClientInfo, purpose: Purpose = Purpose.EMAIL_SIGN_IN
) -> TokenPair | MfaChallengeIssued:
    """Sign in with an emailed code: tokens, or a challenge for a second factor.

    A password reset code (``purpose`` PASSWORD_RESET, mailed by ``password_forgot``)
    signs in the same way, for a client that then sets the new password in the session
    (``password_change`` takes its recent authentication for the current password); the
    failed password sign-ins counted against the account are forgotten, as by a reset.
    The address becomes verified, as by any code received there.
    """
    record = code_check(purpose=purpose, target=email, code=code, client=client, anonymous=True)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=record.user_id)
        if not user.is_active:
            raise CodeInvalid
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
            audit_record(type=AuditEvent.Type.EMAIL_VERIFIED, user_id=user.pk, client=client)
        result = signin_complete(user=user, amr=[LoginSession.Method.EMAIL_CODE], client=client)
    if purpose == Purpose.PASSWORD_RESET:
        password_failures_clear(account=user.email)
    if isinstance(result, MfaChallengeIssued):
        SIGN_INS.labels(method="email_code", outcome="mfa_required").inc()
        return result
    SIGN_INS.labels(method="email_code", outcome="success").inc()
    audit_record(
        type=AuditEvent.Type.LOGIN_SUCCEEDED,
        user_id=user.pk,
        client=client,
        detail={"method": purpose, "session": str(result.session.pk)},
    )
    return result


def email_code_answer(
    *, email: str, code: str, client: ClientInfo
) -> TokenPair | MfaChallengeIssued:
    """Answer a code mailed to ``email``, whichever journey sent it.

    A pending sign-up's code creates the account (``email_verify``); otherwise it is a
    sign-in code. For a client that does not say which (GoTrue's ``type: "email"``).
    """
    pending = PendingSignup.objects.filter(email=email).exists()
    if pending and user_get_by_email(email=email) is None:
        return email_verify(email=email, code=code, client=client)
    return email_sign_in(email=email, code=code, client=client)
