"""Send text messages through Twilio Programmable Messaging.

This module and twilio_verify.py are the only ones that import the Twilio SDK. They
turn what it raises into SmsTransientError or SmsPermanentError carrying Twilio's
error code (https://www.twilio.com/docs/api/errors): 429 and 5xx answers, refused or
dropped connections and timeouts are transient; any other 4xx answer, such as 21211
(invalid 'To' number), 21610 (the recipient replied STOP), 21408 (region not enabled)
or 21614 (not a mobile number), is permanent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from keyhouse.delivery.sms.base import (
    SmsBackend,
    SmsError,
    SmsPermanentError,
    SmsResult,
    SmsTransientError,
)

CREDENTIAL_SETTINGS = ("KEYHOUSE_TWILIO_ACCOUNT_SID", "KEYHOUSE_TWILIO_AUTH_TOKEN")
# Twilio answers these with 429 although waiting minutes will not help: too many codes
# checked (60202) or sent (60203) for one verification.
PERMANENT_CODES = frozenset({60202, 60203})
# What the SDK puts before Twilio's own message, e.g. "Unable to create record: ".
_SDK_PREFIX = re.compile(r"^Unable to \w+ record: ")


class TwilioBackend(SmsBackend):
    """Send from KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID, or else KEYHOUSE_TWILIO_FROM_NUMBER."""

    @classmethod
    def settings_missing(cls) -> list[str]:
        missing = [name for name in CREDENTIAL_SETTINGS if not getattr(settings, name)]
        if not (
            settings.KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID or settings.KEYHOUSE_TWILIO_FROM_NUMBER
        ):
            missing.append("KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID or KEYHOUSE_TWILIO_FROM_NUMBER")
        return missing

    def send(self, *, to: str, body: str) -> SmsResult:
        sender = _sender()
        with twilio_errors():
            message = twilio_client().messages.create(to=to, body=body, **sender)
        return SmsResult(message_id=message.sid)


def _sender() -> dict[str, str]:
    if settings.KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID:
        return {"messaging_service_sid": settings.KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID}
    if settings.KEYHOUSE_TWILIO_FROM_NUMBER:
        return {"from_": settings.KEYHOUSE_TWILIO_FROM_NUMBER}
    raise SmsPermanentError(
        "Set KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID or KEYHOUSE_TWILIO_FROM_NUMBER to send SMS."
    )


def twilio_client() -> Client:
    """Return a Twilio client for the configured account.

    The SDK would fall back to TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN in the
    environment; requiring Keyhouse's own settings keeps one place to configure.
    """
    account_sid = settings.KEYHOUSE_TWILIO_ACCOUNT_SID
    auth_token = settings.KEYHOUSE_TWILIO_AUTH_TOKEN
    if not (account_sid and auth_token):
        raise SmsPermanentError(
            "Set KEYHOUSE_TWILIO_ACCOUNT_SID and KEYHOUSE_TWILIO_AUTH_TOKEN to use Twilio."
        )
    return _client(account_sid, auth_token, settings.KEYHOUSE_TWILIO_TIMEOUT)


@lru_cache(maxsize=4)
def _client(account_sid: str, auth_token: str, timeout: float) -> Client:
    """Keep one client per account, so that its HTTP session reuses its connections."""
    return Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))


def twilio_error(exc: TwilioRestException | TwilioServiceException) -> SmsError:
    """Sort an error answer from Twilio into transient or permanent, keeping its code."""
    if isinstance(exc, TwilioServiceException):
        message = exc.detail or exc.title
    else:
        message = _SDK_PREFIX.sub("", exc.msg)
    status = int(exc.status)
    transient = (status == 429 or status >= 500) and exc.code not in PERMANENT_CODES
    error_class = SmsTransientError if transient else SmsPermanentError
    return error_class(message, code=exc.code)


@contextmanager
def twilio_errors() -> Iterator[None]:
    """Raise what the SDK and its HTTP transport (requests) raise as an SmsError."""
    try:
        yield
    except (TwilioRestException, TwilioServiceException) as exc:
        raise twilio_error(exc) from exc
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    ) as exc:
        raise SmsTransientError(f"{type(exc).__name__}: {exc}") from exc
    except TwilioException as exc:
        raise SmsPermanentError(f"{type(exc).__name__}: {exc}") from exc
