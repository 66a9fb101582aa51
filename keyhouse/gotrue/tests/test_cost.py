"""What the GoTrue API costs beside Keyhouse's own: one signature per token, one query
more per user object, and the very claims of Keyhouse's token plus GoTrue's."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keyhouse.conftest import PASSWORD
from keyhouse.testing import token_claims
from keyhouse.tokens import jwt

pytestmark = pytest.mark.django_db

API_VERSION = {"HTTP_X_SUPABASE_API_VERSION": "2024-01-01"}
CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}
# What GoTrue's access tokens carry beside Keyhouse's (whose "amr" they reshape).
GOTRUE_CLAIMS = {
    "session_id",
    "role",
    "is_anonymous",
    "email",
    "phone",
    "app_metadata",
    "user_metadata",
}


@pytest.fixture
def signatures(monkeypatch) -> list[dict]:
    """The claims of every token signed from now on."""
    signed: list[dict] = []
    encode = jwt.encode

    def spy(claims: dict, **kwargs: object) -> str:
        signed.append(claims)
        return encode(claims, **kwargs)

    monkeypatch.setattr(jwt, "encode", spy)
    return signed


def gotrue(client, grant, body):
    return client.post(f"/auth/v1/token?grant_type={grant}", body, format="json", **API_VERSION)


def own_login(client):
    return client.post("/api/v1/auth/login", CREDENTIALS, format="json")


def own_refresh(client, refresh_token):
    return client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": refresh_token}, format="json"
    )


def queries(request) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert request().status_code == HTTPStatus.OK
    return len(captured.captured_queries)


@pytest.fixture
def signed_in(api_client, verified_user) -> dict:
    """A GoTrue session, its keyring loaded, as any serving process has it."""
    return gotrue(api_client, "password", CREDENTIALS).json()


def test_password_grant_signs_one_access_token(api_client, signed_in, signatures):
    response = gotrue(api_client, "password", CREDENTIALS)

    (claims,) = signatures
    assert token_claims(response.json()["access_token"]) == claims


def test_refresh_grant_signs_one_access_token(api_client, signed_in, signatures):
    response = gotrue(api_client, "refresh_token", {"refresh_token": signed_in["refresh_token"]})

    (claims,) = signatures
    assert token_claims(response.json()["access_token"]) == claims


def test_gotrue_token_holds_keyhouse_claims_and_gotrue_ones(api_client, signed_in):
    own = token_claims(own_login(api_client).json()["access_token"])
    theirs = token_claims(signed_in["access_token"])

    assert set(theirs) == set(own) | GOTRUE_CLAIMS
    same = set(own) - {"amr", "jti", "iat", "nbf", "exp", "sid", "auth_time"}
    assert {name: theirs[name] for name in same} == {name: own[name] for name in same}
    assert theirs["amr"] == [{"method": "password", "timestamp": theirs["auth_time"]}]
    assert theirs["exp"] - theirs["iat"] == own["exp"] - own["iat"]


def test_password_grant_costs_one_query_more_than_login(
    api_client, signed_in, django_assert_num_queries
):
    own = queries(lambda: own_login(api_client))

    with django_assert_num_queries(own + 1):
        gotrue(api_client, "password", CREDENTIALS)


def test_refresh_grant_costs_one_query_more_than_refresh(
    api_client, signed_in, django_assert_num_queries
):
    refresh_token = own_login(api_client).json()["refresh_token"]
    own = queries(lambda: own_refresh(api_client, refresh_token))

    with django_assert_num_queries(own + 1):
        gotrue(api_client, "refresh_token", {"refresh_token": signed_in["refresh_token"]})


def test_user_costs_one_query_more_than_me(api_client, signed_in, django_assert_num_queries):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in['access_token']}")
    own = queries(lambda: api_client.get("/api/v1/me"))

    with django_assert_num_queries(own + 1):
        response = api_client.get("/auth/v1/user", **API_VERSION)
    assert response.status_code == HTTPStatus.OK
