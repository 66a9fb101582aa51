"""Sign-up by email: register, send a code, verify it, sign in.

Sign-up and resend answer the same whether or not the address is registered, and
sign-up costs one password hash by the default hasher on every path (a sign-up that
loses a race to create the account, two). An address that is already verified gets a
message saying someone tried to sign up with it, instead of a code.

Until an address is verified, nobody has proven it is theirs, so a repeated sign-up
changes nothing on the account but a mark. With the password the address was
registered with, it just sends a new code. With another password it may be the
owner's or someone else's, however long after the first one it comes, and nothing
tells which: the address is marked contested (``email_contested_at``), for good until
it is verified. Whoever then verifies it is handed the account without a password and
chooses one through a reset, on nobody else's word; every earlier session ends and a
phone number added before is removed, so whoever registered the address first keeps
no way back in.
"""

from __future__ import annotations

from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher, make_password
from django.db import transaction
from django.utils import timezone

from keyhouse.accounts.services.phone import phone_remove_before_address_proven
from keyhouse.accounts.services.signin import password_failures_clear
from keyhouse.accounts.services.verification import code_check, code_send
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.services import CodeInvalid, code_limits_hit, code_target_canonical
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.delivery.services import email_enqueue
from keyhouse.mfa.services.challenges import MfaChallengeIssued, signin_complete
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair, session_revoke_all
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email
from keyhouse.users.services import EmailTaken, user_create


def _verification_code_send(*, user: User, client: ClientInfo) -> None:
    code_send(
        purpose=Purpose.VERIFY_EMAIL, to=user.email, channel="email", client=client, user=user
    )


def _same_password(password: str, encoded: str) -> bool:
    """Check ``password`` against ``encoded`` for the work of one hash by the default hasher.

    A hash by another hasher or with other parameters (or none) is not checked but
    counted as different, so that its cost tells nothing about the account.
    """
    try:
        hasher = identify_hasher(encoded)
    except ValueError:
        hasher = None
    if hasher is None or hasher.algorithm != get_hasher().algorithm or hasher.must_update(encoded):
        make_password(password)
        return False
    return check_password(password, encoded)


def _contest(*, user: User) -> None:
    """Mark an unverified address as claimed with another password (see the module's notes).

    One conditional write, committed before any code is sent, so that the mark stands
    whatever happens to codes, and never lands on an address verified meanwhile.
    """
    User.objects.filter(
        pk=user.pk, email_verified_at__isnull=True, email_contested_at__isnull=True
    ).update(email_contested_at=timezone.now())


def _existing_account_notify(*, user: User, client: ClientInfo) -> None:
    code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target=user.email, ip=client.ip)
    email_enqueue(to=user.email, template="signup_existing_account", context={}, user=user)


def signup(*, email: str, password: str, display_name: str, client: ClientInfo) -> None:
    """Register an address, or send a new code while it is unverified.

    A repeated sign-up of an unverified address sends a new code, which replaces the
    older one (see the module's notes on a contested address). The contest is committed
    before the code is sent, which may be refused as too soon.
    """
    with transaction.atomic():
        user = user_get_by_email(email=email)
        if user is None:
            try:
                user = user_create(email=email, password=password, display_name=display_name)
            except EmailTaken:
                # A concurrent sign-up won, perhaps someone else's: this one is a repeat
                # (a second hash, on this path alone, which nobody can choose to take).
                user = user_get_by_email(email=email)
                if user is None:
                    return
            else:
                audit_record(type=AuditEvent.Type.SIGNED_UP, user_id=user.pk, client=client)
                _verification_code_send(user=user, client=client)
                return
        if user.email_verified_at is not None:
            make_password(password)  # the same work as the other paths, so timing tells nothing
            _existing_account_notify(user=user, client=client)
            return
        if not _same_password(password, user.password):
            _contest(user=user)
    with transaction.atomic():
        _verification_code_send(user=user, client=client)


@transaction.atomic
def email_verification_resend(*, email: str, client: ClientInfo) -> None:
    """Send a new code to an unverified address; count the request for any address."""
    user = user_get_by_email(email=email)
    if user is not None and user.email_verified_at is None and user.is_active:
        _verification_code_send(user=user, client=client)
    else:
        code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target=email, ip=client.ip)


def email_verify(*, email: str, code: str, client: ClientInfo) -> TokenPair | MfaChallengeIssued:
    """Verify an address with its code and sign its owner in.

    A contested address's account is handed over: it keeps no password, every session
    started before ends and a phone number added before is removed. An account with a
    second factor gets a challenge instead of tokens.
    """
    record = code_check(
        purpose=Purpose.VERIFY_EMAIL, target=email, code=code, client=client, anonymous=True
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=record.user_id)
        # A code sent just as the account moved to another address opens nothing.
        if not user.is_active or record.target != code_target_canonical(user.email):
            raise CodeInvalid
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            fields = ["email_verified_at"]
            if user.email_contested_at is not None:
                user.set_unusable_password()
                user.email_contested_at = None
                fields += ["password", "email_contested_at"]
                session_revoke_all(user_id=user.pk, reason="address_claimed", client=client)
                fields += phone_remove_before_address_proven(user=user, client=client)
                password_failures_clear(account=user.email)
            user.save(update_fields=fields)
            audit_record(type=AuditEvent.Type.EMAIL_VERIFIED, user_id=user.pk, client=client)
        result = signin_complete(user=user, amr=[LoginSession.Method.EMAIL_CODE], client=client)
    outcome = "mfa_required" if isinstance(result, MfaChallengeIssued) else "success"
    SIGN_INS.labels(method="email_code", outcome=outcome).inc()
    return result
