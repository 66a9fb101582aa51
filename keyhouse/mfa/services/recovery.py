"""Recovery codes: ten single-use codes that stand in for a lost authenticator.

Each has 10 characters from an alphabet without look-alikes (no 0/O, 1/I/L), about
49 bits, and is stored only as a keyed hash. Input is forgiving: case, spaces and
hyphens do not matter. A code is spent by one conditional UPDATE, so it works once.
"""

from __future__ import annotations

import secrets
import uuid
from http import HTTPStatus

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.crypto import keyed_hash
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.delivery.services import email_enqueue
from keyhouse.mfa.models import RecoveryCode
from keyhouse.mfa.selectors import factor_confirmed_exists, recovery_codes_remaining
from keyhouse.mfa.services.assurance import reauthentication_require
from keyhouse.users.models import User

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10
COUNT = 10
HASH_SALT = "keyhouse.mfa.recovery-code"
RECOVERY_AMR = ["otp", "recovery_code"]


class RecoveryCodeInvalid(KeyhouseError):
    code = "recovery_code_invalid"
    message = _("The recovery code is wrong or was already used.")


class MfaNotEnabled(KeyhouseError):
    code = "mfa_not_enabled"
    status = HTTPStatus.CONFLICT
    message = _("Recovery codes come with a second factor: confirm an authenticator app first.")


def recovery_code_normalize(raw: str) -> str | None:
    """The code as stored: upper case, without spaces or hyphens; None if it cannot be one."""
    code = "".join(raw.split()).replace("-", "").upper()
    if len(code) != LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def _hash(code: str) -> str:
    return keyed_hash(code, salt=HASH_SALT)


def _display(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


@transaction.atomic
def recovery_codes_generate(*, user: User, client: ClientInfo) -> list[str]:
    """Replace the user's recovery codes with ten new ones, returned this once."""
    codes = {"".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)}
    while len(codes) < COUNT:  # a repeat among ten: about one chance in 10^13
        codes.add("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user_id=user.pk, code_hash=_hash(code)) for code in codes
    )
    audit_record(
        type=AuditEvent.Type.RECOVERY_CODES_GENERATED,
        user_id=user.pk,
        client=client,
        detail={"count": COUNT},
    )
    return [_display(code) for code in sorted(codes)]


def recovery_codes_regenerate(
    *, user: User, session_id: uuid.UUID, client: ClientInfo
) -> list[str]:
    """Replace the recovery codes at the user's request (a sensitive operation)."""
    if not factor_confirmed_exists(user_id=user.pk):
        raise MfaNotEnabled
    reauthentication_require(session_id=session_id)
    return recovery_codes_generate(user=user, client=client)


def recovery_code_use(*, user_id: uuid.UUID, code: str, client: ClientInfo) -> int:
    """Spend one of the user's recovery codes; return how many are left.

    The owner is told by email, since a code used by someone else means the account's
    password and recovery codes are both known. Run it inside the transaction that
    the code unlocks, so that a rolled-back sign-in spends nothing.
    """
    normalized = recovery_code_normalize(code)
    if normalized is None:
        raise RecoveryCodeInvalid
    spent = RecoveryCode.objects.filter(
        user_id=user_id, code_hash=_hash(normalized), used_at__isnull=True
    ).update(used_at=timezone.now())
    if spent != 1:
        raise RecoveryCodeInvalid
    remaining = recovery_codes_remaining(user_id=user_id)
    audit_record(
        type=AuditEvent.Type.RECOVERY_CODE_USED,
        user_id=user_id,
        client=client,
        detail={"remaining": remaining},
    )
    user = User.objects.get(pk=user_id)
    if user.email:
        email_enqueue(
            to=user.email,
            template="mfa_recovery_code_used",
            context={"remaining": remaining},
            user=user,
        )
    return remaining
