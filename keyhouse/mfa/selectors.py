from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db.models import Exists, Q, QuerySet
from django.utils import timezone

from keyhouse.mfa.models import MfaChallenge, Passkey, RecoveryCode, TotpFactor
from keyhouse.users.models import User

MAX_ATTEMPTS = 5  # wrong answers a second-factor challenge takes
PENDING_FACTOR_TTL = 10 * 60  # seconds an enrolled factor waits for its first code


def pending_expired_before(now: datetime) -> datetime:
    """Factors still pending that were enrolled before this time have expired."""
    return now - timedelta(seconds=PENDING_FACTOR_TTL)


def factor_list(*, user_id: uuid.UUID, now: datetime) -> QuerySet[TotpFactor]:
    """The user's confirmed factors and those pending that have not expired, oldest first."""
    return TotpFactor.objects.filter(user_id=user_id).filter(
        Q(confirmed_at__isnull=False) | Q(created_at__gte=pending_expired_before(now))
    )


def factors_confirmed(*, user_id: uuid.UUID) -> QuerySet[TotpFactor]:
    return TotpFactor.objects.filter(user_id=user_id, confirmed_at__isnull=False)


def factor_kinds(*, user_id: uuid.UUID) -> tuple[bool, bool]:
    """Whether the account has a confirmed app, and whether it has a passkey: one query."""
    kinds = (
        User.objects.filter(pk=user_id)
        .annotate(
            totp=Exists(factors_confirmed(user_id=user_id)),
            passkey=Exists(passkey_list(user_id=user_id)),
        )
        .values_list("totp", "passkey")
        .first()
    )
    return kinds or (False, False)


def factor_confirmed_exists(*, user_id: uuid.UUID) -> bool:
    """Whether the account has a second factor (an app or a passkey), and so needs one to
    sign in."""
    return any(factor_kinds(user_id=user_id))


def passkey_list(*, user_id: uuid.UUID) -> QuerySet[Passkey]:
    return Passkey.objects.filter(user_id=user_id)


def passkey_get_for_user(*, user_id: uuid.UUID, passkey_id: object) -> Passkey | None:
    """The user's passkey with this id; None for another user's, or for a malformed id."""
    try:
        passkey_uuid = uuid.UUID(str(passkey_id))
    except ValueError:
        return None
    return Passkey.objects.filter(user_id=user_id, pk=passkey_uuid).first()


def factor_get_for_user(*, user_id: uuid.UUID, factor_id: object) -> TotpFactor | None:
    """The user's factor with this id; None for another user's, or for a malformed id."""
    try:
        factor_uuid = uuid.UUID(str(factor_id))
    except ValueError:
        return None
    return TotpFactor.objects.filter(user_id=user_id, pk=factor_uuid).first()


def recovery_codes_remaining(*, user_id: uuid.UUID) -> int:
    return RecoveryCode.objects.filter(user_id=user_id, used_at__isnull=True).count()


def mfa_challenge_live(*, challenge_id: int, user_id: uuid.UUID) -> bool:
    """Whether the user's challenge can still be answered (unused, unexpired, tries left)."""
    return MfaChallenge.objects.filter(
        pk=challenge_id,
        user_id=user_id,
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
        attempts__lt=MAX_ATTEMPTS,
    ).exists()
