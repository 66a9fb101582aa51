"""Twilio Verify: Twilio makes the code, sends it and checks it.

Used instead of the messaging backend for codes sent by SMS when KEYHOUSE_SMS_CODES
is "twilio_verify"; keyhouse.delivery.services wraps these functions for the code
engine. Keyhouse still enforces its own limits and records each code's tries.
"""

from __future__ import annotations

from django.conf import settings
from twilio.rest.verify.v2.service import ServiceContext

from keyhouse.delivery.sms.base import SmsPermanentError
from keyhouse.delivery.sms.twilio import twilio_client, twilio_errors

# Twilio answers a check with 404 (20404) once the verification was approved,
# expired or deleted, and with 60202 after too many wrong checks: the code is dead.
DEAD_VERIFICATION_CODES = frozenset({20404, 60202})


def _service() -> ServiceContext:
    service_sid = settings.KEYHOUSE_TWILIO_VERIFY_SERVICE_SID
    if not service_sid:
        raise SmsPermanentError("Set KEYHOUSE_TWILIO_VERIFY_SERVICE_SID to use Twilio Verify.")
    return twilio_client().verify.v2.services(service_sid)


def verification_start(*, to: str, channel: str = "sms") -> str:
    """Ask Twilio to send a code to ``to`` by ``channel``; return the verification's SID.

    Within the verification's lifetime Twilio sends the same code again rather than a
    new one. Raises SmsTransientError or SmsPermanentError.
    """
    with twilio_errors():
        verification = _service().verifications.create(to=to, channel=channel)
    return verification.sid


def verification_check(*, to: str, code: str) -> bool:
    """Say whether ``code`` is the one Twilio sent to ``to``; Twilio consumes it if so.

    A verification that Twilio no longer knows is a wrong code, not an error. Raises
    SmsTransientError or SmsPermanentError when Twilio cannot answer.
    """
    try:
        with twilio_errors():
            check = _service().verification_checks.create(to=to, code=code)
    except SmsPermanentError as exc:
        if exc.code in DEAD_VERIFICATION_CODES:
            return False
        raise
    return check.status == "approved"
