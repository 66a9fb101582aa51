from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.admin.utils import quote
from rest_framework.test import APIClient

from keyhouse.conftest import CLIENT
from keyhouse.tokens.models import LoginSession, SigningKey
from keyhouse.tokens.services import session_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_user_page_lists_their_sessions(admin_client, tokens):
    response = admin_client.get(f"/admin/users/user/{tokens.user.pk}/change/")
    assert response.status_code == HTTPStatus.OK
    assert str(tokens.session.pk).encode() in response.content


def test_sign_out_everywhere_ends_every_session_at_once(admin_client, tokens):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    response = admin_client.post(
        "/admin/users/user/",
        {"action": "sign_out_everywhere", "_selected_action": [str(tokens.user.pk)]},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert not LoginSession.objects.filter(user=tokens.user, revoked_at__isnull=True).exists()
    for pair in (tokens, other):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
        assert client.get("/api/v1/me").json()["code"] == "session_revoked"


def test_session_list_action_signs_out_selected_sessions(admin_client, tokens):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    admin_client.post(
        "/admin/tokens/loginsession/",
        {"action": "revoke_sessions", "_selected_action": [str(other.session.pk)]},
    )
    assert LoginSession.objects.get(pk=other.session.pk).revoke_reason == "admin"
    assert LoginSession.objects.get(pk=tokens.session.pk).revoked_at is None


def test_signing_keys_are_shown_without_their_private_half(admin_client):
    response = admin_client.get("/admin/tokens/signingkey/")
    assert response.status_code == HTTPStatus.OK
    key = SigningKey.objects.get()
    page = admin_client.get(f"/admin/tokens/signingkey/{quote(key.pk)}/change/")
    assert page.status_code == HTTPStatus.OK
    assert key.private_key.encode() not in page.content
