"""OAuth: metadata (RFC 8414), form-encoded refresh (RFC 6749) and revocation (RFC 7009)."""

from __future__ import annotations

import time
from http import HTTPStatus

import jwt as pyjwt
import pytest
import time_machine

from keyhouse.tokens.models import LoginSession

REFRESH = "/api/v1/auth/token/refresh"
REVOKE = "/api/v1/auth/token/revoke"
METADATA_PATHS = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]

pytestmark = pytest.mark.django_db


def form_post(client, path, body: str, **extra):
    return client.post(path, body, content_type="application/x-www-form-urlencoded", **extra)


def grant(refresh_token: str) -> str:
    return f"grant_type=refresh_token&refresh_token={refresh_token}"


def oauth_error(response) -> tuple[int, str]:
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    return response.status_code, body["error"]


@pytest.mark.parametrize("path", METADATA_PATHS)
def test_metadata_says_what_keyhouse_is_and_nothing_more(client, settings, tokens, path):
    settings.KEYHOUSE_JWT_ISSUER = "https://auth.example.com"
    response = client.get(path)
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response.json() == {
        "issuer": "https://auth.example.com",
        "token_endpoint": "https://auth.example.com/api/v1/auth/token/refresh",
        "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
        "revocation_endpoint": "https://auth.example.com/api/v1/auth/token/revoke",
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "service_documentation": "https://auth.example.com/api/docs/",
    }


def test_metadata_issuer_is_the_tokens_issuer(client, tokens):
    issuer = client.get(METADATA_PATHS[0]).json()["issuer"]
    claims = pyjwt.decode(tokens.access_token, options={"verify_signature": False})
    assert claims["iss"] == issuer


def test_access_tokens_carry_the_client_id(tokens, settings, verified_user):
    claims = pyjwt.decode(tokens.access_token, options={"verify_signature": False})
    assert claims["client_id"] == "keyhouse"


def test_form_encoded_refresh_returns_a_standard_token_response(client, tokens):
    response = form_post(
        client,
        REFRESH,
        f"grant_type=refresh_token&refresh_token={tokens.refresh_token}&client_id=keyhouse",
    )
    assert response.status_code == HTTPStatus.OK
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"] not in ("", tokens.refresh_token)
    assert pyjwt.decode(body["access_token"], options={"verify_signature": False})["client_id"]


def test_form_encoded_refresh_never_reads_the_cookie(client, tokens, settings):
    client.cookies[settings.KEYHOUSE_REFRESH_COOKIE_NAME] = tokens.refresh_token
    response = form_post(client, REFRESH, "grant_type=refresh_token", HTTP_X_KEYHOUSE_CLIENT="web")
    assert oauth_error(response) == (HTTPStatus.BAD_REQUEST, "invalid_request")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("client_id=keyhouse", "invalid_request"),
        ("refresh_token={token}", "invalid_request"),
        ("grant_type=refresh_token", "invalid_request"),
        ("grant_type=refresh_token&refresh_token=", "invalid_request"),
        ("grant_type=refresh_token&refresh_token={token}&refresh_token=x", "invalid_request"),
        ("grant_type=password&username=ada&password=x", "unsupported_grant_type"),
        ("grant_type=client_credentials", "unsupported_grant_type"),
        ("grant_type=authorization_code&code=x", "invalid_request"),
        ("grant_type=authorization_code&code=x&code_verifier=y", "invalid_grant"),
        ("grant_type=refresh_token&refresh_token={token}&client_id=other", "invalid_client"),
        ("grant_type=refresh_token&refresh_token={token}&scope=admin", "invalid_scope"),
        ("grant_type=refresh_token&refresh_token=not-a-token", "invalid_grant"),
    ],
)
def test_form_encoded_refresh_errors_are_oauth_errors(client, tokens, body, error):
    response = form_post(client, REFRESH, body.format(token=tokens.refresh_token))
    assert oauth_error(response) == (HTTPStatus.BAD_REQUEST, error)
    # Nothing was spent: the token still refreshes.
    assert form_post(client, REFRESH, grant(tokens.refresh_token)).status_code == HTTPStatus.OK


def test_a_reused_refresh_token_is_an_invalid_grant_that_ends_the_session(client, tokens):
    body = grant(tokens.refresh_token)
    assert form_post(client, REFRESH, body).status_code == HTTPStatus.OK
    with time_machine.travel(time.time() + 60, tick=False):
        assert oauth_error(form_post(client, REFRESH, body)) == (
            HTTPStatus.BAD_REQUEST,
            "invalid_grant",
        )
    assert LoginSession.objects.get().revoke_reason == "refresh_reused"


def test_json_refresh_keeps_problem_details(client, tokens):
    response = client.post(REFRESH, {"refresh_token": "nope"}, content_type="application/json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "refresh_token_invalid"


def test_revocation_ends_the_session_and_its_access_tokens(client, api_client, tokens):
    hinted = f"token={tokens.refresh_token}&token_type_hint=refresh_token"
    response = form_post(client, REVOKE, hinted)
    assert response.status_code == HTTPStatus.OK
    assert response.content == b""
    assert LoginSession.objects.get().revoke_reason == "token_revoked"
    refused = form_post(client, REFRESH, grant(tokens.refresh_token))
    assert oauth_error(refused) == (HTTPStatus.BAD_REQUEST, "invalid_grant")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}")
    assert api_client.get("/api/v1/me").status_code == HTTPStatus.UNAUTHORIZED


def test_revoking_a_rotated_refresh_token_ends_its_session(client, tokens):
    form_post(client, REFRESH, grant(tokens.refresh_token))
    assert form_post(client, REVOKE, f"token={tokens.refresh_token}").status_code == HTTPStatus.OK
    assert LoginSession.objects.get().revoked_at is not None


@pytest.mark.parametrize("token", ["unknown", "{access}"])
def test_revoking_a_token_that_is_no_refresh_token_answers_200_and_ends_nothing(
    client, tokens, token
):
    response = form_post(client, REVOKE, f"token={token.format(access=tokens.access_token)}")
    assert response.status_code == HTTPStatus.OK
    assert LoginSession.objects.get().revoked_at is None


def test_revoking_twice_answers_200_both_times(client, tokens):
    for _ in range(2):
        assert form_post(client, REVOKE, f"token={tokens.refresh_token}").status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("token_type_hint=refresh_token", "invalid_request"),
        ("token=a&token=b", "invalid_request"),
        ("token=a&client_id=x", "invalid_client"),
    ],
)
def test_revocation_errors_are_oauth_errors(client, body, error):
    assert oauth_error(form_post(client, REVOKE, body)) == (HTTPStatus.BAD_REQUEST, error)


def test_revocation_takes_only_forms(client, tokens):
    response = client.post(REVOKE, {"token": tokens.refresh_token}, content_type="application/json")
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response["Content-Type"] == "application/problem+json"


def test_a_form_with_too_many_fields_is_a_parse_error(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = form_post(client, REFRESH, "&".join(f"f{i}=x" for i in range(11)))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "parse_error", response.content


def test_a_form_too_large_is_refused(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = form_post(client, REVOKE, "token=" + "x" * 200)
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
