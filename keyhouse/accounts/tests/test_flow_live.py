"""The whole sign-up flow over HTTP against a live server, mail through real SMTP."""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
import time_machine

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.testing import (
    WAIT_SECONDS,
    broker_url,
    celery_worker,
    free_port,
    smtp_mailers,
    tasks_sent_to,
)
from keyhouse.testing import call_api, code_in_mail
from keyhouse.users.models import User

PASSPHRASE = "a long and unusual passphrase"

pytestmark = pytest.mark.django_db(transaction=True)


def sign_up_verify_refresh(base: str, smtp_server) -> None:
    status, _ = call_api(
        base, "POST", "/api/v1/auth/signup", {"email": "ada@example.com", "password": PASSPHRASE}
    )
    assert status == HTTPStatus.ACCEPTED
    (message,) = smtp_server.wait_for_messages(1, timeout=WAIT_SECONDS)
    status, tokens = call_api(
        base,
        "POST",
        "/api/v1/auth/email/verify",
        {"email": "ada@example.com", "code": code_in_mail(message)},
    )
    assert status == HTTPStatus.OK, tokens
    assert tokens["user"]["email_verified"] is True
    status, refreshed = call_api(
        base, "POST", "/api/v1/auth/token/refresh", {"refresh_token": tokens["refresh_token"]}
    )
    assert status == HTTPStatus.OK, refreshed
    assert refreshed["refresh_token"] != tokens["refresh_token"]


def test_sign_up_flow_on_a_live_server_with_inline_delivery(live_server, smtp_mailer):
    sign_up_verify_refresh(live_server.url, smtp_mailer)


@pytest.mark.postgres
def test_sign_up_flow_on_a_live_server_with_a_celery_worker(live_server, smtp_server, tmp_path):
    broker = broker_url()
    log = tmp_path / "worker.log"
    with (
        celery_worker(broker=broker, smtp_port=smtp_server.port, log=log),
        tasks_sent_to(broker),
    ):
        sign_up_verify_refresh(live_server.url, smtp_server)
    assert Delivery.objects.get().status == Delivery.Status.SENT, log.read_text()


def test_mail_outage_loses_no_user_and_a_resend_delivers(live_server, smtp_server, settings):
    settings.KEYHOUSE_DELIVERY_MAX_RETRIES = 2
    settings.MAILERS = smtp_mailers(free_port())  # nothing listens there
    base = live_server.url
    status, _ = call_api(
        base, "POST", "/api/v1/auth/signup", {"email": "ada@example.com", "password": PASSPHRASE}
    )
    assert status == HTTPStatus.ACCEPTED
    failed = Delivery.objects.get()
    assert failed.status == Delivery.Status.FAILED
    assert failed.attempts == 3
    assert "Connection refused" in failed.last_error or "Errno" in failed.last_error

    settings.MAILERS = smtp_mailers(smtp_server.port)
    with time_machine.travel(time.time() + 61, tick=False):
        status, _ = call_api(
            base, "POST", "/api/v1/auth/email/resend", {"email": "ada@example.com"}
        )
        assert status == HTTPStatus.ACCEPTED
        (message,) = smtp_server.wait_for_messages(1, timeout=WAIT_SECONDS)
        status, tokens = call_api(
            base,
            "POST",
            "/api/v1/auth/email/verify",
            {"email": "ada@example.com", "code": code_in_mail(message)},
        )
    assert status == HTTPStatus.OK, tokens
    assert User.objects.count() == 1
    assert list(Delivery.objects.order_by("created_at").values_list("status", flat=True)) == [
        Delivery.Status.FAILED,
        Delivery.Status.SENT,
    ]
