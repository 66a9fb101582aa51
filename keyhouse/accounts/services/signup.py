"""Sign-up by email: keep a pending sign-up, mail its code, create the account on the code.

No account exists until its address is proven: sign-up keeps a pending sign-up (the
password's hash and the display name, bound to the code it mailed), and only
``email_verify`` creates the user, from the pending sign-up the code belongs to. A
newer sign-up of the address replaces the pending one's name and code, and keeps its
password only if it is the same password. A sign-up with another password leaves the
pending sign-up with no usable password: whoever enters the newest code gets the
account, signed in, and sets a password by reset, which proves the mailbox again. So
when someone signs up with the owner's address before or after the owner does,
neither can sign in with a password they chose, and the owner is never left with the
other's. The resend cooldown refuses a second sign-up of an address within a minute
of the first, before it replaces anything.

Sign-up and resend answer the same whether or not the address has an account, and
sign-up costs one password hash by the default hasher on every path. An address
that has an account gets a message saying someone tried to sign up with it, instead
of a code.
"""

from __future__ import annotations

from django.contrib.auth.hashers import get_hasher, identify_hasher, make_password
from django.db import transaction
from django.utils.crypto import constant_time_compare

from keyhouse.accounts.models import PendingSignup
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.services import CodeInvalid, code_check, code_limits_hit, code_send
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.delivery.services import email_enqueue
from keyhouse.mfa.services.challenges import MfaChallengeIssued, signin_complete
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair
from keyhouse.users.emails import email_canonical
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email
from keyhouse.users.services import EmailTaken, user_create


def _existing_account_notify(*, user: User, client: ClientInfo) -> None:
    code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target=user.email, ip=client.ip)
    email_enqueue(to=user.email, template="signup_existing_account", context={}, user=user)


def _salt_of(encoded: str | None) -> str | None:
    """Return the salt of a hash by the default hasher; None for anything else."""
    if encoded is None:
        return None
    try:
        hasher = identify_hasher(encoded)
    except ValueError:  # unusable, or of no hasher in PASSWORD_HASHERS
        return None
    if hasher.algorithm != get_hasher().algorithm:
        return None
    return hasher.decode(encoded)["salt"]


def signup(*, email: str, password: str, display_name: str, client: ClientInfo) -> None:
    """Keep a pending sign-up of ``email`` and mail its code.

    A registered address gets a notice instead. The password is hashed first on every
    path (outside the transaction, which holds no lock meanwhile), once, so that the
    time the answer takes tells nothing. For an address with a pending sign-up it is
    hashed with the salt of the pending one's hash, so that comparing the two hashes
    tells whether it is the same password without a second hash. Any other password,
    or a pending sign-up that changed after that read, leaves the pending sign-up with
    no usable password. A sign-up refused by the code limits (429) leaves the pending
    sign-up and its code as they were.
    """
    email = email_canonical(email)
    seen = PendingSignup.objects.filter(email=email).values_list("password", flat=True).first()
    password_hash = make_password(password, salt=_salt_of(seen))
    with transaction.atomic():
        user = user_get_by_email(email=email)
        if user is not None:
            _existing_account_notify(user=user, client=client)
            return
        record = code_send(purpose=Purpose.VERIFY_EMAIL, target=email, client=client)
        pending = PendingSignup.objects.select_for_update().filter(email=email).first()
        if pending is not None and not (
            pending.password == seen and constant_time_compare(password_hash, seen)
        ):
            password_hash = make_password(None)
        PendingSignup.objects.update_or_create(
            email=email,
            defaults={"password": password_hash, "display_name": display_name, "code": record},
        )


@transaction.atomic
def email_verification_resend(*, email: str, client: ClientInfo) -> None:
    """Mail a new code for a pending sign-up; count the request the same for any address."""
    email = email_canonical(email)
    pending = PendingSignup.objects.select_for_update().filter(email=email).first()
    if pending is None or user_get_by_email(email=email) is not None:
        code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target=email, ip=client.ip)
        return
    pending.code = code_send(purpose=Purpose.VERIFY_EMAIL, target=email, client=client)
    pending.save(update_fields=["code", "updated_at"])


def _account_create(*, pending: PendingSignup, client: ClientInfo) -> User | None:
    """Create the account of a proven pending sign-up; None if the address has one now.

    The unique constraint on addresses decides a race with anything else that gives
    the address to an account (another account's change of address, the admin).
    """
    try:
        user = user_create(
            email=pending.email,
            password_hash=pending.password,
            display_name=pending.display_name,
            email_verified=True,
        )
    except EmailTaken:
        return None
    audit_record(type=AuditEvent.Type.SIGNED_UP, user_id=user.pk, client=client)
    audit_record(type=AuditEvent.Type.EMAIL_VERIFIED, user_id=user.pk, client=client)
    return user


def email_verify(*, email: str, code: str, client: ClientInfo) -> TokenPair | MfaChallengeIssued:
    """Create the account of a pending sign-up with its code, and sign its owner in.

    Only the code last sent for the pending sign-up creates the account. A code whose
    address got an account meanwhile answers like a wrong one, and its pending
    sign-up goes. The sign-in ends as every sign-in does, in ``signin_complete``: an
    account made here has no second factor yet, so it gets tokens.
    """
    record = code_check(
        purpose=Purpose.VERIFY_EMAIL, target=email, code=code, client=client, anonymous=True
    )
    with transaction.atomic():
        pending = PendingSignup.objects.select_for_update().filter(code=record).first()
        if pending is None:
            user = None
        else:
            user = _account_create(pending=pending, client=client)
            pending.delete()
        if user is not None:
            result = signin_complete(user=user, amr=[LoginSession.Method.EMAIL_CODE], client=client)
    if user is None:
        raise CodeInvalid
    outcome = "mfa_required" if isinstance(result, MfaChallengeIssued) else "success"
    SIGN_INS.labels(method="email_code", outcome=outcome).inc()
    return result
