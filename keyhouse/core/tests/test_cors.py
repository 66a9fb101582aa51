"""CORS: browser apps on allowed origins may call the API; nothing is granted to others."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.core.checks import check_browser_settings

APP = "https://app.example.com"
ME = "/api/v1/me"
LOGIN = "/api/v1/auth/login"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _origins(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"https://[a-z0-9-]+\.preview\.example\.com"]


def preflight(client, path, origin=APP, method="POST", headers="authorization,content-type"):
    extra = {"HTTP_ORIGIN": origin, "HTTP_ACCESS_CONTROL_REQUEST_METHOD": method}
    if headers:
        extra["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"] = headers
    return client.options(path, **extra)


def cors_headers(response) -> dict[str, str]:
    return {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


@pytest.mark.parametrize("path", [ME, "/api/v1/auth/logout", "/api/v1/me/sessions", LOGIN])
def test_preflight_from_an_allowed_origin_is_granted_before_authentication(client, path):
    response = preflight(client, path, headers="authorization,content-type,x-keyhouse-client")
    assert response.status_code == HTTPStatus.OK
    assert cors_headers(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "access-control-allow-headers": (
            "authorization, content-type, x-keyhouse-client, x-request-id, apikey, "
            "x-client-info, x-supabase-api-version"
        ),
        "access-control-allow-methods": "DELETE, GET, OPTIONS, PATCH, POST, PUT",
        "access-control-max-age": "7200",
        "access-control-expose-headers": (
            "Retry-After, X-Request-ID, WWW-Authenticate, X-Supabase-Api-Version"
        ),
    }
    assert "origin" in response["Vary"].lower()


def test_preflight_is_never_rate_limited(client, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "login": "1/m/ip"}
    body = {"email": "ada@example.com", "password": "wrong"}
    client.post(LOGIN, body, content_type="application/json", HTTP_ORIGIN=APP)
    limited = client.post(LOGIN, body, content_type="application/json", HTTP_ORIGIN=APP)
    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    # The 429 itself carries the grant, so the app can read its Retry-After.
    assert limited["Access-Control-Allow-Origin"] == APP
    assert "Retry-After" in limited["Access-Control-Expose-Headers"]
    for _ in range(3):
        assert preflight(client, LOGIN).status_code == HTTPStatus.OK


def test_an_allowed_origin_reads_the_answer_and_its_exposed_headers(client, auth_client):
    refused = client.get(ME, HTTP_ORIGIN=APP)
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused["Access-Control-Allow-Origin"] == APP
    assert "WWW-Authenticate" in refused["Access-Control-Expose-Headers"]
    response = auth_client.get(ME, HTTP_ORIGIN=APP)
    assert response.status_code == HTTPStatus.OK
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Allow-Credentials"] == "true"


def test_a_regex_grants_the_origins_it_matches_whole(client):
    origin = "https://pr-42.preview.example.com"
    assert preflight(client, ME, origin=origin)["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "https://evil.example.net",
        "*",
        "https://*.example.com",
        "http://app.example.com",  # another scheme is another origin
        "https://app.example.com:8443",
        "https://pr-42.preview.example.com.evil.test",  # a regex matches whole origins
        "https://evil.test/https://pr-42.preview.example.com",
        "not an origin",
    ],
)
def test_no_cors_grant_for_origins_not_allowed(client, auth_client, origin):
    granted = preflight(client, ME, origin=origin)
    assert granted.status_code == HTTPStatus.OK
    assert cors_headers(granted) == {}
    # The requests themselves are answered as without an Origin, with no grant.
    assert client.get(ME, HTTP_ORIGIN=origin).status_code == HTTPStatus.UNAUTHORIZED
    response = auth_client.get(ME, HTTP_ORIGIN=origin)
    assert response.status_code == HTTPStatus.OK
    assert cors_headers(response) == {}


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", "authorization,x-evil"),
        ("POST", "cookie"),
        ("TRACE", ""),
        ("PROPFIND", "authorization"),
    ],
)
def test_a_preflight_asking_for_more_than_is_allowed_gets_nothing(client, method, headers):
    response = preflight(client, ME, method=method, headers=headers)
    assert response.status_code == HTTPStatus.OK
    assert cors_headers(response) == {}


def test_safelisted_request_headers_need_no_grant(client):
    response = preflight(client, ME, headers="accept, accept-language, content-type")
    assert response["Access-Control-Allow-Origin"] == APP


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/.well-known/openid-configuration"])
def test_well_known_documents_are_readable_from_allowed_origins(client, path):
    response = client.get(path, HTTP_ORIGIN=APP)
    assert response.status_code == HTTPStatus.OK
    assert response["Access-Control-Allow-Origin"] == APP


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/schema/", "/healthz"])
def test_the_admin_docs_and_health_checks_grant_no_origin(client, path):
    assert cors_headers(client.get(path, HTTP_ORIGIN=APP)) == {}
    assert cors_headers(preflight(client, path)) == {}


@pytest.mark.parametrize("origin", [APP, None])
def test_api_answers_vary_on_origin_with_or_without_one(client, origin):
    extra = {"HTTP_ORIGIN": origin} if origin else {}
    api = client.get("/.well-known/jwks.json", **extra)
    assert "origin" in api["Vary"].lower()
    assert bool(cors_headers(api)) is bool(origin)
    assert "origin" not in client.get("/healthz", **extra).get("Vary", "").lower()


@pytest.mark.parametrize(
    ("origins", "regexes", "error"),
    [
        (["*"], [], "core.E020"),
        (["https://*.example.com"], [], "core.E020"),
        (["null"], [], "core.E020"),
        ([], ["https://[a-z"], "core.E021"),
        ([], [".*"], "core.E022"),
        ([], [r"https?://.+"], "core.E022"),
    ],
)
def test_checks_refuse_wildcards_and_broken_regexes(settings, origins, regexes, error):
    settings.CORS_ALLOWED_ORIGINS = origins
    settings.CORS_ALLOWED_ORIGIN_REGEXES = regexes
    assert [message.id for message in check_browser_settings()] == [error]
