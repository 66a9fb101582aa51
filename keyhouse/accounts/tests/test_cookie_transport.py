"""Browser clients keep the refresh token in an HttpOnly cookie instead of JavaScript."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.core.checks import check_browser_settings

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


@pytest.fixture
def shared_cookie(settings):
    """A cookie for every subdomain of example.com, e.g. app. and auth. (one site)."""
    settings.KEYHOUSE_REFRESH_COOKIE_SAMESITE = "Lax"
    settings.KEYHOUSE_REFRESH_COOKIE_DOMAIN = "example.com"
    settings.KEYHOUSE_REFRESH_COOKIE_PATH = "/api/v1/auth/"


def test_the_cookie_follows_its_samesite_domain_and_path_settings(shared_cookie, cookie_login):
    cookie = cookie_login.cookies["keyhouse_refresh"]
    assert (cookie["samesite"], cookie["domain"], cookie["path"]) == (
        "Lax",
        "example.com",
        "/api/v1/auth/",
    )
    assert cookie["httponly"] is True


def test_logout_clears_the_cookie_where_it_was_set(shared_cookie, api_client, cookie_login):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {cookie_login.json()['access_token']}")
    cleared = api_client.post("/api/v1/auth/logout", format="json").cookies["keyhouse_refresh"]
    assert cleared.value == ""
    assert (cleared["samesite"], cleared["domain"], cleared["path"]) == (
        "Lax",
        "example.com",
        "/api/v1/auth/",
    )


@pytest.fixture
def cross_site_cookie(settings):
    settings.KEYHOUSE_REFRESH_COOKIE_SAMESITE = "None"
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.net"]


def refresh_from(api_client, origin):
    headers = {"HTTP_X_KEYHOUSE_CLIENT": "web"}
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    return api_client.post(REFRESH, {}, format="json", **headers)


@pytest.mark.parametrize("origin", ["https://app.example.net", "http://testserver"])
def test_a_samesite_none_cookie_refreshes_from_allowed_origins_and_keyhouse_own(
    cross_site_cookie, api_client, cookie_login, origin
):
    cookie = cookie_login.cookies["keyhouse_refresh"]
    assert (cookie["samesite"], cookie["secure"]) == ("None", True)
    assert refresh_from(api_client, origin).status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "origin", [None, "null", "https://evil.example.org", "https://app.example.net.evil.org"]
)
def test_a_samesite_none_cookie_refuses_other_origins(
    cross_site_cookie, api_client, cookie_login, origin
):
    response = refresh_from(api_client, origin)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "origin_not_allowed"
    # The refresh token was not spent: the allowed origin still refreshes with it.
    assert refresh_from(api_client, "https://app.example.net").status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("samesite", "secure", "error"),
    [("Loose", True, "core.E023"), ("None", False, "core.E024")],
)
def test_checks_refuse_a_cookie_browsers_would_drop(settings, samesite, secure, error):
    settings.KEYHOUSE_REFRESH_COOKIE_SAMESITE = samesite
    settings.KEYHOUSE_REFRESH_COOKIE_SECURE = secure
    assert [message.id for message in check_browser_settings()] == [error]
