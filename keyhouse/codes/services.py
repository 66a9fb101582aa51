"""Issue and verify one-time codes, one engine for every purpose.

A code is stored only as an HMAC whose salt names its purpose and target, so a code
sent to verify one address can neither verify another nor reset a password. Limits
live in the cache (keyhouse.core.ratelimit) and are checked before anything is
written: a refused request leaves the code already sent usable.

Codes sent by SMS may be made and checked by Twilio Verify instead
(KEYHOUSE_SMS_CODES = "twilio_verify"). Starting and checking those goes through
keyhouse.delivery, the app that talks to providers; delivery never imports this one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.codes.models import SMS_PURPOSES, OneTimeCode, Purpose
from keyhouse.core.crypto import keyed_hash, keyed_hash_matches, random_digits, random_secret
from keyhouse.core.exceptions import KeyhouseError, ServiceUnavailable
from keyhouse.core.ratelimit import RateLimited, cooldown_start, parse_rate, ratelimit_hit
from keyhouse.delivery.services import sms_verification_check, sms_verification_enqueue


class CodeCooldown(RateLimited):
    code = "code_cooldown"
    message = _("A code was sent moments ago. Wait a little before asking for another.")


class CodeInvalid(KeyhouseError):
    code = "code_invalid"
    status = HTTPStatus.BAD_REQUEST
    message = _("The code is not valid.")


class CodeExpired(KeyhouseError):
    code = "code_expired"
    status = HTTPStatus.BAD_REQUEST
    message = _("The code has expired. Ask for a new one.")


class CodeExhausted(KeyhouseError):
    code = "code_attempts_exceeded"
    status = HTTPStatus.BAD_REQUEST
    message = _("The code was entered wrong too many times. Ask for a new one.")


# What asking for a code can answer: asked again too soon, too often, the cache down.
CODE_REQUEST_ERRORS = (CodeCooldown, RateLimited, ServiceUnavailable)
# What checking a code can answer a signed-in user (an anonymous caller gets CodeInvalid
# for each, see accounts.services.verification.code_check); a code Twilio Verify made can
# also answer ServiceUnavailable while Twilio is unreachable.
CODE_CHECK_ERRORS = (CodeInvalid, CodeExpired, CodeExhausted)


@dataclass(frozen=True)
class IssuedCode:
    """A new code: ``code`` is the plaintext, handed out once for delivery and never stored.

    ``code`` is None when a provider makes and sends the code (Twilio Verify): there is
    nothing for the caller to send.
    """

    record: OneTimeCode
    code: str | None = field(repr=False)

    @property
    def expires_minutes(self) -> int:
        return math.ceil((self.record.expires_at - self.record.created_at).total_seconds() / 60)


def code_target_canonical(target: str) -> str:
    """Compare targets case-insensitively, as user emails are, and limit them as one."""
    return target.strip().lower()


def _salt(purpose: str, target: str) -> str:
    return f"keyhouse.codes.{purpose}:{target}"


def _provider(purpose: Purpose) -> OneTimeCode.Provider:
    """Say who makes the code: Twilio Verify for SMS when KEYHOUSE_SMS_CODES says so."""
    if purpose in SMS_PURPOSES:
        return OneTimeCode.Provider(settings.KEYHOUSE_SMS_CODES)  # checked by codes.E003
    return OneTimeCode.Provider.KEYHOUSE


def code_limits_hit(*, purpose: Purpose | str, target: str, ip: str | None = None) -> None:
    """Count a request for a code against the limits on sending codes; refuse it with 429.

    ``code_issue`` calls this first. Call it alone where a request must cost what a
    code request costs without issuing a code, so that the answer does not tell
    whether an account exists.

    The per-IP cap comes first so that a client over it charges no target. The
    cooldown comes before the per-target cap so that impatient resends do not use up
    the hour. The per-target cap spans all purposes: it bounds the messages any one
    address or number receives.
    """
    purpose = Purpose(purpose)
    target = code_target_canonical(target)
    if ip:
        result = ratelimit_hit(
            scope="codes.issue.ip", key=ip, rate=parse_rate(settings.KEYHOUSE_CODE_RATE_PER_IP)
        )
        if not result.allowed:
            raise RateLimited(retry_after=result.retry_after)
    wait = cooldown_start(
        scope="codes.issue.cooldown",
        key=f"{purpose}:{target}",
        seconds=settings.KEYHOUSE_CODE_RESEND_COOLDOWN,
    )
    if wait:
        raise CodeCooldown(retry_after=wait)
    result = ratelimit_hit(
        scope="codes.issue.target",
        key=target,
        rate=parse_rate(settings.KEYHOUSE_CODE_RATE_PER_TARGET),
    )
    if not result.allowed:
        raise RateLimited(retry_after=result.retry_after)


def code_issue(
    *,
    purpose: Purpose | str,
    target: str,
    user: AbstractBaseUser | None = None,
    ip: str | None = None,
) -> IssuedCode:
    """Issue a code for ``purpose`` to send to ``target``, replacing older live ones.

    Raises CodeCooldown (429) while the resend cooldown of this purpose and target
    runs, and RateLimited (429) over the hourly cap per target or per client ``ip``;
    both carry ``retry_after``.

    When Twilio Verify makes the code (see ``_provider``), the row is recorded all the
    same, a verification is queued to start once the transaction commits, and the
    returned ``code`` is None.
    """
    purpose = Purpose(purpose)
    target = code_target_canonical(target)
    code_limits_hit(purpose=purpose, target=target, ip=ip)
    provider = _provider(purpose)
    code = None
    if provider == OneTimeCode.Provider.KEYHOUSE:
        code = random_digits(settings.KEYHOUSE_CODE_LENGTH)
    now = timezone.now()
    with transaction.atomic():
        OneTimeCode.objects.filter(
            purpose=purpose, target=target, consumed_at__isnull=True, invalidated_at__isnull=True
        ).update(invalidated_at=now, updated_at=now)
        record = OneTimeCode.objects.create(
            purpose=purpose,
            target=target,
            user=user,
            provider=provider,
            # Twilio's codes never reach Keyhouse: hash a secret nobody knows instead,
            # so that no code could match the row here.
            code_hash=keyed_hash(code or random_secret(), salt=_salt(purpose, target)),
            expires_at=now + timedelta(seconds=settings.KEYHOUSE_CODE_TTL),
        )
        if code is None:
            sms_verification_enqueue(to=target, template=purpose, user=user)
    return IssuedCode(record=record, code=code)


def _code_try(*, record: OneTimeCode | None, code: str, now: datetime) -> KeyhouseError | None:
    """Check ``code`` against the locked ``record``, saving the outcome; return the error."""
    if record is None:
        return CodeInvalid()
    max_attempts = settings.KEYHOUSE_CODE_MAX_ATTEMPTS
    if record.attempts >= max_attempts:
        return CodeExhausted()
    if record.expires_at <= now:
        return CodeExpired()
    if not _code_matches(record=record, code=code):
        record.attempts += 1
        record.save(update_fields=["attempts", "updated_at"])
        tries_left = max_attempts - record.attempts
        return CodeInvalid(extra={"tries_left": tries_left}) if tries_left else CodeExhausted()
    record.consumed_at = now
    record.save(update_fields=["consumed_at", "updated_at"])
    return None


def _code_matches(*, record: OneTimeCode, code: str) -> bool:
    """Compare ``code`` with the row's HMAC, or ask Twilio Verify if Twilio made it."""
    if record.provider == OneTimeCode.Provider.TWILIO_VERIFY:
        # Twilio takes codes of 4 to 10 characters; anything else is wrong without asking.
        if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 10):
            return False
        return sms_verification_check(to=record.target, code=code)
    return keyed_hash_matches(code, record.code_hash, salt=_salt(record.purpose, record.target))


def code_verify(*, purpose: Purpose | str, target: str, code: str) -> OneTimeCode:
    """Consume the live code for ``purpose`` and ``target`` if ``code`` matches it.

    Raises CodeInvalid (400, with ``tries_left`` after a wrong guess, without it when
    no code is live), CodeExpired (400) or CodeExhausted (400) once the wrong tries
    reach KEYHOUSE_CODE_MAX_ATTEMPTS, after which even the right code fails. A code
    that Twilio Verify made is checked by Twilio, under the same lock and counting;
    when Twilio cannot answer, ServiceUnavailable (503) is raised and no try counted.

    The newest live row is locked, so of two requests with one code only one
    consumes it. A wrong try must stay counted although an error follows, so the
    check commits first and the error is raised after: call this outside any
    transaction that an error would roll back, or wrong tries would go uncounted.
    """
    purpose = Purpose(purpose)
    target = code_target_canonical(target)
    with transaction.atomic():
        record = (
            OneTimeCode.objects.select_for_update()
            .filter(
                purpose=purpose,
                target=target,
                consumed_at__isnull=True,
                invalidated_at__isnull=True,
            )
            .order_by("-created_at")
            .first()
        )
        error = _code_try(record=record, code="".join(code.split()), now=timezone.now())
    if error is not None:
        raise error
    return record


def code_invalidate_for_target(*, user_id: object, target: str) -> int:
    """End the user's live codes sent to ``target`` (an address they no longer have)."""
    now = timezone.now()
    return OneTimeCode.objects.filter(
        user_id=user_id,
        target=code_target_canonical(target),
        consumed_at__isnull=True,
        invalidated_at__isnull=True,
    ).update(invalidated_at=now, updated_at=now)


def code_purge_expired(*, now: datetime | None = None) -> int:
    """Delete codes that expired more than KEYHOUSE_CODE_RETENTION_DAYS ago; return how many.

    Every code is dead by its expiry, consumed and replaced ones earlier, so expiry
    alone decides; the retention keeps recent codes for support questions.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.KEYHOUSE_CODE_RETENTION_DAYS)
    with transaction.atomic():
        deleted, _by_model = OneTimeCode.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
