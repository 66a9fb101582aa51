from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import email_enqueue

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliveries(mailoutbox, django_capture_on_commit_callbacks) -> list[Delivery]:
    with django_capture_on_commit_callbacks(execute=True):
        sent = email_enqueue(to="grace@example.com", template="signup_existing_account", context={})
        failed = email_enqueue(to="alan@example.com", template="missing", context={})
    return [sent, failed]


def test_changelist_filters_on_status_and_searches_the_recipient(admin_client, deliveries):
    response = admin_client.get("/admin/delivery/delivery/", {"status": "failed"})
    assert response.status_code == HTTPStatus.OK
    assert b"alan@example.com" in response.content
    assert b"grace@example.com" not in response.content

    response = admin_client.get("/admin/delivery/delivery/", {"q": "grace@"})
    assert b"grace@example.com" in response.content
    assert b"alan@example.com" not in response.content


def test_deliveries_are_read_only_in_the_admin(admin_client, deliveries):
    sent = deliveries[0]
    assert admin_client.get("/admin/delivery/delivery/add/").status_code == HTTPStatus.FORBIDDEN
    response = admin_client.get(f"/admin/delivery/delivery/{sent.pk}/change/")
    assert response.status_code == HTTPStatus.OK
    assert b'name="status"' not in response.content
    response = admin_client.post(f"/admin/delivery/delivery/{sent.pk}/delete/", {"post": "yes"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Delivery.objects.filter(pk=sent.pk).exists()
