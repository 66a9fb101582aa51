"""Phone journeys: sign in (or sign up) with a code by SMS, and add or change a phone.

A number is normalised to E.164 before anything else, so an invalid number or one
from a refused country never costs an SMS.
"""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.selectors import code_live_target
from keyhouse.codes.services import CodeInvalid, code_check, code_limits_hit, code_send
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.mfa.services.assurance import reauthentication_require
from keyhouse.mfa.services.challenges import MfaChallengeIssued, signin_complete
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair
from keyhouse.users.models import User
from keyhouse.users.phones import phone_normalize

CHANGE_PURPOSES = (Purpose.CHANGE_PHONE, Purpose.VERIFY_PHONE)


class PhoneTaken(KeyhouseError):
    code = "phone_taken"
    status = HTTPStatus.CONFLICT
    message = _("This phone number belongs to another account.")


class PhoneUnchanged(KeyhouseError):
    code = "phone_unchanged"
    message = _("This is already the account's phone number.")


def _user_by_phone(phone: str, *, lock: bool = False) -> User | None:
    users = User.objects.select_for_update() if lock else User.objects
    return users.filter(phone=phone).first()


@transaction.atomic
def phone_sign_in_code_send(*, phone: str, client: ClientInfo) -> None:
    """Text a sign-in code to a number; count the request the same for any number.

    A registered number gets a code, and so does a new one while sign-up by phone is
    on (the code then creates the account). The answer is the same either way.
    """
    phone = phone_normalize(phone)
    user = _user_by_phone(phone)
    can_sign_in = user.is_active if user else settings.KEYHOUSE_PHONE_SIGNUP_ENABLED
    if can_sign_in:
        code_send(purpose=Purpose.PHONE_SIGN_IN, target=phone, client=client, user=user)
    else:
        code_limits_hit(purpose=Purpose.PHONE_SIGN_IN, target=phone, ip=client.ip)


def phone_sign_in(*, phone: str, code: str, client: ClientInfo) -> TokenPair | MfaChallengeIssued:
    """Sign in with a number and its code, creating the account for a new number.

    An account with a second factor gets a challenge instead of tokens.
    """
    phone = phone_normalize(phone)
    code_check(
        purpose=Purpose.PHONE_SIGN_IN, target=phone, code=code, client=client, anonymous=True
    )
    with transaction.atomic():
        user = _user_by_phone(phone, lock=True) or _phone_user_create(phone, client=client)
        if not user.is_active:
            raise CodeInvalid
        if user.phone_verified_at is None:
            user.phone_verified_at = timezone.now()
            user.save(update_fields=["phone_verified_at"])
            audit_record(type=AuditEvent.Type.PHONE_VERIFIED, user_id=user.pk, client=client)
        result = signin_complete(user=user, amr=[LoginSession.Method.SMS_CODE], client=client)
    outcome = "mfa_required" if isinstance(result, MfaChallengeIssued) else "success"
    SIGN_INS.labels(method="sms_code", outcome=outcome).inc()
    return result


def _phone_user_create(phone: str, *, client: ClientInfo) -> User:
    """Create the account of a new number; a concurrent sign-in of the same number wins."""
    if not settings.KEYHOUSE_PHONE_SIGNUP_ENABLED:
        raise CodeInvalid
    try:
        with transaction.atomic():
            user = User.objects.create_user(None, phone=phone, phone_verified_at=timezone.now())
    except IntegrityError:
        return User.objects.select_for_update().get(phone=phone)
    audit_record(
        type=AuditEvent.Type.SIGNED_UP, user_id=user.pk, client=client, detail={"by": "phone"}
    )
    return user


@transaction.atomic
def phone_change_request(*, user: User, session_id: object, phone: str, client: ClientInfo) -> None:
    """Text a code to the number the user wants to add or switch to.

    Adding a way to sign in is sensitive, so it needs a recent re-authentication.
    Whether the number belongs to another account is not told here.
    """
    reauthentication_require(session_id=session_id)
    phone = phone_normalize(phone)
    if user.phone is not None and str(user.phone) == phone:
        raise PhoneUnchanged(fields={"phone": [PhoneUnchanged.message]})
    purpose = Purpose.CHANGE_PHONE if user.phone else Purpose.VERIFY_PHONE
    code_send(purpose=purpose, target=phone, client=client, user=user)


def phone_change_confirm(*, user: User, code: str, client: ClientInfo) -> User:
    """Set the number the code was sent to as the user's phone, verified.

    The database's unique constraint on phone numbers decides a race with another
    account claiming the same number: the loser gets 409 ``phone_taken``.
    """
    pending = [
        (purpose, target)
        for purpose in CHANGE_PURPOSES
        if (target := code_live_target(purpose=purpose, user_id=user.pk)) is not None
    ]
    if not pending:
        raise CodeInvalid
    purpose, target = pending[0]
    code_check(
        purpose=purpose, target=target, code=code, client=client, user_id=user.pk, anonymous=False
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.phone = target
        user.phone_verified_at = timezone.now()
        try:
            with transaction.atomic():
                user.save(update_fields=["phone", "phone_verified_at"])
        except IntegrityError as exc:
            raise PhoneTaken from exc
        audit_record(type=AuditEvent.Type.PHONE_CHANGED, user_id=user.pk, client=client)
    return user
