"""The sign-in challenge: what a first factor gets on an account with a second one.

Instead of tokens, the sign-in answers with an opaque token for a challenge that
lives 5 minutes, allows 5 tries and is spent by the first right answer. Only its
keyed hash is stored. Each try is counted, and committed, before the answer is
looked at, so concurrent wrong answers cannot pass the limit either.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.crypto import keyed_hash, random_secret
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.mfa.models import MfaChallenge, TotpFactor
from keyhouse.mfa.selectors import (
    MAX_ATTEMPTS,
    factor_get_for_user,
    factor_kinds,
    factors_confirmed,
    pending_expired_before,
)
from keyhouse.mfa.services.factors import (
    TOTP_AMR,
    FactorNotFound,
    TotpCodeInvalid,
    second_factor_failed,
    totp_code_accept,
)
from keyhouse.mfa.services.passkeys import (
    ASSERTION_ERRORS,
    PasskeyChallengeInvalid,
    PasskeyInvalid,
    passkey_assert,
    passkey_purge_expired,
)
from keyhouse.mfa.services.recovery import RECOVERY_AMR, RecoveryCodeInvalid, recovery_code_use
from keyhouse.tokens.services import TokenPair, session_start
from keyhouse.users.models import User

CHALLENGE_TTL = 5 * 60
TOKEN_HASH_SALT = "keyhouse.mfa.challenge"  # noqa: S105 - a salt's name, not a secret


class MfaTokenInvalid(KeyhouseError):
    code = "mfa_token_invalid"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The sign-in challenge is not valid. Sign in again.")


class MfaTokenUsed(MfaTokenInvalid):
    code = "mfa_token_used"
    message = _("The sign-in challenge was already answered. Sign in again.")


class MfaTokenExpired(MfaTokenInvalid):
    code = "mfa_token_expired"
    message = _("The sign-in challenge expired after 5 minutes. Sign in again.")


class MfaAttemptsExhausted(MfaTokenInvalid):
    code = "mfa_attempts_exhausted"
    message = _("Too many wrong codes for this sign-in. Sign in again.")


# What ``mfa_challenge_answer`` refuses with, for the OpenAPI declaration of its view.
CHALLENGE_ANSWER_ERRORS = (
    MfaTokenInvalid,
    MfaTokenUsed,
    MfaTokenExpired,
    MfaAttemptsExhausted,
    FactorNotFound,
    TotpCodeInvalid,
    RecoveryCodeInvalid,
    *ASSERTION_ERRORS,
)


@dataclass(frozen=True)
class MfaChallengeIssued:
    """A sign-in that needs a second factor: the token to answer with, the apps, and
    whether a passkey may answer."""

    token: str
    expires_in: int
    factors: list[TotpFactor]
    passkey: bool
    challenge: MfaChallenge


def _token_hash(token: str) -> str:
    return keyed_hash(token, salt=TOKEN_HASH_SALT)


def signin_complete(
    *, user: User, amr: list[str], client: ClientInfo
) -> TokenPair | MfaChallengeIssued:
    """Finish a sign-in after its first factor: tokens, or a challenge if the account has
    a second factor. Every sign-in journey ends here."""
    totp, passkey = factor_kinds(user_id=user.pk)
    if not totp and not passkey:
        return session_start(user=user, amr=amr, client=client)
    factors = list(factors_confirmed(user_id=user.pk)) if totp else []
    token = random_secret()
    challenge = MfaChallenge.objects.create(
        user=user,
        token_hash=_token_hash(token),
        amr=amr,
        expires_at=timezone.now() + timedelta(seconds=CHALLENGE_TTL),
    )
    audit_record(
        type=AuditEvent.Type.MFA_CHALLENGE_ISSUED,
        user_id=user.pk,
        client=client,
        detail={"amr": amr, "challenge": challenge.pk},
    )
    return MfaChallengeIssued(
        token=token,
        expires_in=CHALLENGE_TTL,
        factors=factors,
        passkey=passkey,
        challenge=challenge,
    )


def _challenges(token: str | None, challenge_id: int | None) -> QuerySet[MfaChallenge]:
    """The challenge named by its token, or by its id for a caller that vouches for it
    (the GoTrue API's signed MFA-pending token carries the id, not the token)."""
    if challenge_id is not None:
        return MfaChallenge.objects.filter(pk=challenge_id)
    return MfaChallenge.objects.filter(token_hash=_token_hash(token or ""))


def mfa_challenge_user(*, token: str | None = None, challenge_id: int | None = None) -> User | None:
    """The user a challenge names, if any (to count its tries against the account)."""
    challenge = _challenges(token, challenge_id).select_related("user").first()
    return challenge.user if challenge else None


def mfa_challenge_abandon(*, challenge_id: int, user_id: uuid.UUID, client: ClientInfo) -> None:
    """Spend an unanswered challenge without a session: the sign-in is given up."""
    if MfaChallenge.objects.filter(pk=challenge_id, user_id=user_id, used_at__isnull=True).update(
        used_at=timezone.now()
    ):
        audit_record(
            type=AuditEvent.Type.LOGOUT,
            user_id=user_id,
            client=client,
            detail={"challenge": challenge_id},
        )


def _attempt_count(challenges: QuerySet[MfaChallenge], now: datetime) -> MfaChallenge:
    """Count a try on a live challenge, committed at once; raise why it cannot be tried."""
    live = Q(used_at__isnull=True, expires_at__gt=now, attempts__lt=MAX_ATTEMPTS)
    if challenges.filter(live).update(attempts=F("attempts") + 1) == 1:
        return challenges.select_related("user").get()
    challenge = challenges.first()
    if challenge is None:
        raise MfaTokenInvalid
    if challenge.used_at is not None:
        raise MfaTokenUsed
    if challenge.expires_at <= now:
        raise MfaTokenExpired
    raise MfaAttemptsExhausted


def mfa_challenge_answer(
    *,
    client: ClientInfo,
    token: str | None = None,
    challenge_id: int | None = None,
    factor_id: uuid.UUID | None = None,
    code: str | None = None,
    recovery_code: str | None = None,
    passkey: dict[str, Any] | None = None,
) -> tuple[MfaChallenge, list[str]]:
    """Answer a challenge with a TOTP code, a recovery code or a passkey assertion
    (``{"challenge_id", "credential"}``); spend it on success.

    The challenge is named by its ``token``, or by its ``challenge_id``. Returns the
    challenge and the ``amr`` values of the second factor. A wrong answer leaves the
    challenge for its remaining tries (``attempts_left`` in the error).
    """
    now = timezone.now()
    challenge = _attempt_count(_challenges(token, challenge_id), now)
    user = challenge.user
    if not user.is_active:  # deactivated since the first factor
        raise MfaTokenInvalid
    try:
        if passkey is not None:  # checked first: its failures must outlive a rollback
            second = passkey_assert(
                challenge_id=passkey["challenge_id"],
                credential=passkey["credential"],
                client=client,
                user_id=user.pk,
            ).amr
            method = "passkey"
        with transaction.atomic():
            if not MfaChallenge.objects.filter(pk=challenge.pk, used_at__isnull=True).update(
                used_at=now
            ):
                raise MfaTokenUsed
            if recovery_code is not None:
                recovery_code_use(user_id=user.pk, code=recovery_code, client=client)
                second, method = RECOVERY_AMR, "recovery_code"
            elif passkey is None:
                factor = factor_get_for_user(user_id=user.pk, factor_id=factor_id)
                if factor is None or factor.confirmed_at is None:
                    raise FactorNotFound
                if not totp_code_accept(factor=factor, code=code or "", at=now):
                    raise TotpCodeInvalid
                second, method = TOTP_AMR, "totp"
            audit_record(
                type=AuditEvent.Type.MFA_CHALLENGE_SUCCEEDED,
                user_id=user.pk,
                client=client,
                detail={"method": method, "challenge": challenge.pk},
            )
    except (
        FactorNotFound,
        TotpCodeInvalid,
        RecoveryCodeInvalid,
        PasskeyInvalid,
        PasskeyChallengeInvalid,
    ) as exc:
        reason = getattr(exc, "reason", exc.code)
        second_factor_failed(user_id=user.pk, client=client, during="sign_in", reason=reason)
        exc.extra["attempts_left"] = MAX_ATTEMPTS - challenge.attempts
        raise
    return challenge, second


def mfa_purge_expired(*, now: datetime) -> int:
    """Delete challenges (sign-in and passkey) past their end and factors never
    confirmed; return how many."""
    challenges, _by_model = MfaChallenge.objects.filter(expires_at__lt=now).delete()
    pending, _by_model = TotpFactor.objects.filter(
        confirmed_at__isnull=True, created_at__lt=pending_expired_before(now)
    ).delete()
    return challenges + pending + passkey_purge_expired(now=now)
