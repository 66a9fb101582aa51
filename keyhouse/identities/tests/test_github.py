"""GitHub (OAuth 2.0, no OpenID Connect) through Authlib's real client, with GitHub's
HTTP faked at its edge by ``responses``: the token endpoint, /user and /user/emails."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses

from keyhouse.identities.models import Identity
from keyhouse.identities.tests.conftest import APP, APP_URL, pkce_pair

pytestmark = pytest.mark.django_db


@pytest.fixture
def github(settings):
    settings.KEYHOUSE_GITHUB_CLIENT_ID = "Iv1.github-client"
    settings.KEYHOUSE_GITHUB_CLIENT_SECRET = "github-secret"
    settings.CORS_ALLOWED_ORIGINS = [APP]
    with responses.RequestsMock() as fake:
        fake.post(
            "https://github.com/login/oauth/access_token",
            json={"access_token": "gho_token", "token_type": "bearer", "scope": "read:user"},
        )
        fake.get(
            "https://api.github.com/user",
            json={"id": 583231, "login": "octocat", "name": "The Octocat"},
        )
        yield fake


def emails(fake, *entries: dict) -> None:
    fake.get("https://api.github.com/user/emails", json=list(entries))


def sign_in(api_client) -> tuple[str, dict]:
    verifier, challenge = pkce_pair()
    started = api_client.get(
        "/api/v1/auth/oauth/github/authorize",
        {"redirect_to": APP_URL, "code_challenge": challenge},
    )
    assert started.status_code == HTTPStatus.FOUND, started.content
    sent = {k: v[0] for k, v in parse_qs(urlsplit(started["Location"]).query).items()}
    back = api_client.get(
        "/api/v1/auth/oauth/github/callback", {"code": "github-code", "state": sent["state"]}
    )
    code = parse_qs(urlsplit(back["Location"]).query)["code"][0]
    response = api_client.post(
        "/api/v1/auth/token/refresh",
        urlencode({"grant_type": "authorization_code", "code": code, "code_verifier": verifier}),
        content_type="application/x-www-form-urlencoded",
    )
    return started["Location"], response


def test_github_signs_in_with_its_verified_primary_address(api_client, github):
    emails(
        github,
        {"email": "octo@old.example.com", "primary": False, "verified": True},
        {"email": "octocat@example.com", "primary": True, "verified": True},
    )

    authorize_url, response = sign_in(api_client)

    assert authorize_url.startswith("https://github.com/login/oauth/authorize?")
    assert parse_qs(urlsplit(authorize_url).query)["scope"] == ["read:user user:email"]
    assert response.status_code == HTTPStatus.OK, response.json()
    assert response.json()["user"]["email"] == "octocat@example.com"
    assert response.json()["user"]["display_name"] == "The Octocat"
    identity = Identity.objects.get()
    assert (identity.provider, identity.subject) == ("github", "583231")
    token_request = parse_qs(github.calls[0].request.body)
    assert token_request["code"] == ["github-code"]
    assert token_request["client_secret"] == ["github-secret"]
    assert token_request["code_verifier"]
    assert github.calls[1].request.headers["Authorization"] == "Bearer gho_token"


def test_an_unverified_github_address_is_not_the_accounts(api_client, github):
    emails(github, {"email": "octocat@example.com", "primary": True, "verified": False})
    _url, response = sign_in(api_client)
    assert response.status_code == HTTPStatus.OK
    assert response.json()["user"]["email"] is None
    assert Identity.objects.get().email_verified is False


def test_github_has_no_native_flow(api_client, github):
    github.assert_all_requests_are_fired = False  # nothing reaches GitHub
    response = api_client.post(
        "/api/v1/auth/oauth/github/token", {"id_token": "a.b.c"}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "provider_without_id_tokens"
