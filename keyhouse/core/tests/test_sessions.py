from __future__ import annotations

from http import HTTPStatus

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_a_request_without_a_session_cookie_gets_none(client):
    response = client.get("/healthz")
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert "cookie" not in response.get("Vary", "").lower()


def test_the_admin_sign_in_keeps_its_session(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/")
    assert response.status_code == HTTPStatus.OK
    assert "cookie" in response["Vary"].lower()


def test_a_session_cookie_naming_no_session_is_deleted(client):
    client.cookies[settings.SESSION_COOKIE_NAME] = "short"
    response = client.get("/healthz")
    assert response.cookies[settings.SESSION_COOKIE_NAME].value == ""
