"""TOTP factors: enrol, confirm with a first code, check codes, remove.

A code is accepted by one conditional UPDATE that moves the factor's ``last_step``
forward (``WHERE last_step < step``): of two requests carrying the same code, however
close together and on whichever server, exactly one updates the row, and a code
already used, or one older than the last accepted, never works again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.crypto import decrypt, encrypt
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.delivery.services import email_enqueue
from keyhouse.mfa import totp
from keyhouse.mfa.models import RecoveryCode, TotpFactor
from keyhouse.mfa.selectors import (
    factor_confirmed_exists,
    factor_get_for_user,
    factor_list,
    factors_confirmed,
    pending_expired_before,
    recovery_codes_remaining,
)
from keyhouse.mfa.services.assurance import reauthentication_require
from keyhouse.mfa.services.recovery import (
    RECOVERY_AMR,
    MfaNotEnabled,
    RecoveryCodeInvalid,
    recovery_code_normalize,
    recovery_code_use,
    recovery_codes_generate,
)
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import session_authenticated, session_revoke_all
from keyhouse.users.models import User

MAX_FACTORS = 5
SECRET_PURPOSE = "keyhouse.mfa.totp-secret"  # noqa: S105 - a key's purpose, not a secret
TOTP_AMR = ["otp", "totp"]  # RFC 8176 "otp" (RFC 6238 applies), and which kind


class FactorNotFound(KeyhouseError):
    code = "mfa_factor_not_found"
    status = HTTPStatus.NOT_FOUND
    message = _("No such factor.")


class FactorLimitReached(KeyhouseError):
    code = "mfa_factor_limit"
    status = HTTPStatus.CONFLICT
    message = _("An account can have at most 5 authenticator apps. Remove one first.")


class FactorAlreadyConfirmed(KeyhouseError):
    code = "mfa_factor_already_confirmed"
    status = HTTPStatus.CONFLICT
    message = _("This factor is already confirmed.")


class FactorExpired(KeyhouseError):
    code = "mfa_factor_expired"
    status = HTTPStatus.GONE
    message = _("This factor was not confirmed within 10 minutes. Enrol it again.")


class TotpCodeInvalid(KeyhouseError):
    code = "mfa_code_invalid"
    message = _("The code is wrong or was already used. Wait for the next one.")


@dataclass(frozen=True)
class TotpEnrolment:
    factor: TotpFactor
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class TotpConfirmation:
    factor: TotpFactor
    recovery_codes: list[str] | None  # new codes, shown this once; None when the user had some


def _account_label(user: User) -> str:
    return user.email or (str(user.phone) if user.phone else str(user.pk))


def totp_factor_enrol(
    *, user: User, session_id: uuid.UUID, name: str, client: ClientInfo
) -> TotpEnrolment:
    """Add a pending TOTP factor and hand out its seed, once.

    The user's row is locked while the factors are counted, so concurrent enrolments
    cannot pass the limit together.
    """
    reauthentication_require(session_id=session_id)
    secret = totp.secret_generate()
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        TotpFactor.objects.filter(
            user_id=user.pk,
            confirmed_at__isnull=True,
            created_at__lt=pending_expired_before(now),
        ).delete()
        if factor_list(user_id=user.pk, now=now).count() >= MAX_FACTORS:
            raise FactorLimitReached
        factor = TotpFactor.objects.create(
            user=user, name=name, secret=encrypt(secret.encode(), purpose=SECRET_PURPOSE)
        )
        audit_record(
            type=AuditEvent.Type.MFA_FACTOR_ENROLLED,
            user_id=user.pk,
            client=client,
            detail={"factor": str(factor.pk), "type": "totp"},
        )
    uri = totp.provisioning_uri(
        secret=secret, account=_account_label(user), issuer=settings.KEYHOUSE_PRODUCT_NAME
    )
    return TotpEnrolment(factor=factor, secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def totp_code_accept(*, factor: TotpFactor, code: str, at: datetime | None = None) -> bool:
    """Accept ``code`` for ``factor`` once: True if it matched a step later than the last.

    Runs the conditional UPDATE that makes a code single-use (see the module's notes).
    """
    now = at or timezone.now()
    secret = decrypt(factor.secret, purpose=SECRET_PURPOSE).decode()
    steps = totp.matching_steps(secret=secret, code=code, at=now)
    if not steps:
        return False
    return (
        TotpFactor.objects.filter(pk=factor.pk, last_step__lt=steps[0]).update(
            last_step=steps[0], last_used_at=now
        )
        == 1
    )


def second_factor_failed(
    *, user_id: uuid.UUID, client: ClientInfo, during: str, reason: str
) -> None:
    """Record a failed second-factor check; call it outside the transaction that failed."""
    audit_record(
        type=AuditEvent.Type.MFA_CHALLENGE_FAILED,
        user_id=user_id,
        client=client,
        detail={"during": during, "reason": reason},
    )


def totp_any_accept(
    *, user: User, code: str, client: ClientInfo, during: str, factor_id: object = None
) -> TotpFactor:
    """Accept a code from any of the user's confirmed factors, or from the one named by
    ``factor_id`` only, or record the failure."""
    factors = list(factors_confirmed(user_id=user.pk))
    if not factors:
        raise MfaNotEnabled
    if factor_id is not None:
        factors = [factor for factor in factors if str(factor.pk) == str(factor_id)]
        if not factors:
            raise FactorNotFound
    for factor in factors:
        if totp_code_accept(factor=factor, code=code):
            return factor
    second_factor_failed(user_id=user.pk, client=client, during=during, reason="mfa_code_invalid")
    raise TotpCodeInvalid(fields={"totp_code": [TotpCodeInvalid.message]})


def second_factor_accept(*, user: User, code: str, client: ClientInfo, during: str) -> list[str]:
    """Accept a code from any of the user's authenticator apps, or one of their recovery
    codes (told apart by their shape); return its ``amr`` values, or record the failure.
    """
    if recovery_code_normalize(code) is None:
        totp_any_accept(user=user, code=code, client=client, during=during)
        return TOTP_AMR
    try:
        with transaction.atomic():
            recovery_code_use(user_id=user.pk, code=code, client=client)
    except RecoveryCodeInvalid:
        second_factor_failed(
            user_id=user.pk, client=client, during=during, reason=RecoveryCodeInvalid.code
        )
        raise
    return RECOVERY_AMR


def totp_factor_confirm(
    *, user: User, session_id: uuid.UUID, factor_id: object, code: str, client: ClientInfo
) -> TotpConfirmation:
    """Confirm a pending factor with a first code from the app.

    The code proves the second factor in this session (see ``factor_added``).
    """
    factor = factor_get_for_user(user_id=user.pk, factor_id=factor_id)
    if factor is None:
        raise FactorNotFound
    if factor.confirmed_at is not None:
        raise FactorAlreadyConfirmed
    now = timezone.now()
    if factor.created_at < pending_expired_before(now):
        raise FactorExpired
    if not totp_code_accept(factor=factor, code=code, at=now):
        second_factor_failed(
            user_id=user.pk, client=client, during="confirm", reason="mfa_code_invalid"
        )
        raise TotpCodeInvalid(fields={"code": [TotpCodeInvalid.message]})
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        first = not factor_confirmed_exists(user_id=user.pk)
        if not TotpFactor.objects.filter(pk=factor.pk, confirmed_at__isnull=True).update(
            confirmed_at=now
        ):
            raise FactorAlreadyConfirmed
        factor.refresh_from_db()
        codes = factor_added(
            user=user, session_id=session_id, second_factor=TOTP_AMR, first=first, client=client
        )
        audit_record(
            type=AuditEvent.Type.MFA_FACTOR_CONFIRMED,
            user_id=user.pk,
            client=client,
            detail={"factor": str(factor.pk), "type": "totp"},
        )
        factor_notify(user, "mfa_factor_added", name=factor.name)
    return TotpConfirmation(factor=factor, recovery_codes=codes)


def factor_added(
    *,
    user: User,
    session_id: uuid.UUID,
    second_factor: list[str],
    first: bool,
    client: ClientInfo,
) -> list[str] | None:
    """Apply what a new factor (an app or a passkey) brings; return new recovery codes.

    Proving the factor raises the session to aal2. The account's first factor also ends
    every other session that proved only one factor, and brings recovery codes when the
    account has none (None otherwise). Run it inside the transaction that adds the factor,
    with the user's row locked.
    """
    session_authenticated(session_id=session_id, second_factor=second_factor)
    if first:
        session_revoke_all(
            user_id=user.pk,
            reason="mfa_enabled",
            client=client,
            keep_session_id=session_id,
            aal=LoginSession.Level.AAL1,
        )
    if recovery_codes_remaining(user_id=user.pk) == 0:
        return recovery_codes_generate(user=user, client=client)
    return None


def factor_removed(*, user_id: uuid.UUID) -> None:
    """Drop the recovery codes with the account's last factor: they then stand in for
    nothing."""
    if not factor_confirmed_exists(user_id=user_id):
        RecoveryCode.objects.filter(user_id=user_id).delete()


def factor_notify(user: User, template: str, **context: object) -> None:
    """Tell the owner that a factor was added or removed."""
    if user.email:
        email_enqueue(to=user.email, template=template, context=context, user=user)


def _factors_delete(*, user: User, factors: list[TotpFactor]) -> None:
    TotpFactor.objects.filter(pk__in=[factor.pk for factor in factors]).delete()
    factor_removed(user_id=user.pk)


def totp_factor_remove(
    *, user: User, session_id: uuid.UUID, factor_id: object, client: ClientInfo
) -> None:
    """Remove one of the user's factors (a sensitive operation: aal2 once there is one)."""
    factor = factor_get_for_user(user_id=user.pk, factor_id=factor_id)
    if factor is None:
        raise FactorNotFound
    reauthentication_require(session_id=session_id)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        _factors_delete(user=user, factors=[factor])
        audit_record(
            type=AuditEvent.Type.MFA_FACTOR_REMOVED,
            user_id=user.pk,
            client=client,
            detail={"factor": str(factor.pk), "type": "totp"},
        )
        if factor.confirmed_at is not None:
            factor_notify(user, "mfa_factor_removed", name=factor.name, by_admin=False)


@transaction.atomic
def totp_factors_remove_by_admin(*, user: User, client: ClientInfo | None, by: uuid.UUID) -> int:
    """Remove every factor of a user who lost them, from the admin; return how many.

    The user is told by email; sessions go on (they proved who they were already).
    """
    User.objects.select_for_update().filter(pk=user.pk).first()
    factors = list(TotpFactor.objects.filter(user_id=user.pk))
    if not factors:
        return 0
    _factors_delete(user=user, factors=factors)
    for factor in factors:
        audit_record(
            type=AuditEvent.Type.MFA_FACTOR_REMOVED,
            user_id=user.pk,
            client=client,
            detail={"factor": str(factor.pk), "type": "totp"},
            by=by,
        )
    if any(factor.confirmed_at is not None for factor in factors):
        factor_notify(user, "mfa_factor_removed", name="", by_admin=True)
    return len(factors)
