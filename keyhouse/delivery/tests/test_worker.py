"""The task through a real Celery worker process, a Redis broker and PostgreSQL."""

from __future__ import annotations

import time
from urllib.request import urlopen

import pytest

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import email_enqueue, sms_enqueue
from keyhouse.delivery.testing import (
    WAIT_SECONDS,
    broker_url,
    celery_worker,
    free_port,
    rabbitmq_url,
    tasks_sent_to,
)
from keyhouse.testing import holds_in_clear


def wait_until_sent(delivery: Delivery) -> None:
    """Wait for the worker to record ``delivery`` as sent (or give up after a while)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while delivery.status != Delivery.Status.SENT and time.monotonic() < deadline:
        time.sleep(0.1)
        delivery.refresh_from_db()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_delivers_a_queued_email(smtp_server, tmp_path):
    broker = broker_url()
    log = tmp_path / "worker.log"
    with (
        celery_worker(broker=broker, smtp_port=smtp_server.port, log=log),
        tasks_sent_to(broker),
    ):
        delivery = email_enqueue(
            to="ada@example.com",
            template="verify_email",
            context={"code": "042917", "expires_minutes": 10},
        )
        messages = smtp_server.wait_for_messages(1, timeout=WAIT_SECONDS)
        wait_until_sent(delivery)

    assert len(messages) == 1, log.read_text()
    assert "042917" in messages[0].get_body(("plain",)).get_content()
    assert delivery.status == Delivery.Status.SENT, log.read_text()
    assert delivery.attempts == 1
    assert delivery.provider_message_id == messages[0]["Message-ID"]
    assert not holds_in_clear(log.read_text(), "042917")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_texts_one_number_and_retries_then_records_another(smtp_server, tmp_path):
    broker = broker_url()
    outbox = tmp_path / "sms.jsonl"
    worker_env = {
        "KEYHOUSE_SMS_BACKEND": "keyhouse.delivery.tests.file_backend.FileBackend",
        "KEYHOUSE_TEST_SMS_OUTBOX": str(outbox),
        "KEYHOUSE_TEST_SMS_UNREACHABLE": "+14155550199",
        "KEYHOUSE_DELIVERY_MAX_RETRIES": "2",
        "KEYHOUSE_DELIVERY_RETRY_BACKOFF": "1",
    }
    log = tmp_path / "worker.log"
    metrics_port = free_port()
    worker_env["KEYHOUSE_WORKER_METRICS_PORT"] = str(metrics_port)
    with (
        celery_worker(broker=broker, smtp_port=smtp_server.port, log=log, **worker_env),
        tasks_sent_to(broker),
    ):
        context = {"code": "318204", "expires_minutes": 10}
        delivered = sms_enqueue(to="+14155550100", template="phone_sign_in", context=context)
        failing = sms_enqueue(to="+14155550199", template="phone_sign_in", context=context)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            delivered.refresh_from_db()
            failing.refresh_from_db()
            if Delivery.Status.QUEUED not in {delivered.status, failing.status}:
                break
            time.sleep(0.2)
        metrics = urlopen(f"http://127.0.0.1:{metrics_port}/", timeout=5).read().decode()

    retried = 'keyhouse_delivery_retries_total{task="keyhouse.delivery.tasks.deliver_sms"} 2.0'
    assert retried in metrics, metrics

    assert delivered.status == Delivery.Status.SENT, log.read_text()
    (line,) = outbox.read_text().splitlines()
    assert '"+14155550100"' in line
    assert "318204" in line
    assert failing.status == Delivery.Status.FAILED, log.read_text()
    assert failing.attempts == 3
    assert failing.last_error.startswith("20503")
    assert not holds_in_clear(log.read_text(), "318204")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_cut_off_by_a_killed_worker_is_sent_by_the_next(smtp_server, tmp_path):
    """A broker that sees the worker's connection drop hands its unfinished task on."""
    broker = rabbitmq_url()
    smtp_server.held.set()
    with tasks_sent_to(broker):
        with celery_worker(broker=broker, smtp_port=smtp_server.port, log=tmp_path / "a.log") as a:
            delivery = email_enqueue(
                to="ada@example.com",
                template="verify_email",
                context={"code": "042917", "expires_minutes": 10},
            )
            assert smtp_server.holding.wait(WAIT_SECONDS), (tmp_path / "a.log").read_text()
            a.kill()  # mid-delivery: the worker is talking to the mail server
            a.wait()
        smtp_server.held.clear()
        log = tmp_path / "b.log"
        with celery_worker(broker=broker, smtp_port=smtp_server.port, log=log):
            messages = smtp_server.wait_for_messages(1, timeout=WAIT_SECONDS)
            wait_until_sent(delivery)

    assert len(messages) == 1, log.read_text()
    assert "042917" in messages[0].get_body(("plain",)).get_content()
    assert delivery.status == Delivery.Status.SENT, log.read_text()
