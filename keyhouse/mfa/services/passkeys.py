"""Passkeys: register, sign in with one alone, answer a second-factor check, remove.

A passkey is a factor like an authenticator app: it counts for the MFA challenge, brings
recovery codes when it is the account's first factor, and its removal is a sensitive
operation. An assertion whose authenticator verified the user (PIN, biometrics) proves
two factors at once, possession and the user (RFC 8176 ``hwk`` and ``user``): on its own
it gives an aal2 session.

Every ceremony answers a challenge from ``PasskeyChallenge``, spent by one conditional
UPDATE before the answer is looked at, so that a challenge is answered once, right or
wrong. A sign count that does not move forward refuses the assertion and is recorded
(``passkey_sign_count_regressed``): the authenticator may have been cloned.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import CredentialDeviceType

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.crypto import random_secret
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.mfa import webauthn
from keyhouse.mfa.models import Passkey, PasskeyChallenge, PasskeyUserHandle
from keyhouse.mfa.selectors import factor_confirmed_exists, passkey_get_for_user, passkey_list
from keyhouse.mfa.services.assurance import reauthentication_require
from keyhouse.mfa.services.factors import factor_added, factor_notify, factor_removed
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair, session_start
from keyhouse.users.models import User

MAX_PASSKEYS = 10
HWK_AMR = ["hwk"]  # RFC 8176: proof of possession of a hardware-secured key
USER_VERIFIED_AMR = ["hwk", "user"]  # ... and the authenticator verified the user
TRANSPORTS = ("ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb")


class PasskeyInvalid(KeyhouseError):
    code = "passkey_invalid"
    message = _("The passkey could not be verified. Try again, or use another way in.")

    def __init__(self, message: str | None = None, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason  # why, for the audit trail; never told to the client


class PasskeyUserVerificationRequired(PasskeyInvalid):
    code = "passkey_user_verification_required"
    message = _(
        "Signing in with a passkey alone needs the authenticator to verify you "
        "(its PIN, fingerprint or face)."
    )


class PasskeySignCountRegressed(PasskeyInvalid):
    code = "passkey_sign_count_regressed"
    message = _(
        "This passkey's counter went back, as a copied authenticator's would, so it is "
        "refused. Sign in another way and remove it."
    )


class PasskeyChallengeInvalid(KeyhouseError):
    code = "passkey_challenge_invalid"
    message = _(
        "The passkey challenge is unknown, expired (5 minutes) or already answered. "
        "Ask for new options."
    )


class PasskeyNotFound(KeyhouseError):
    code = "passkey_not_found"
    status = HTTPStatus.NOT_FOUND
    message = _("No such passkey.")


class PasskeyLimitReached(KeyhouseError):
    code = "passkey_limit"
    status = HTTPStatus.CONFLICT
    message = _("An account can have at most 10 passkeys. Remove one first.")


class PasskeyAlreadyRegistered(KeyhouseError):
    code = "passkey_already_registered"
    status = HTTPStatus.CONFLICT
    message = _("This passkey is already registered.")


# What ``passkey_assert`` refuses with, for the OpenAPI declarations of the views that
# take an assertion.
ASSERTION_ERRORS = (
    PasskeyInvalid,
    PasskeyUserVerificationRequired,
    PasskeySignCountRegressed,
    PasskeyChallengeInvalid,
)


@dataclass(frozen=True)
class PasskeyOptions:
    """A challenge to answer, and the options to hand to the browser's WebAuthn call."""

    challenge_id: uuid.UUID
    options: dict[str, Any]
    expires_in: int


@dataclass(frozen=True)
class PasskeyRegistration:
    passkey: Passkey
    recovery_codes: list[str] | None  # new codes, shown this once; None when the user had some


@dataclass(frozen=True)
class PasskeyAssertion:
    passkey: Passkey
    amr: list[str]


def passkey_user_handle(*, user: User) -> str:
    """The account's opaque user handle, made on first use."""
    handle, _created = PasskeyUserHandle.objects.get_or_create(
        user=user, defaults={"handle": random_secret(32)}
    )
    return handle.handle


def _handle_of(user_id: uuid.UUID) -> str | None:
    return (
        PasskeyUserHandle.objects.filter(user_id=user_id).values_list("handle", flat=True).first()
    )


def _challenge_issue(*, purpose: PasskeyChallenge.Purpose, user: User | None) -> PasskeyChallenge:
    return PasskeyChallenge.objects.create(
        purpose=purpose,
        user=user,
        challenge=bytes_to_base64url(webauthn.new_challenge()),
        expires_at=timezone.now() + timedelta(seconds=webauthn.CEREMONY_TIMEOUT),
    )


def _challenge_spend(*, now: datetime, **lookup: Any) -> PasskeyChallenge:
    """Spend the live challenge ``lookup`` names, once; raise PasskeyChallengeInvalid."""
    challenges = PasskeyChallenge.objects.filter(**lookup)
    if not challenges.filter(used_at__isnull=True, expires_at__gt=now).update(used_at=now):
        raise PasskeyChallengeInvalid
    return challenges.get()


def passkey_registration_begin(*, user: User, session_id: uuid.UUID) -> PasskeyOptions:
    """Issue the options of a registration (a sensitive operation: aal2 with a factor)."""
    reauthentication_require(session_id=session_id)
    challenge = _challenge_issue(purpose=PasskeyChallenge.Purpose.REGISTER, user=user)
    existing = list(passkey_list(user_id=user.pk).values_list("credential_id", "transports"))
    options = webauthn.registration_options(
        challenge=base64url_to_bytes(challenge.challenge),
        user_handle=passkey_user_handle(user=user),
        user_name=user.email or str(user.phone or user.pk),
        display_name=user.display_name,
        existing=existing,
    )
    return PasskeyOptions(challenge.pk, options, webauthn.CEREMONY_TIMEOUT)


def passkey_register(
    *,
    user: User,
    session_id: uuid.UUID,
    credential: dict[str, Any],
    name: str,
    client: ClientInfo,
) -> PasskeyRegistration:
    """Store the passkey an authenticator made for the user's registration options.

    The challenge is found from the answer itself (its ``clientDataJSON``), among the
    user's own, and spent first. The user's row is locked while the passkeys are
    counted, so concurrent registrations cannot pass the limit together. The passkey
    proves a factor in this session, as a confirmed app does (``factor_added``).
    """
    reauthentication_require(session_id=session_id)
    now = timezone.now()
    try:
        value = webauthn.client_data_challenge(credential)
    except webauthn.CeremonyFailed as exc:
        raise PasskeyInvalid(reason=str(exc)) from exc
    challenge = _challenge_spend(
        now=now, purpose=PasskeyChallenge.Purpose.REGISTER, user_id=user.pk, challenge=value
    )
    try:
        verified = webauthn.registration_verify(
            credential=credential, challenge=challenge.challenge
        )
    except webauthn.CeremonyFailed as exc:
        raise PasskeyInvalid(reason=str(exc)) from exc
    transports = credential["response"].get("transports") or []
    amr = USER_VERIFIED_AMR if verified.user_verified else HWK_AMR
    multi_device = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if passkey_list(user_id=user.pk).count() >= MAX_PASSKEYS:
            raise PasskeyLimitReached
        first = not factor_confirmed_exists(user_id=user.pk)
        try:
            with transaction.atomic():
                passkey = Passkey.objects.create(
                    user=user,
                    name=name,
                    credential_id=bytes_to_base64url(verified.credential_id),
                    public_key=verified.credential_public_key,
                    sign_count=verified.sign_count,
                    transports=[t for t in transports if t in TRANSPORTS],
                    aaguid=verified.aaguid,
                    backup_eligible=multi_device,
                    backed_up=verified.credential_backed_up,
                )
        except IntegrityError as exc:
            raise PasskeyAlreadyRegistered from exc
        codes = factor_added(
            user=user, session_id=session_id, second_factor=amr, first=first, client=client
        )
        audit_record(
            type=AuditEvent.Type.PASSKEY_REGISTERED,
            user_id=user.pk,
            client=client,
            detail={"passkey": str(passkey.pk), "user_verified": verified.user_verified},
        )
        factor_notify(user, "mfa_passkey_added", name=passkey.name)
    return PasskeyRegistration(passkey=passkey, recovery_codes=codes)


def passkey_update(*, user: User, passkey_id: object, name: str | None = None) -> Passkey:
    """Rename one of the user's passkeys (without a name, change nothing)."""
    passkey = passkey_get_for_user(user_id=user.pk, passkey_id=passkey_id)
    if passkey is None:
        raise PasskeyNotFound
    if name is not None:
        passkey.name = name
        passkey.save(update_fields=["name"])
    return passkey


def _passkeys_delete(
    *,
    user: User,
    passkeys: list[Passkey],
    client: ClientInfo | None,
    by: uuid.UUID | None = None,
) -> None:
    Passkey.objects.filter(pk__in=[passkey.pk for passkey in passkeys]).delete()
    factor_removed(user_id=user.pk)
    for passkey in passkeys:
        audit_record(
            type=AuditEvent.Type.PASSKEY_REMOVED,
            user_id=user.pk,
            client=client,
            detail={"passkey": str(passkey.pk)},
            by=by,
        )
        factor_notify(user, "mfa_passkey_removed", name=passkey.name, by_admin=by is not None)


def passkey_remove(
    *, user: User, session_id: uuid.UUID, passkey_id: object, client: ClientInfo
) -> None:
    """Remove one of the user's passkeys (a sensitive operation: aal2 with a factor)."""
    passkey = passkey_get_for_user(user_id=user.pk, passkey_id=passkey_id)
    if passkey is None:
        raise PasskeyNotFound
    reauthentication_require(session_id=session_id)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        _passkeys_delete(user=user, passkeys=[passkey], client=client)


@transaction.atomic
def passkeys_remove_by_admin(
    *, user: User, client: ClientInfo | None, by: uuid.UUID, passkey_ids: list[uuid.UUID] | None
) -> int:
    """Remove passkeys of a user from the admin (all of them without ``passkey_ids``);
    return how many. The user is told by email; sessions go on."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    passkeys = passkey_list(user_id=user.pk)
    if passkey_ids is not None:
        passkeys = passkeys.filter(pk__in=passkey_ids)
    removed = list(passkeys)
    _passkeys_delete(user=user, passkeys=removed, client=client, by=by)
    return len(removed)


def passkey_authentication_begin() -> PasskeyOptions:
    """Issue the options of an assertion: passwordless sign-in, the MFA challenge and
    re-authentication all answer these."""
    challenge = _challenge_issue(purpose=PasskeyChallenge.Purpose.AUTHENTICATE, user=None)
    options = webauthn.authentication_options(challenge=base64url_to_bytes(challenge.challenge))
    return PasskeyOptions(challenge.pk, options, webauthn.CEREMONY_TIMEOUT)


def _sign_count_regressed(passkey: Passkey, received: int, client: ClientInfo) -> None:
    audit_record(
        type=AuditEvent.Type.PASSKEY_SIGN_COUNT_REGRESSED,
        user_id=passkey.user_id,
        client=client,
        detail={"passkey": str(passkey.pk), "stored": passkey.sign_count, "received": received},
    )
    raise PasskeySignCountRegressed(reason="sign_count_regressed")


def passkey_assert(
    *,
    challenge_id: uuid.UUID,
    credential: dict[str, Any],
    client: ClientInfo,
    user_id: uuid.UUID | None = None,
    require_user_verification: bool = False,
) -> PasskeyAssertion:
    """Check an assertion that answers ``challenge_id``; return the passkey and its ``amr``.

    With ``user_id`` (a second factor, a re-authentication) the passkey must be that
    user's; without, the passkey names the user, and its ``userHandle`` must be the
    account's. Run it outside any transaction whose rollback would lose the spent
    challenge or the record of a regressed counter; callers record other failures.
    """
    now = timezone.now()
    challenge = _challenge_spend(
        now=now, purpose=PasskeyChallenge.Purpose.AUTHENTICATE, pk=challenge_id
    )
    passkey = Passkey.objects.select_related("user").filter(credential_id=credential["id"]).first()
    if passkey is None:
        raise PasskeyInvalid(reason="unknown_credential")
    if user_id is not None and passkey.user_id != user_id:
        raise PasskeyInvalid(reason="another_user")
    if not passkey.user.is_active:
        raise PasskeyInvalid(reason="inactive_user")
    user_handle = credential["response"].get("userHandle")
    if (user_handle or user_id is None) and user_handle != _handle_of(passkey.user_id):
        raise PasskeyInvalid(reason="user_handle_mismatch")
    try:
        verified = webauthn.authentication_verify(
            credential=credential, challenge=challenge.challenge, public_key=passkey.public_key
        )
    except webauthn.CeremonyFailed as exc:
        raise PasskeyInvalid(reason=str(exc)) from exc
    if require_user_verification and not verified.user_verified:
        raise PasskeyUserVerificationRequired(reason="user_not_verified")
    received, stored = verified.new_sign_count, passkey.sign_count
    if (received or stored) and received <= stored:
        _sign_count_regressed(passkey, received, client)
    moved = Passkey.objects.filter(pk=passkey.pk, sign_count=stored).update(
        sign_count=received, last_used_at=now, backed_up=verified.credential_backed_up
    )
    if not moved and received:  # a concurrent assertion moved the counter first
        _sign_count_regressed(passkey, received, client)
    amr = USER_VERIFIED_AMR if verified.user_verified else HWK_AMR
    return PasskeyAssertion(passkey=passkey, amr=amr)


def signin_with_passkey(
    *, challenge_id: uuid.UUID, credential: dict[str, Any], client: ClientInfo
) -> TokenPair:
    """Sign in with a passkey alone: an aal2 session, the authenticator having verified
    the user. Every failure is recorded, with the account when the passkey named one."""
    try:
        assertion = passkey_assert(
            challenge_id=challenge_id,
            credential=credential,
            client=client,
            require_user_verification=True,
        )
    except (PasskeyInvalid, PasskeyChallengeInvalid) as exc:
        known = Passkey.objects.filter(credential_id=credential["id"]).first()
        audit_record(
            type=AuditEvent.Type.LOGIN_FAILED,
            user_id=known.user_id if known else None,
            client=client,
            detail={"method": "passkey", "reason": getattr(exc, "reason", exc.code)},
        )
        SIGN_INS.labels(method="passkey", outcome="failure").inc()
        raise
    pair = session_start(
        user=assertion.passkey.user,
        amr=assertion.amr,
        client=client,
        aal=LoginSession.Level.AAL2,
    )
    SIGN_INS.labels(method="passkey", outcome="success").inc()
    audit_record(
        type=AuditEvent.Type.LOGIN_SUCCEEDED,
        user_id=assertion.passkey.user_id,
        client=client,
        detail={
            "method": "passkey",
            "passkey": str(assertion.passkey.pk),
            "session": str(pair.session.pk),
        },
    )
    return pair


def passkey_purge_expired(*, now: datetime) -> int:
    """Delete the passkey challenges past their end; return how many."""
    deleted, _by_model = PasskeyChallenge.objects.filter(expires_at__lt=now).delete()
    return deleted
