"""The task through a real Celery worker process, a Redis broker and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import email_enqueue
from keyhouse.delivery.testing import WAIT_SECONDS, broker_url, celery_worker, tasks_sent_to


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
        deadline = time.monotonic() + WAIT_SECONDS
        while delivery.status != Delivery.Status.SENT and time.monotonic() < deadline:
            time.sleep(0.1)
            delivery.refresh_from_db()

    assert len(messages) == 1, log.read_text()
    assert "042917" in messages[0].get_body(("plain",)).get_content()
    assert delivery.status == Delivery.Status.SENT, log.read_text()
    assert delivery.attempts == 1
    assert delivery.provider_message_id == messages[0]["Message-ID"]
    assert "042917" not in log.read_text()
