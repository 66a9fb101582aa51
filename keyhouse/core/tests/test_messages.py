from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_admin_messages_reach_the_next_page(client, admin_user):
    client.force_login(admin_user)
    doomed = UserFactory(email="doomed@example.com")
    response = client.post(f"/admin/users/user/{doomed.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == HTTPStatus.OK
    shown = [str(message) for message in response.context["messages"]]
    assert any("doomed@example.com" in text and "deleted" in text for text in shown)
    # Read once, the message is gone from the page after.
    again = client.get("/admin/users/user/")
    assert not list(again.context["messages"])
