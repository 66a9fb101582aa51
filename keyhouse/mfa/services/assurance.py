"""What a sensitive operation needs: the one place that decides it.

A sensitive operation (change the email, phone or password, remove a factor, regenerate
recovery codes, delete the account) needs a recent authentication in the session
(NIST SP 800-63B section 4.4) and, when the account has a second factor, a session at
aal2: one that proved that factor at sign-in or since (step-up).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from http import HTTPStatus

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.core.exceptions import KeyhouseError
from keyhouse.mfa.selectors import factor_confirmed_exists
from keyhouse.tokens.models import LoginSession
from keyhouse.users.models import User

POLICIES = ("optional", "required_for_staff", "required")


class ReauthenticationRequired(KeyhouseError):
    code = "reauthentication_required"
    status = HTTPStatus.FORBIDDEN
    message = _("Confirm your password or a code first (POST /api/v1/auth/reauthenticate).")


class SecondFactorRequired(KeyhouseError):
    code = "aal2_required"
    status = HTTPStatus.FORBIDDEN
    message = _(
        "This account has a second factor: confirm a code from your authenticator app first "
        "(POST /api/v1/auth/reauthenticate with totp_code)."
    )


# What ``reauthentication_require`` refuses with, for the views' OpenAPI declarations.
SENSITIVE_OPERATION_ERRORS = (ReauthenticationRequired, SecondFactorRequired)


def reauthentication_require(*, session_id: uuid.UUID, proven_now: bool = False) -> None:
    """Refuse a sensitive operation unless the session may make it.

    ``proven_now`` says the request itself proves a password (a password change
    sending the current one), which stands for the recent authentication; the
    second factor is still asked of an account that has one.
    """
    session = (
        LoginSession.objects.filter(pk=session_id, revoked_at__isnull=True)
        .values("user_id", "aal", "authenticated_at")
        .first()
    )
    if session is None:
        raise ReauthenticationRequired
    since = timezone.now() - timedelta(seconds=settings.KEYHOUSE_REAUTHENTICATION_WINDOW)
    if not proven_now and session["authenticated_at"] < since:
        raise ReauthenticationRequired
    if session["aal"] != LoginSession.Level.AAL2 and factor_confirmed_exists(
        user_id=session["user_id"]
    ):
        raise SecondFactorRequired


def mfa_policy_covers(*, user: User) -> bool:
    """Whether KEYHOUSE_MFA_POLICY requires this account to have a second factor."""
    policy = settings.KEYHOUSE_MFA_POLICY
    return policy == "required" or (policy == "required_for_staff" and user.is_staff)
