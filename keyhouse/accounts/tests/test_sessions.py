from __future__ import annotations

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import CLIENT, PASSWORD
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import session_start
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db

REFRESH = "/api/v1/auth/token/refresh"


def bearer(pair) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    return client


def test_me_returns_the_user(auth_client, verified_user):
    response = auth_client.get("/api/v1/me")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["id"] == str(verified_user.pk)


def test_me_needs_a_token(api_client):
    response = api_client.get("/api/v1/me")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "not_authenticated"


def test_sessions_lists_live_sessions_and_flags_the_current_one(auth_client, tokens):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    ended = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    bearer(ended).post("/api/v1/auth/logout", {}, format="json")
    response = auth_client.get("/api/v1/me/sessions")
    assert response.status_code == HTTPStatus.OK
    listed = {item["id"]: item for item in response.json()}
    assert set(listed) == {str(tokens.session.pk), str(other.session.pk)}
    assert listed[str(tokens.session.pk)]["current"] is True
    assert listed[str(other.session.pk)]["current"] is False
    assert listed[str(other.session.pk)]["ip"] == "203.0.113.7"
    assert listed[str(other.session.pk)]["user_agent"] == "pytest"
    assert {"created_at", "last_used_at", "amr"} <= set(listed[str(other.session.pk)])


def test_a_user_revokes_another_of_their_sessions(auth_client, tokens, api_client):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    response = auth_client.delete(f"/api/v1/me/sessions/{other.session.pk}")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert bearer(other).get("/api/v1/me").json()["code"] == "session_revoked"
    refresh = api_client.post(REFRESH, {"refresh_token": other.refresh_token}, format="json")
    assert refresh.json()["code"] == "session_revoked"
    assert auth_client.get("/api/v1/me").status_code == HTTPStatus.OK


def test_a_user_cannot_revoke_someone_elses_session(auth_client):
    stranger = User.objects.create_user("eve@example.com", PASSWORD)
    theirs = session_start(user=stranger, amr=["pwd"], client=CLIENT)
    response = auth_client.delete(f"/api/v1/me/sessions/{theirs.session.pk}")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "not_found"
    assert LoginSession.objects.get(pk=theirs.session.pk).revoked_at is None


@pytest.mark.parametrize(
    ("scope", "current_alive", "other_alive"),
    [("current", False, True), ("others", True, False), ("all", False, False)],
)
def test_logout_scopes(tokens, scope, current_alive, other_alive):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    response = bearer(tokens).post("/api/v1/auth/logout", {"scope": scope}, format="json")
    assert response.status_code == HTTPStatus.NO_CONTENT
    for pair, alive in ((tokens, current_alive), (other, other_alive)):
        status = bearer(pair).get("/api/v1/me").status_code
        assert status == (HTTPStatus.OK if alive else HTTPStatus.UNAUTHORIZED)
    assert AuditEvent.objects.filter(type=AuditEvent.Type.LOGOUT).count() == 1


def test_logout_defaults_to_the_current_session(tokens):
    assert bearer(tokens).post("/api/v1/auth/logout").status_code == HTTPStatus.NO_CONTENT
    assert LoginSession.objects.get(pk=tokens.session.pk).revoke_reason == "logout"


def test_logout_refuses_an_unknown_scope(auth_client):
    response = auth_client.post("/api/v1/auth/logout", {"scope": "galaxy"}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"]["scope"][0]["code"] == "invalid_choice"


def test_logout_needs_a_token(api_client):
    assert api_client.post("/api/v1/auth/logout").status_code == HTTPStatus.UNAUTHORIZED
