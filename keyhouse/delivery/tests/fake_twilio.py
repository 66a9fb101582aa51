"""Twilio's HTTPS API faked with ``responses`` under the real SDK, and fake credentials.

The fixture ``twilio_api`` configures the Twilio backend and Verify with the fake
account below and yields the ``responses`` mock: register Twilio's answers on it and
read the requests the SDK sent from its ``calls``. Any request to a URL that was not
registered fails, as does a registered answer that was never asked for.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "f1e2d3c4b5a6978812345678abcdef09"
MESSAGING_SERVICE_SID = "MG0123456789abcdef0123456789abcdef"
VERIFY_SERVICE_SID = "VA0123456789abcdef0123456789abcdef"
FROM_NUMBER = "+15005550006"
MESSAGE_SID = "SM0123456789abcdef0123456789abcdef"
VERIFICATION_SID = "VE0123456789abcdef0123456789abcdef"

MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
VERIFY_URL = f"https://verify.twilio.com/v2/Services/{VERIFY_SERVICE_SID}"
VERIFICATIONS_URL = f"{VERIFY_URL}/Verifications"
VERIFICATION_CHECK_URL = f"{VERIFY_URL}/VerificationCheck"
BASIC_AUTH = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


def message(*, to: str, sid: str = MESSAGE_SID) -> dict[str, Any]:
    """Twilio's answer to a message it accepted (201), trimmed to what matters."""
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "to": to,
        "from": FROM_NUMBER,
        "status": "queued",
        "error_code": None,
        "error_message": None,
    }


def verification(*, to: str, status: str = "pending") -> dict[str, Any]:
    """Twilio Verify's answer to a started (201) or checked (200) verification."""
    return {
        "sid": VERIFICATION_SID,
        "service_sid": VERIFY_SERVICE_SID,
        "account_sid": ACCOUNT_SID,
        "to": to,
        "channel": "sms",
        "status": status,
        "valid": status == "approved",
    }


def error(*, status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error body, e.g. status 400, code 21211."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def form(call: Any) -> dict[str, str]:
    """The form fields the SDK posted in ``call``, one value each."""
    return {key: value for key, [value] in parse_qs(call.request.body).items()}


@pytest.fixture
def twilio_api(settings: Any) -> Iterator[responses.RequestsMock]:
    """Send through Twilio with the fake account; answer its API with ``responses``."""
    settings.KEYHOUSE_SMS_BACKEND = "keyhouse.delivery.sms.twilio.TwilioBackend"
    settings.KEYHOUSE_TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.KEYHOUSE_TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.KEYHOUSE_TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID = ""
    settings.KEYHOUSE_TWILIO_VERIFY_SERVICE_SID = VERIFY_SERVICE_SID
    with responses.RequestsMock() as mock:
        yield mock
