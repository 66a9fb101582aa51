"""Second factors in the admin: shown on the user page, removed by an action."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.audit.models import AuditEvent
from keyhouse.mfa.models import RecoveryCode, TotpFactor
from keyhouse.mfa.tests.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(clock, client, admin_user):
    """Signed in to the admin once the clock is stopped (a session from 2026 is stale by 2030)."""
    client.force_login(admin_user)
    return client


def test_the_user_page_shows_the_factors_without_their_seeds(admin_client, enrolled, tokens):
    response = admin_client.get(f"/admin/users/user/{tokens.user.pk}/change/")
    assert response.status_code == HTTPStatus.OK
    assert b"Second factors" in response.content
    assert b"Phone" in response.content
    assert enrolled.secret.encode() not in response.content
    assert TotpFactor.objects.get().secret.encode() not in response.content


def test_an_admin_removes_a_users_factors_and_the_user_is_told(
    admin_client, admin_user, enrolled, tokens, mailoutbox
):
    response = admin_client.post(
        "/admin/users/user/",
        {"action": "remove_second_factors", "_selected_action": [str(tokens.user.pk)]},
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == HTTPStatus.FOUND
    assert not TotpFactor.objects.exists()
    assert not RecoveryCode.objects.exists()
    event = AuditEvent.objects.get(type=AuditEvent.Type.MFA_FACTOR_REMOVED)
    assert event.user_id == tokens.user.pk
    assert event.detail["admin"] == str(admin_user.pk)
    assert event.ip == "192.0.2.10"
    assert mailoutbox[-1].subject == "A sign-in app was removed from your Keyhouse account"
    assert "An administrator removed" in mailoutbox[-1].body
    assert "access_token" in login()  # the password alone signs in again
