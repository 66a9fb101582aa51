"""Text messages through the real Twilio SDK, with only its HTTPS transport faked."""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import urlsplit

import pytest
import redis
import requests
from celery.exceptions import Retry

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import sms_enqueue, sms_verification_enqueue
from keyhouse.delivery.tasks import deliver_sms
from keyhouse.delivery.testing import broker_url, tasks_sent_to
from keyhouse.delivery.tests import fake_twilio
from keyhouse.delivery.tests.fake_twilio import (
    AUTH_TOKEN,
    BASIC_AUTH,
    FROM_NUMBER,
    MESSAGE_SID,
    MESSAGES_URL,
    MESSAGING_SERVICE_SID,
    VERIFICATION_SID,
    VERIFICATIONS_URL,
    form,
)
from keyhouse.testing import holds_in_clear

pytestmark = pytest.mark.django_db

PHONE = "+442079460958"
CODE = "042917"
CONTEXT = {"code": CODE, "expires_minutes": 10}
BODY = "042917 is your Keyhouse code to verify this phone number. It expires in 10 minutes."


def enqueue_verification(**kwargs) -> Delivery:
    return sms_enqueue(to=PHONE, template="verify_phone", context=CONTEXT, **kwargs)


def twilio_error(
    twilio_api, *, status: int, code: int, message: str, url: str = MESSAGES_URL
) -> None:
    twilio_api.post(
        url, json=fake_twilio.error(status=status, code=code, message=message), status=status
    )


def twilio_accepts(twilio_api) -> None:
    twilio_api.post(MESSAGES_URL, json=fake_twilio.message(to=PHONE), status=201)


def test_twilio_sends_the_message_and_its_sid_is_recorded(
    twilio_api, user, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    twilio_accepts(twilio_api)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification(user=user)

    [call] = twilio_api.calls
    assert call.request.headers["Authorization"] == BASIC_AUTH
    assert form(call) == {"To": PHONE, "From": FROM_NUMBER, "Body": BODY}
    delivery.refresh_from_db()
    assert delivery.channel == Delivery.Channel.SMS
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 1
    assert delivery.provider_message_id == MESSAGE_SID
    assert delivery.sent_at is not None
    assert delivery.user == user
    assert not holds_in_clear(caplog.text, CODE)
    assert AUTH_TOKEN not in caplog.text


def test_a_messaging_service_sends_in_place_of_a_number(
    twilio_api, settings, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID = MESSAGING_SERVICE_SID
    twilio_accepts(twilio_api)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_verification()

    [call] = twilio_api.calls
    assert form(call) == {"To": PHONE, "MessagingServiceSid": MESSAGING_SERVICE_SID, "Body": BODY}


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (429, 20429, "Too Many Requests"),
        (500, 20500, "Internal Server Error"),
        (503, 20503, "Service Unavailable"),
    ],
)
def test_rate_limits_and_server_errors_are_retried(
    status, code, message, twilio_api, django_capture_on_commit_callbacks
):
    twilio_error(twilio_api, status=status, code=code, message=message)
    twilio_accepts(twilio_api)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    assert len(twilio_api.calls) == 2
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 2
    assert delivery.last_error == f"{code}: {message}"
    assert delivery.provider_message_id == MESSAGE_SID


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("Connection refused"),
        requests.ConnectTimeout("Connection to api.twilio.com timed out"),
        requests.ReadTimeout("Read timed out. (read timeout=10)"),
    ],
)
def test_connection_failures_and_timeouts_are_retried(
    exc, twilio_api, django_capture_on_commit_callbacks
):
    twilio_api.post(MESSAGES_URL, body=exc)
    twilio_accepts(twilio_api)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 2
    assert delivery.last_error == f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, "The 'To' number +442079460958 is not a valid phone number."),
        (21610, "Attempt to send to unsubscribed recipient"),
        (21408, "Permission to send an SMS has not been enabled for the region indicated"),
        (21614, "'To' number is not a valid mobile number"),
    ],
)
def test_a_refused_number_fails_at_once_with_twilios_code(
    code, message, twilio_api, caplog, django_capture_on_commit_callbacks
):
    twilio_error(twilio_api, status=400, code=code, message=message)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    assert len(twilio_api.calls) == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert delivery.last_error == f"{code}: {message}"
    assert delivery.sent_at is None
    assert f"failed after 1 attempts: {code}: " in caplog.text
    assert not holds_in_clear(caplog.text, CODE)


@pytest.mark.parametrize(("status", "transient"), [(400, False), (429, True), (502, True)])
def test_problem_details_errors_are_sorted_the_same_way(
    status, transient, twilio_api, settings, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_DELIVERY_MAX_RETRIES = 1
    problem = {
        "type": "https://www.twilio.com/docs/errors/21211",
        "title": "Invalid 'To' Phone Number",
        "status": status,
        "code": 21211,
        "detail": "The 'To' number +442079460958 is not a valid phone number.",
    }
    twilio_api.post(MESSAGES_URL, json=problem, status=status)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    assert len(twilio_api.calls) == (2 if transient else 1)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error == f"21211: {problem['detail']}"


def test_wrong_credentials_fail_at_once(twilio_api, django_capture_on_commit_callbacks):
    twilio_error(twilio_api, status=401, code=20003, message="Authenticate")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error == "20003: Authenticate"


def test_an_outage_is_retried_until_the_retries_run_out(
    twilio_api, settings, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_DELIVERY_MAX_RETRIES = 2
    twilio_error(twilio_api, status=500, code=20500, message="Internal Server Error")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    assert len(twilio_api.calls) == 3
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 3
    assert delivery.last_error == "20500: Internal Server Error"


def test_missing_twilio_settings_fail_without_calling_twilio(
    twilio_api, settings, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_TWILIO_FROM_NUMBER = ""
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    assert len(twilio_api.calls) == 0
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert "KEYHOUSE_TWILIO_FROM_NUMBER" in delivery.last_error


def test_the_memory_backend_keeps_the_message(sms_outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    [message] = sms_outbox
    assert message.to == PHONE
    assert message.body == BODY
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.provider_message_id == message.message_id


def test_the_console_backend_prints_the_message(capsys, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    delivery.refresh_from_db()
    printed = capsys.readouterr().out
    assert f"SMS to {PHONE} ({delivery.provider_message_id})\n{BODY}\n" in printed
    assert delivery.status == Delivery.Status.SENT


def test_a_retry_keeps_the_code_out_of_what_workers_log(twilio_api):
    # Its own Redis database: the worker of test_worker consumes database 14.
    broker = urlsplit(broker_url())._replace(path="/13").geturl()
    queue = redis.Redis.from_url(broker)
    queue.delete("celery")
    twilio_error(twilio_api, status=503, code=20503, message="Service Unavailable")
    delivery = Delivery.objects.create(
        channel=Delivery.Channel.SMS, recipient=PHONE, template="verify_phone"
    )
    args = [str(delivery.id), CONTEXT]
    argsrepr = repr((str(delivery.id), "<context>"))

    # Run the task as a worker runs the message that sms_enqueue published.
    with tasks_sent_to(broker):
        deliver_sms.push_request(
            id=str(uuid.uuid4()), args=args, kwargs={}, called_directly=False, argsrepr=argsrepr
        )
        try:
            with pytest.raises(Retry):
                deliver_sms.run(*args)
        finally:
            deliver_sms.pop_request()

    [published] = queue.lrange("celery", 0, -1)
    queue.delete("celery")
    headers = json.loads(published)["headers"]
    assert headers["retries"] == 1
    assert headers["argsrepr"] == argsrepr
    assert not holds_in_clear(headers, CODE)


@pytest.mark.parametrize(
    ("template", "body"),
    [
        ("verify_phone", BODY),
        (
            "phone_sign_in",
            "042917 is your Keyhouse sign-in code. It expires in 10 minutes. "
            "Do not share it with anyone.",
        ),
        (
            "change_phone",
            "042917 is your Keyhouse code to make this the phone number of your account. "
            "It expires in 10 minutes.",
        ),
    ],
)
def test_each_sms_template_renders_one_short_message(
    template, body, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sms_enqueue(to=PHONE, template=template, context=CONTEXT)

    [message] = sms_outbox
    assert message.body == body
    assert len(message.body) <= 160


def test_product_name_webotp_domain_and_plural_come_through(
    settings, sms_outbox, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_PRODUCT_NAME = "Ada & Co's"
    settings.KEYHOUSE_SMS_WEBOTP_DOMAIN = "auth.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        sms_enqueue(
            to=PHONE, template="phone_sign_in", context={"code": CODE, "expires_minutes": 1}
        )

    [message] = sms_outbox
    assert message.body == (
        "042917 is your Ada & Co's sign-in code. It expires in 1 minute. "
        "Do not share it with anyone.\n\n@auth.example.com #042917"
    )


def test_a_verify_verification_is_queued_started_and_its_sid_recorded(
    twilio_api, user, django_capture_on_commit_callbacks
):
    twilio_api.post(VERIFICATIONS_URL, json=fake_twilio.verification(to=PHONE), status=201)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = sms_verification_enqueue(to=PHONE, template="verify_phone", user=user)

    [call] = twilio_api.calls
    assert call.request.headers["Authorization"] == BASIC_AUTH
    assert form(call) == {"To": PHONE, "Channel": "sms"}
    delivery.refresh_from_db()
    assert delivery.channel == Delivery.Channel.SMS
    assert delivery.template == "verify_phone"
    assert delivery.status == Delivery.Status.SENT
    assert delivery.provider_message_id == VERIFICATION_SID


def test_a_verify_outage_is_retried(twilio_api, django_capture_on_commit_callbacks):
    twilio_api.post(VERIFICATIONS_URL, body=requests.ConnectionError("Connection reset"))
    twilio_api.post(VERIFICATIONS_URL, json=fake_twilio.verification(to=PHONE), status=201)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = sms_verification_enqueue(to=PHONE, template="phone_sign_in")

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 2


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 60200, "Invalid parameter: To"),
        (429, 60203, "Max send attempts reached"),
        (403, 60410, "Verification delivery attempt blocked"),
    ],
)
def test_a_refused_verification_fails_at_once_with_twilios_code(
    status, code, message, twilio_api, django_capture_on_commit_callbacks
):
    twilio_error(twilio_api, status=status, code=code, message=message, url=VERIFICATIONS_URL)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = sms_verification_enqueue(to=PHONE, template="verify_phone")

    assert len(twilio_api.calls) == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error == f"{code}: {message}"
