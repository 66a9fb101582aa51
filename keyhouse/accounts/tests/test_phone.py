"""Phone sign-in and phone change by SMS code."""

from __future__ import annotations

import re
import threading
import time
from http import HTTPStatus

import jwt as pyjwt
import pytest
import time_machine
from django.db import connection

from keyhouse.audit.models import AuditEvent
from keyhouse.codes.models import OneTimeCode
from keyhouse.conftest import CLIENT
from keyhouse.delivery.models import Delivery
from keyhouse.delivery.tests.fake_twilio import MESSAGES_URL, form, message
from keyhouse.testing import code_in_sms, headers_but_request_id
from keyhouse.tokens.models import LoginSession
from keyhouse.users.models import User

SEND = "/api/v1/auth/phone/send-code"
VERIFY = "/api/v1/auth/phone/verify"
NUMBER = "+14155550100"

pytestmark = pytest.mark.django_db(transaction=True)


def send(api_client, phone=NUMBER):
    return api_client.post(SEND, {"phone": phone}, format="json")


def verify(api_client, code, phone=NUMBER):
    return api_client.post(VERIFY, {"phone": phone, "code": code}, format="json")


def test_a_new_number_signs_up_and_in_with_an_sms_code(api_client, sms_outbox):
    assert send(api_client, "+1 (415) 555-0100").status_code == HTTPStatus.ACCEPTED
    (sms,) = sms_outbox
    assert sms.to == NUMBER
    response = verify(api_client, code_in_sms(sms))
    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert body["user"]["phone"] == NUMBER
    assert body["user"]["phone_verified"] is True
    assert body["user"]["email"] is None
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["sms"]
    assert claims["phone_verified"] is True
    user = User.objects.get()
    assert not user.has_usable_password()


def test_a_registered_number_signs_in_to_its_account(api_client, sms_outbox, verified_user):
    User.objects.filter(pk=verified_user.pk).update(phone=NUMBER)
    send(api_client)
    response = verify(api_client, code_in_sms(sms_outbox[0]))
    assert response.json()["user"]["id"] == str(verified_user.pk)
    assert User.objects.count() == 1


def test_send_code_answers_the_same_for_registered_and_unknown_numbers(
    api_client, sms_outbox, verified_user, settings
):
    User.objects.filter(pk=verified_user.pk).update(phone=NUMBER)
    settings.KEYHOUSE_PHONE_SIGNUP_ENABLED = False
    registered = send(api_client)
    unknown = send(api_client, "+14155550111")
    assert registered.status_code == unknown.status_code == HTTPStatus.ACCEPTED
    assert registered.content == unknown.content
    assert headers_but_request_id(registered) == headers_but_request_id(unknown)
    assert [sms.to for sms in sms_outbox] == [NUMBER]


def test_with_phone_sign_up_off_a_new_number_cannot_sign_in(api_client, sms_outbox, settings):
    settings.KEYHOUSE_PHONE_SIGNUP_ENABLED = False
    send(api_client)
    assert sms_outbox == []
    assert verify(api_client, "123456").json()["code"] == "code_invalid"
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"phone": "FLOWERS"}, "invalid_phone"),
        ({"phone": "+1415"}, "invalid_phone"),
        ({"phone": "+1415555010012345678"}, "invalid_phone"),
        ({"phone": "4155550100"}, "invalid_phone"),
        ({"phone": "+2348031234567"}, "phone_country_not_allowed"),
        ({}, "validation_error"),
        ({"phone": 14155550100}, "validation_error"),
    ],
)
def test_bad_numbers_are_refused_before_any_sms(api_client, sms_outbox, settings, body, code):
    settings.KEYHOUSE_PHONE_DENIED_COUNTRY_CODES = ["234"]
    response = api_client.post(SEND, body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == code
    assert "phone" in response.json()["errors"]
    assert sms_outbox == []
    assert not OneTimeCode.objects.exists()
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", ""])
def test_malformed_codes_are_refused(api_client, sms_outbox, code):
    response = verify(api_client, code)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "code" in response.json()["errors"]
    assert not User.objects.exists()
    assert sms_outbox == []
    assert not Delivery.objects.exists()


def test_asking_again_within_the_cooldown_is_a_429_with_retry_after(api_client, sms_outbox):
    assert send(api_client).status_code == HTTPStatus.ACCEPTED
    again = send(api_client, "+1 415 555 0100")
    assert again.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert again.json()["code"] == "code_cooldown"
    assert 0 < int(again["Retry-After"]) <= 60
    assert len(sms_outbox) == 1


def test_a_number_gets_at_most_five_codes_an_hour(api_client, sms_outbox):
    start = (time.time() // 3600 + 1) * 3600  # the hour's counter starts at the hour
    for minute in range(5):
        with time_machine.travel(start + 61 * minute, tick=False):
            assert send(api_client).status_code == HTTPStatus.ACCEPTED
    with time_machine.travel(start + 61 * 5, tick=False):
        capped = send(api_client)
    assert capped.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert capped.json()["code"] == "rate_limited"
    assert int(capped["Retry-After"]) > 60
    assert len(sms_outbox) == 5


def test_one_client_gets_at_most_twenty_codes_an_hour(api_client, sms_outbox):
    with time_machine.travel((time.time() // 3600 + 1) * 3600, tick=False):
        for number in range(20):
            assert send(api_client, f"+1415555{number:04d}").status_code == HTTPStatus.ACCEPTED
        capped = send(api_client, "+14155559999")
    assert capped.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(capped["Retry-After"]) > 0
    assert len(sms_outbox) == 20


def test_a_wrong_code_signs_nobody_in(api_client, sms_outbox):
    send(api_client)
    wrong = f"{(int(code_in_sms(sms_outbox[0])) + 1) % 1_000_000:06d}"
    response = verify(api_client, wrong)
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "The code is not valid.",
        "code": "code_invalid",
    }
    assert not User.objects.exists()
    assert not LoginSession.objects.exists()
    failed = AuditEvent.objects.get(type="code_check_failed")
    assert failed.detail == {"purpose": "phone_sign_in", "reason": "code_invalid"}


def test_send_code_goes_through_twilio_with_the_code_in_the_body(api_client, twilio_api):
    twilio_api.post(MESSAGES_URL, json=message(to=NUMBER), status=201)
    assert send(api_client).status_code == HTTPStatus.ACCEPTED
    (call,) = twilio_api.calls
    sent = form(call)
    assert sent["To"] == NUMBER
    assert sent["From"] == "+15005550006"
    code = re.search(r"\b(\d{6})\b", sent["Body"]).group(1)
    assert verify(api_client, code).status_code == HTTPStatus.OK
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.provider_message_id.startswith("SM")


def test_a_twilio_outage_is_retried_and_never_a_500(api_client, twilio_api, settings):
    settings.KEYHOUSE_DELIVERY_MAX_RETRIES = 2
    for _ in range(3):
        twilio_api.post(MESSAGES_URL, json={"code": 20500, "status": 503}, status=503)
    response = send(api_client)
    assert response.status_code == HTTPStatus.ACCEPTED
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 3


def test_an_invalid_recipient_is_recorded_with_twilios_code(api_client, twilio_api):
    twilio_api.post(
        MESSAGES_URL,
        json={"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400},
        status=400,
    )
    assert send(api_client).status_code == HTTPStatus.ACCEPTED
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 1)
    assert delivery.last_error.startswith("21610")


def test_adding_a_phone_sets_it_verified(auth_client, sms_outbox, verified_user):
    response = auth_client.post("/api/v1/me/phone", {"phone": NUMBER}, format="json")
    assert response.status_code == HTTPStatus.ACCEPTED
    done = auth_client.post(
        "/api/v1/me/phone/verify", {"code": code_in_sms(sms_outbox[0])}, format="json"
    )
    assert done.status_code == HTTPStatus.OK, done.content
    assert done.json()["phone"] == NUMBER
    assert done.json()["phone_verified"] is True
    user = User.objects.get(pk=verified_user.pk)
    assert str(user.phone) == NUMBER
    assert AuditEvent.objects.filter(type="phone_changed", user=user).exists()


def test_a_wrong_code_for_the_new_phone_tells_the_tries_left(auth_client, sms_outbox):
    auth_client.post("/api/v1/me/phone", {"phone": NUMBER}, format="json")
    wrong = f"{(int(code_in_sms(sms_outbox[0])) + 1) % 1_000_000:06d}"
    response = auth_client.post("/api/v1/me/phone/verify", {"code": wrong}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert (response.json()["code"], response.json()["tries_left"]) == ("code_invalid", 4)


def test_changing_the_phone_needs_a_recent_authentication(tokens, sms_outbox):
    LoginSession.objects.filter(pk=tokens.session.pk).update(
        authenticated_at=tokens.session.authenticated_at.replace(year=2000)
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}")
    response = client.post("/api/v1/me/phone", {"phone": NUMBER}, format="json")
    assert response.json()["code"] == "reauthentication_required"
    assert sms_outbox == []


def test_a_number_verified_by_another_account_is_a_409(auth_client, sms_outbox):
    auth_client.post("/api/v1/me/phone", {"phone": NUMBER}, format="json")
    User.objects.create_user(None, phone=NUMBER)
    response = auth_client.post(
        "/api/v1/me/phone/verify", {"code": code_in_sms(sms_outbox[0])}, format="json"
    )
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "phone_taken"


def test_the_same_number_again_is_refused(auth_client, verified_user, sms_outbox):
    User.objects.filter(pk=verified_user.pk).update(phone=NUMBER)
    response = auth_client.post("/api/v1/me/phone", {"phone": "+1 415 555 0100"}, format="json")
    assert response.json()["code"] == "phone_unchanged"


def test_a_phone_code_reauthenticates(tokens, sms_outbox, api_client):
    User.objects.filter(pk=tokens.user.pk).update(
        phone=NUMBER, phone_verified_at="2026-01-01T00:00Z"
    )
    send(api_client)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}")
    response = client.post(
        "/api/v1/auth/reauthenticate", {"code": code_in_sms(sms_outbox[0])}, format="json"
    )
    assert response.status_code == HTTPStatus.NO_CONTENT


def test_concurrent_first_sign_ins_of_a_number_share_one_account():
    from django.db import transaction

    from keyhouse.accounts.services.phone import _phone_user_create

    barrier = threading.Barrier(4)
    results: list[object] = []

    def first_sign_in() -> None:
        barrier.wait()
        try:
            with transaction.atomic():
                results.append(_phone_user_create(NUMBER, client=CLIENT).pk)
        except Exception as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_sign_in) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1, results
    assert User.objects.filter(phone=NUMBER).count() == 1
