"""Sign-up by email: register, send a code, verify it, sign in.

Sign-up and resend answer the same whether or not the address is registered, and do
the same work either way: one password hash, one message, one count against the
limits on messages to that address. An address that is already verified gets a
message saying someone tried to sign up with it, instead of a code.
"""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from keyhouse.accounts.services.verification import code_check, code_send
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.services import CodeInvalid, code_limits_hit
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.delivery.services import email_enqueue
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair, session_start
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email
from keyhouse.users.services import EmailTaken, user_create


def _verification_code_send(*, user: User, client: ClientInfo) -> None:
    code_send(
        purpose=Purpose.VERIFY_EMAIL, to=user.email, channel="email", client=client, user=user
    )


def _existing_account_notify(*, user: User, client: ClientInfo) -> None:
    code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target=user.email, ip=client.ip)
    email_enqueue(to=user.email, template="signup_existing_account", context={}, user=user)


@transaction.atomic
def signup(*, email: str, password: str, display_name: str, client: ClientInfo) -> None:
    """Register an address, or re-send its code while it is unverified.

    A repeated sign-up of an unverified address sets the newest password and sends a
    new code, which replaces the older one: whoever proves the address with the
    newest code signs in with the password given alongside it.
    """
    user = user_get_by_email(email=email)
    if user is None:
        try:
            user = user_create(email=email, password=password, display_name=display_name)
        except EmailTaken:
            # A concurrent sign-up for the same address won; it sends the code.
            return
        audit_record(type=AuditEvent.Type.SIGNED_UP, user_id=user.pk, client=client)
        _verification_code_send(user=user, client=client)
    elif user.email_verified_at is None:
        user.set_password(password)
        user.display_name = display_name or user.display_name
        user.save(update_fields=["password", "display_name"])
        _verification_code_send(user=user, client=client)
    else:
        make_password(password)  # the same work as the other paths, so timing tells nothing
        _existing_account_notify(user=user, client=client)


@transaction.atomic
def email_verification_resend(*, email: str, client: ClientInfo) -> None:
    """Send a new code to an unverified address; count the request for any address."""
    user = user_get_by_email(email=email)
    if user is not None and user.email_verified_at is None and user.is_active:
        _verification_code_send(user=user, client=client)
    else:
        code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target=email, ip=client.ip)


def email_verify(*, email: str, code: str, client: ClientInfo) -> TokenPair:
    """Verify an address with its code and sign its owner in."""
    record = code_check(
        purpose=Purpose.VERIFY_EMAIL, target=email, code=code, client=client, anonymous=True
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=record.user_id)
        if not user.is_active:
            raise CodeInvalid
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
            audit_record(type=AuditEvent.Type.EMAIL_VERIFIED, user_id=user.pk, client=client)
        pair = session_start(user=user, amr=[LoginSession.Method.EMAIL_CODE], client=client)
    SIGN_INS.labels(method="email_code", outcome="success").inc()
    return pair
