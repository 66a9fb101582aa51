from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from keyhouse.codes.models import OneTimeCode, Purpose
from keyhouse.codes.services import code_issue
from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import email_enqueue

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 7, 9, 20, tzinfo=UTC)


def purge_expired() -> str:
    out = StringIO()
    call_command("purge_expired", stdout=out)
    return out.getvalue()


def test_purge_expired_removes_old_codes_and_deliveries_and_reports_counts(
    time_machine, mailoutbox, django_capture_on_commit_callbacks
):
    time_machine.move_to(START, tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        old_code = code_issue(purpose=Purpose.VERIFY_EMAIL, target="ada@example.com")
        email_enqueue(
            to="ada@example.com", template="verify_email", context={"code": old_code.code}
        )
    time_machine.shift(timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True):
        new_code = code_issue(purpose=Purpose.VERIFY_EMAIL, target="ada@example.com")
        new_delivery = email_enqueue(
            to="ada@example.com", template="verify_email", context={"code": new_code.code}
        )

    output = purge_expired()

    assert "One-time codes: 1 removed" in output
    assert "Delivery: 1 removed" in output
    assert list(OneTimeCode.objects.all()) == [new_code.record]
    assert list(Delivery.objects.all()) == [new_delivery]
    assert "One-time codes: 0 removed" in purge_expired()


def test_delivery_retention_is_a_setting(settings, time_machine, mailoutbox):
    settings.KEYHOUSE_DELIVERY_RETENTION_DAYS = 7
    time_machine.move_to(START, tick=False)
    email_enqueue(to="ada@example.com", template="signup_existing_account", context={})
    time_machine.shift(timedelta(days=6))
    assert "Delivery: 0 removed" in purge_expired()
    time_machine.shift(timedelta(days=1, seconds=1))
    assert "Delivery: 1 removed" in purge_expired()
