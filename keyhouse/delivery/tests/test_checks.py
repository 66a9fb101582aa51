from __future__ import annotations

import pytest

from keyhouse.delivery.checks import check_sms_settings
from keyhouse.delivery.tests.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    MESSAGING_SERVICE_SID,
    VERIFY_SERVICE_SID,
)

TWILIO_BACKEND = "keyhouse.delivery.sms.twilio.TwilioBackend"


@pytest.fixture
def unconfigured(settings):
    for name in (
        "KEYHOUSE_TWILIO_ACCOUNT_SID",
        "KEYHOUSE_TWILIO_AUTH_TOKEN",
        "KEYHOUSE_TWILIO_FROM_NUMBER",
        "KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID",
        "KEYHOUSE_TWILIO_VERIFY_SERVICE_SID",
    ):
        setattr(settings, name, "")
    return settings


def messages(errors) -> list[str]:
    return [f"{error.id} {error.msg}" for error in errors]


def test_console_and_memory_backends_need_nothing(unconfigured):
    assert check_sms_settings() == []
    unconfigured.KEYHOUSE_SMS_BACKEND = "keyhouse.delivery.sms.memory.MemoryBackend"
    assert check_sms_settings() == []


def test_the_twilio_backend_needs_credentials_and_a_sender(unconfigured):
    unconfigured.KEYHOUSE_SMS_BACKEND = TWILIO_BACKEND
    assert messages(check_sms_settings()) == [
        "delivery.E002 KEYHOUSE_TWILIO_ACCOUNT_SID is not set.",
        "delivery.E002 KEYHOUSE_TWILIO_AUTH_TOKEN is not set.",
        "delivery.E002 KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID or KEYHOUSE_TWILIO_FROM_NUMBER "
        "is not set.",
    ]

    unconfigured.KEYHOUSE_TWILIO_ACCOUNT_SID = ACCOUNT_SID
    unconfigured.KEYHOUSE_TWILIO_AUTH_TOKEN = AUTH_TOKEN
    unconfigured.KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID = MESSAGING_SERVICE_SID
    assert check_sms_settings() == []
    unconfigured.KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID = ""
    unconfigured.KEYHOUSE_TWILIO_FROM_NUMBER = FROM_NUMBER
    assert check_sms_settings() == []


def test_twilio_verify_needs_credentials_and_its_service(unconfigured):
    unconfigured.KEYHOUSE_SMS_CODES = "twilio_verify"
    assert messages(check_sms_settings()) == [
        "delivery.E002 KEYHOUSE_TWILIO_ACCOUNT_SID is not set.",
        "delivery.E002 KEYHOUSE_TWILIO_AUTH_TOKEN is not set.",
        "delivery.E002 KEYHOUSE_TWILIO_VERIFY_SERVICE_SID is not set.",
    ]

    unconfigured.KEYHOUSE_SMS_BACKEND = TWILIO_BACKEND
    assert len(check_sms_settings()) == 4  # each missing setting once

    unconfigured.KEYHOUSE_SMS_BACKEND = "keyhouse.delivery.sms.console.ConsoleBackend"
    unconfigured.KEYHOUSE_TWILIO_ACCOUNT_SID = ACCOUNT_SID
    unconfigured.KEYHOUSE_TWILIO_AUTH_TOKEN = AUTH_TOKEN
    unconfigured.KEYHOUSE_TWILIO_VERIFY_SERVICE_SID = VERIFY_SERVICE_SID
    assert check_sms_settings() == []


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        (
            "keyhouse.delivery.sms.nowhere.Backend",
            "No module named 'keyhouse.delivery.sms.nowhere'",
        ),
        ("keyhouse.delivery.sms.console.Missing", 'does not define a "Missing"'),
        ("keyhouse.delivery.models.Delivery", "is not an SmsBackend"),
        ("keyhouse.delivery.sms.memory.outbox", "is not an SmsBackend"),
    ],
)
def test_a_backend_that_is_not_one_is_reported(backend, says, settings):
    settings.KEYHOUSE_SMS_BACKEND = backend
    [error] = check_sms_settings()
    assert error.id == "delivery.E001"
    assert says in error.msg
