"""Browser clients keep the refresh token in an HttpOnly cookie instead of JavaScript."""

from __future__ import annotations

from http import HTTPStatus

import pytest

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/token/refresh"

pytestmark = pytest.mark.django_db


@pytest.fixture
def cookie_login(api_client, verified_user, password):
    response = api_client.post(
        LOGIN,
        {"email": verified_user.email, "password": password, "refresh_token_transport": "cookie"},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    return response


def test_login_sets_a_locked_down_cookie_instead_of_returning_the_token(cookie_login):
    assert "refresh_token" not in cookie_login.json()
    cookie = cookie_login.cookies["keyhouse_refresh"]
    assert cookie.value
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == REFRESH
    assert cookie["secure"] is True
    assert int(cookie["max-age"]) > 89 * 86400


def test_refresh_from_the_cookie_needs_the_client_header(api_client, cookie_login):
    refused = api_client.post(REFRESH, {}, format="json")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["code"] == "client_header_missing"
    response = api_client.post(REFRESH, {}, format="json", HTTP_X_KEYHOUSE_CLIENT="web")
    assert response.status_code == HTTPStatus.OK
    assert "refresh_token" not in response.json()
    assert (
        response.cookies["keyhouse_refresh"].value != cookie_login.cookies["keyhouse_refresh"].value
    )


def test_logout_clears_the_cookie(api_client, cookie_login):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {cookie_login.json()['access_token']}")
    response = api_client.post("/api/v1/auth/logout", format="json")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert response.cookies["keyhouse_refresh"].value == ""
    assert response.cookies["keyhouse_refresh"]["path"] == REFRESH


def test_the_server_can_make_cookies_the_default(api_client, verified_user, password, settings):
    settings.KEYHOUSE_REFRESH_TOKEN_TRANSPORT = "cookie"
    response = api_client.post(
        LOGIN, {"email": verified_user.email, "password": password}, format="json"
    )
    assert "refresh_token" not in response.json()
    assert response.cookies["keyhouse_refresh"].value
