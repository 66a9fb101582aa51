"""Sign-up by email: register, send a code, verify it, sign in.

Sign-up and resend answer the same whether or not the address is registered, and
sign-up costs one password hash by the default hasher on every path (a sign-up that
loses a race to create the account, two). An address that is already verified gets a
message saying someone tried to sign up with it, instead of a code.

Until an address is verified, nobody has proven it is theirs, so a repeated sign-up
changes nothing on the account. With the password the address was registered with, it
just sends a new code. With another password it may be the owner's or someone else's,
however long after the first one it comes, and nothing tells which: the address is
then contested, and the pending code and every code after it carry no usable password
(the purge of old codes keeps the contested one). Whoever verifies with such a code is
signed in without a password and chooses one through a reset, on nobody else's word;
every earlier session ends and a phone number added before is removed, so whoever
registered the address first keeps no way back in.
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
from keyhouse.codes.models import OneTimeCode, Purpose
from keyhouse.codes.selectors import code_pending
from keyhouse.codes.services import CodeInvalid, code_limits_hit
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.delivery.services import email_enqueue
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair, session_revoke_all, session_start
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email
from keyhouse.users.services import EmailTaken, user_create


def _verification_code_send(*, user: User, client: ClientInfo, password: str = "") -> None:
    code_send(
        purpose=Purpose.VERIFY_EMAIL,
        to=user.email,
        channel="email",
        client=client,
        user=user,
        password=password,
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


def _claimed_password(*, user: User, password: str) -> str:
    """What a repeated sign-up's code carries for verifying to set: nothing when the
    password is the account's own, no usable password when the address is contested.

    A contest is also written on the code still pending, so that it stands even when no
    new code can be sent yet (asked too soon), and whichever code the owner enters.
    """
    pending = code_pending(purpose=Purpose.VERIFY_EMAIL, user_id=user.pk)
    contested = pending is not None and bool(pending.password)
    if _same_password(password, user.password) and not contested:
        return ""
    claimed = make_password(None)
    if pending is not None:
        OneTimeCode.objects.filter(pk=pending.pk).update(password=claimed)
    return claimed


def _existing_account_notify(*, user: User, client: ClientInfo) -> None:
    code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target=user.email, ip=client.ip)
    email_enqueue(to=user.email, template="signup_existing_account", context={}, user=user)


def signup(*, email: str, password: str, display_name: str, client: ClientInfo) -> None:
    """Register an address, or send a new code while it is unverified.

    A repeated sign-up of an unverified address sends a new code, which replaces the
    older one (see the module's notes on a contested address). Its claim is committed
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
        claimed = _claimed_password(user=user, password=password)
    with transaction.atomic():
        _verification_code_send(user=user, client=client, password=claimed)


@transaction.atomic
def email_verification_resend(*, email: str, client: ClientInfo) -> None:
    """Send a new code to an unverified address; count the request for any address."""
    user = user_get_by_email(email=email)
    if user is not None and user.email_verified_at is None and user.is_active:
        pending = code_pending(purpose=Purpose.VERIFY_EMAIL, user_id=user.pk)
        _verification_code_send(
            user=user, client=client, password=pending.password if pending else ""
        )
    else:
        code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target=email, ip=client.ip)


def email_verify(*, email: str, code: str, client: ClientInfo) -> TokenPair:
    """Verify an address with its code and sign its owner in.

    A code of a contested address carries no usable password: verifying sets it, ends
    every session started before and removes a phone number added before.
    """
    record = code_check(
        purpose=Purpose.VERIFY_EMAIL, target=email, code=code, client=client, anonymous=True
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=record.user_id)
        if not user.is_active:
            raise CodeInvalid
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            fields = ["email_verified_at"]
            if record.password:
                user.password = record.password
                fields.append("password")
                OneTimeCode.objects.filter(pk=record.pk).update(password="")  # used: forget it
                session_revoke_all(user_id=user.pk, reason="password_set", client=client)
                fields += phone_remove_before_address_proven(user=user, client=client)
                password_failures_clear(account=user.email)
            user.save(update_fields=fields)
            audit_record(type=AuditEvent.Type.EMAIL_VERIFIED, user_id=user.pk, client=client)
        pair = session_start(user=user, amr=[LoginSession.Method.EMAIL_CODE], client=client)
    SIGN_INS.labels(method="email_code", outcome="success").inc()
    return pair
