"""The embedded mode runs background work inline: nothing touches a broker or warns of one."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest
from celery import current_app

from keyhouse.accounts.tests.test_signup import signup
from keyhouse.delivery.testing import forget_broker_connections


@pytest.fixture
def embedded(settings, caplog):
    """No broker configured, and none connected to by earlier tests in this process."""
    settings.CELERY_BROKER_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    forget_broker_connections()
    caplog.set_level(logging.INFO)
    yield caplog
    forget_broker_connections()


def warnings(caplog) -> list[str]:
    return [
        f"{record.name} {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING
    ]


@pytest.mark.django_db(transaction=True)
def test_a_sign_up_sends_its_mail_inline_without_a_broker(api_client, smtp_mailer, embedded):
    response = signup(api_client)

    assert response.status_code == HTTPStatus.ACCEPTED
    assert len(smtp_mailer.messages) == 1
    assert warnings(embedded) == []
    assert current_app._pool is None  # no broker connection was even made


@pytest.mark.django_db
def test_readyz_checks_no_broker(client, embedded):
    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert set(response.json()["checks"]) == {"database", "cache"}
    assert warnings(embedded) == []
    assert current_app._pool is None
