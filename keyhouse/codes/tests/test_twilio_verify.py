"""Codes sent by SMS made and checked by Twilio Verify, under the real SDK.

Only Twilio's HTTPS API is faked (``responses``): the engine's limits, tries, expiry,
replacement and single use are Keyhouse's own and are checked on the database rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from keyhouse.codes.checks import check_code_settings
from keyhouse.codes.models import OneTimeCode, Purpose
from keyhouse.codes.services import (
    CodeCooldown,
    CodeExhausted,
    CodeExpired,
    CodeInvalid,
    code_issue,
    code_send,
    code_verify,
)
from keyhouse.codes.tests.test_services import run_in_threads
from keyhouse.conftest import CLIENT
from keyhouse.core.exceptions import ServiceUnavailable
from keyhouse.delivery.models import Delivery
from keyhouse.delivery.tests import fake_twilio
from keyhouse.delivery.tests.fake_twilio import (
    BASIC_AUTH,
    VERIFICATION_CHECK_URL,
    VERIFICATION_SID,
    VERIFICATIONS_URL,
    form,
)
from keyhouse.testing import holds_in_clear

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 7, 9, 20, tzinfo=UTC)
PHONE = "+442079460958"
CODE = "042917"


@pytest.fixture
def verify(twilio_api, settings, time_machine):
    """Twilio Verify makes the SMS codes; its API is ``twilio_api``."""
    settings.KEYHOUSE_SMS_CODES = "twilio_verify"
    time_machine.move_to(START, tick=False)
    return twilio_api


def twilio_sends(verify) -> None:
    verify.post(VERIFICATIONS_URL, json=fake_twilio.verification(to=PHONE), status=201)


def twilio_answers(verify, status: str) -> None:
    verify.post(VERIFICATION_CHECK_URL, json=fake_twilio.verification(to=PHONE, status=status))


def issue(
    django_capture_on_commit_callbacks, purpose: Purpose = Purpose.VERIFY_PHONE, **kwargs
) -> OneTimeCode:
    """Send a code the way every journey does, running what waits for the commit."""
    with django_capture_on_commit_callbacks(execute=True):
        return code_send(purpose=purpose, target=PHONE, client=CLIENT, **kwargs)


@pytest.mark.parametrize(
    "purpose", [Purpose.VERIFY_PHONE, Purpose.PHONE_SIGN_IN, Purpose.CHANGE_PHONE]
)
def test_twilio_makes_and_sends_the_code_and_keyhouse_records_it(
    purpose, verify, user, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    record = issue(django_capture_on_commit_callbacks, purpose, user=user)

    [call] = verify.calls
    assert call.request.headers["Authorization"] == BASIC_AUTH
    assert form(call) == {"To": PHONE, "Channel": "sms"}
    assert record.provider == OneTimeCode.Provider.TWILIO_VERIFY
    assert record.expires_at == START + timedelta(minutes=10)
    assert len(record.code_hash) == 64
    delivery = Delivery.objects.get()
    assert delivery.template == purpose
    assert delivery.user == user
    assert delivery.status == Delivery.Status.SENT
    assert delivery.provider_message_id == VERIFICATION_SID


def test_the_code_twilio_approves_is_consumed_once(verify, django_capture_on_commit_callbacks):
    twilio_sends(verify)
    issued = issue(django_capture_on_commit_callbacks)
    twilio_answers(verify, "approved")

    record = code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=f" {CODE[:3]} {CODE[3:]}")

    assert record == issued
    assert record.consumed_at == START
    assert form(verify.calls[-1]) == {"To": PHONE, "Code": CODE}
    with pytest.raises(CodeInvalid):
        code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE)
    assert len(verify.calls) == 2


def test_a_code_twilio_does_not_approve_counts_a_wrong_try(
    verify, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    record = issue(django_capture_on_commit_callbacks)
    twilio_answers(verify, "pending")
    twilio_answers(verify, "approved")

    with pytest.raises(CodeInvalid) as info:
        code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code="111111")
    assert info.value.extra == {"tries_left": 4}
    assert code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE)
    record.refresh_from_db()
    assert record.attempts == 1


def test_a_verification_twilio_no_longer_knows_counts_a_wrong_try(
    verify, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    record = issue(django_capture_on_commit_callbacks)
    message = f"The requested resource {VERIFICATION_CHECK_URL} was not found"
    verify.post(
        VERIFICATION_CHECK_URL,
        json=fake_twilio.error(status=404, code=20404, message=message),
        status=404,
    )

    with pytest.raises(CodeInvalid) as info:
        code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE)

    assert info.value.extra == {"tries_left": 4}
    record.refresh_from_db()
    assert record.attempts == 1
    assert record.consumed_at is None


@pytest.mark.django_db(transaction=True)
def test_parallel_checks_of_one_code_ask_twilio_once(verify, django_capture_on_commit_callbacks):
    twilio_sends(verify)
    record = issue(django_capture_on_commit_callbacks)
    # Twilio would approve every check: only the row lock makes the code single-use.
    twilio_answers(verify, "approved")

    outcomes = run_in_threads(
        8, lambda: code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE)
    )

    assert sorted(outcomes) == ["code_invalid"] * 7 + ["ok"]
    assert len(verify.calls) == 1 + 1
    record.refresh_from_db()
    assert record.consumed_at is not None


def test_keyhouse_stops_asking_twilio_after_the_last_wrong_try(
    verify, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    record = issue(django_capture_on_commit_callbacks)
    twilio_answers(verify, "pending")
    for _ in range(4):
        with pytest.raises(CodeInvalid):
            code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code="111111")
    with pytest.raises(CodeExhausted):
        code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code="111111")

    with pytest.raises(CodeExhausted):
        code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE)
    assert len(verify.calls) == 1 + 5
    record.refresh_from_db()
    assert record.attempts == 5


def test_an_expired_code_is_refused_without_asking_twilio(
    verify, time_machine, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    issue(django_capture_on_commit_callbacks)
    time_machine.shift(timedelta(minutes=10))

    with pytest.raises(CodeExpired):
        code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE)
    assert len(verify.calls) == 1


@pytest.mark.parametrize(
    "code", ["abcdef", "123", "12345678901", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_a_malformed_code_is_wrong_without_asking_twilio(
    code, verify, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    record = issue(django_capture_on_commit_callbacks)

    with pytest.raises(CodeInvalid):
        code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=code)
    assert len(verify.calls) == 1
    record.refresh_from_db()
    assert record.attempts == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.ConnectionError("Connection refused")},
        {"body": requests.ReadTimeout("Read timed out. (read timeout=10)")},
        {
            "json": fake_twilio.error(status=503, code=20503, message="Service Unavailable"),
            "status": 503,
        },
        {"json": fake_twilio.error(status=401, code=20003, message="Authenticate"), "status": 401},
    ],
)
def test_twilio_unable_to_check_is_a_503_and_no_try(
    answer, verify, caplog, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    record = issue(django_capture_on_commit_callbacks)
    verify.post(VERIFICATION_CHECK_URL, **answer)

    with pytest.raises(ServiceUnavailable) as info:
        code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE)

    assert info.value.code == "service_unavailable"
    record.refresh_from_db()
    assert record.attempts == 0
    assert record.consumed_at is None
    assert "Twilio Verify could not check a code" in caplog.text
    assert not holds_in_clear(caplog.text, CODE)


def test_limits_still_apply_before_twilio_is_asked_to_send(
    verify, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    issue(django_capture_on_commit_callbacks)

    with pytest.raises(CodeCooldown):
        issue(django_capture_on_commit_callbacks)
    assert len(verify.calls) == 1
    assert OneTimeCode.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_a_new_verification_replaces_the_older_row(
    verify, time_machine, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    first = issue(django_capture_on_commit_callbacks)
    time_machine.shift(61)
    second = issue(django_capture_on_commit_callbacks)
    twilio_answers(verify, "approved")

    first.refresh_from_db()
    assert first.invalidated_at is not None
    assert code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE) == second


def test_a_refused_verification_is_recorded_not_raised(verify, django_capture_on_commit_callbacks):
    verify.post(
        VERIFICATIONS_URL,
        json=fake_twilio.error(
            status=403, code=60410, message="Verification delivery attempt blocked"
        ),
        status=403,
    )
    record = issue(django_capture_on_commit_callbacks)

    assert record.provider == OneTimeCode.Provider.TWILIO_VERIFY
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error == "60410: Verification delivery attempt blocked"


def test_email_codes_are_keyhouses_own_under_twilio_verify(verify):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target="ada@example.com")

    assert issued.code is not None
    assert issued.record.provider == OneTimeCode.Provider.KEYHOUSE
    assert code_verify(purpose=Purpose.VERIFY_EMAIL, target="ada@example.com", code=issued.code)
    assert len(verify.calls) == 0


def test_a_verify_code_stays_with_twilio_after_the_setting_changes(
    verify, settings, django_capture_on_commit_callbacks
):
    twilio_sends(verify)
    issue(django_capture_on_commit_callbacks)
    settings.KEYHOUSE_SMS_CODES = "keyhouse"
    twilio_answers(verify, "approved")

    assert code_verify(purpose=Purpose.VERIFY_PHONE, target=PHONE, code=CODE)


def test_sms_codes_are_keyhouses_own_by_default(db):
    issued = code_issue(purpose=Purpose.PHONE_SIGN_IN, target=PHONE)

    assert issued.code is not None
    assert issued.record.provider == OneTimeCode.Provider.KEYHOUSE
    assert code_verify(purpose=Purpose.PHONE_SIGN_IN, target=PHONE, code=issued.code)


def test_system_check_refuses_an_unknown_code_maker(settings):
    settings.KEYHOUSE_SMS_CODES = "twilio"
    [error] = check_code_settings()
    assert error.id == "codes.E003"
    settings.KEYHOUSE_SMS_CODES = "twilio_verify"
    assert check_code_settings() == []
