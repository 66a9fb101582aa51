"""One-time codes, one engine for every purpose: send them and check them.

Callers use ``code_send`` and ``code_check``, whoever makes the code: they issue it,
deliver it by email or SMS (or have Twilio Verify make, send and check it), count it
in the metrics and record it in the audit trail. Nothing else queues a code.

A code is stored only as an HMAC whose salt names its purpose and target, so a code
sent to verify one address can neither verify another nor reset a password. Limits
live in the cache (keyhouse.core.ratelimit) and are checked before anything is
written: a refused request leaves the code already sent usable. A target is an email
address in its canonical form (``email_canonical``) or a phone number in E.164.

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

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import SMS_PURPOSES, OneTimeCode, Purpose
from keyhouse.core.crypto import keyed_hash, keyed_hash_matches, random_digits, random_secret
from keyhouse.core.exceptions import KeyhouseError, ServiceUnavailable
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import CODE_CHECKS, CODES_SENT
from keyhouse.core.ratelimit import RateLimited, cooldown_start, parse_rate, ratelimit_hit
from keyhouse.delivery.services import (
    email_enqueue,
    sms_enqueue,
    sms_verification_check,
    sms_verification_enqueue,
)
from keyhouse.users.emails import email_canonical


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
# for each, see code_check below); a code Twilio Verify made can also answer
# ServiceUnavailable while Twilio is unreachable.
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


def _target(purpose: Purpose, target: str) -> str:
    """Return ``target`` as codes store, limit and compare it (see the module's notes)."""
    return target.strip() if purpose in SMS_PURPOSES else email_canonical(target)


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
    target = _target(purpose, target)
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
    """Issue a code for ``purpose`` and ``target``, replacing older live ones; send nothing.

    ``code_send`` issues and delivers; this alone only makes the row (and the code).
    Raises CodeCooldown (429) while the resend cooldown of this purpose and target
    runs, and RateLimited (429) over the hourly cap per target or per client ``ip``;
    both carry ``retry_after``.

    When Twilio Verify makes the code (see ``_provider``), the row is recorded all the
    same and the returned ``code`` is None: Twilio makes it when ``code_send`` asks.
    """
    purpose = Purpose(purpose)
    target = _target(purpose, target)
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
    return IssuedCode(record=record, code=code)


@transaction.atomic
def code_send(
    *,
    purpose: Purpose | str,
    target: str,
    client: ClientInfo,
    user: AbstractBaseUser | None = None,
    template: str | None = None,
) -> OneTimeCode:
    """Issue a code for ``purpose`` and send it to ``target``; return its row.

    The purposes of ``SMS_PURPOSES`` go by SMS, the others by email, in the template
    named ``template`` (the purpose's name by default). The message is queued once the
    surrounding transaction commits, so a code rolled back is never sent; with Twilio
    Verify making the SMS codes, Twilio is asked to make and send one instead. Raises
    what ``code_issue`` raises, before anything is written.
    """
    purpose = Purpose(purpose)
    issued = code_issue(purpose=purpose, target=target, user=user, ip=client.ip)
    record = issued.record
    channel = "sms" if purpose in SMS_PURPOSES else "email"
    if issued.code is None:
        sms_verification_enqueue(to=record.target, template=purpose, user=user)
    else:
        enqueue = sms_enqueue if channel == "sms" else email_enqueue
        enqueue(
            to=record.target,
            template=template or purpose,
            context={"code": issued.code, "expires_minutes": issued.expires_minutes},
            user=user,
        )
    CODES_SENT.labels(purpose=purpose, channel=channel).inc()
    audit_record(
        type=AuditEvent.Type.CODE_SENT,
        user_id=user.pk if user else None,
        client=client,
        detail={"purpose": purpose, "channel": channel},
    )
    return record


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


def code_verify(
    *, purpose: Purpose | str, target: str, code: str, user_id: object = None
) -> OneTimeCode:
    """Consume the live code for ``purpose`` and ``target`` if ``code`` matches it.

    With ``user_id``, only a code issued for that user counts: a newer code someone
    else asked for the same target (which replaced this user's) answers CodeInvalid.

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
    target = _target(purpose, target)
    live = OneTimeCode.objects.filter(
        purpose=purpose, target=target, consumed_at__isnull=True, invalidated_at__isnull=True
    )
    if user_id is not None:
        live = live.filter(user_id=user_id)
    with transaction.atomic():
        record = live.select_for_update().order_by("-created_at").first()
        error = _code_try(record=record, code="".join(code.split()), now=timezone.now())
    if error is not None:
        raise error
    return record


def code_check(
    *,
    purpose: Purpose | str,
    target: str,
    code: str,
    client: ClientInfo,
    user_id: object = None,
    anonymous: bool,
) -> OneTimeCode:
    """Check a code (see ``code_verify``), recording the outcome in the audit trail.

    ``user_id`` is the signed-in user checking a code for their own account: only a
    code issued for them counts.

    For an ``anonymous`` caller every failure becomes the same ``code_invalid``, with
    no count of tries: a different answer for an expired code, or a count, would tell
    anyone that a code is pending for the target, and so that an account exists. A
    signed-in user checking a code for their own change gets the precise error.
    Call it outside any transaction that an error would roll back (see ``code_verify``).
    """
    purpose = Purpose(purpose)
    try:
        record = code_verify(purpose=purpose, target=target, code=code, user_id=user_id)
    except CODE_CHECK_ERRORS as exc:
        CODE_CHECKS.labels(purpose=purpose, outcome=exc.code).inc()
        audit_record(
            type=AuditEvent.Type.CODE_CHECK_FAILED,
            user_id=user_id,
            client=client,
            detail={"purpose": purpose, "reason": exc.code},
        )
        if anonymous:
            raise CodeInvalid from exc
        raise
    CODE_CHECKS.labels(purpose=purpose, outcome="valid").inc()
    audit_record(
        type=AuditEvent.Type.CODE_CHECKED,
        user_id=record.user_id,
        client=client,
        detail={"purpose": purpose},
    )
    return record


def code_invalidate_for_target(*, user_id: object, target: str) -> int:
    """End the user's live codes sent to ``target`` (an address they no longer have)."""
    now = timezone.now()
    return OneTimeCode.objects.filter(
        user_id=user_id,
        target=email_canonical(target),
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
