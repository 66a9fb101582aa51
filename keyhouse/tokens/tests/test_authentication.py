"""Bearer tokens that must be refused, each with a 401 problem and a stable code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import time
from http import HTTPStatus

import jwt as pyjwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keyhouse.core.ratelimit import ratelimit_enforce
from keyhouse.testing import data_queries
from keyhouse.testing import token_claims as claims_of
from keyhouse.tokens import keys
from keyhouse.tokens.authentication import _verified
from keyhouse.tokens.models import SigningKey
from keyhouse.tokens.services import session_revoke
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"


def get_me(api_client, token: str, scheme: str = "Bearer"):
    return api_client.get(ME, HTTP_AUTHORIZATION=f"{scheme} {token}".strip())


def assert_unauthorized(response, code: str) -> None:
    assert response.status_code == HTTPStatus.UNAUTHORIZED, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"] == 'Bearer realm="keyhouse"'


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resign(claims: dict, **header) -> str:
    signer = keys.keyring().signer
    return pyjwt.encode(
        claims,
        signer.private_key,
        algorithm=signer.algorithm,
        headers={"kid": signer.kid, "typ": "at+jwt", **header},
    )


def test_valid_token_authenticates(api_client, tokens):
    response = get_me(api_client, tokens.access_token)
    assert response.status_code == HTTPStatus.OK
    assert response.json()["email"] == "ada@example.com"


def test_token_carries_the_documented_claims(tokens, settings):
    claims = claims_of(tokens.access_token)
    header = pyjwt.get_unverified_header(tokens.access_token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] == keys.keyring().signer.kid
    assert claims["iss"] == settings.KEYHOUSE_JWT_ISSUER
    assert claims["aud"] == settings.KEYHOUSE_JWT_AUDIENCE
    assert claims["sub"] == str(tokens.user.pk)
    assert claims["sid"] == str(tokens.session.pk)
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["amr"] == ["pwd"]
    assert claims["email_verified"] is True
    assert claims["phone_verified"] is False
    assert len(claims["jti"]) == 32
    assert "password" not in json.dumps(claims)


def test_authenticating_a_bearer_request_costs_no_database_query(api_client, tokens):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}")
    api_client.get("/api/v1/me/sessions")  # warms the process's keyring
    with CaptureQueriesContext(connection) as queries:
        response = api_client.post("/api/v1/auth/logout", {"scope": "bogus"}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST  # authenticated, then invalid input
    assert data_queries(queries) == []


def test_alg_none_is_refused(api_client, tokens):
    header = b64(
        json.dumps({"alg": "none", "typ": "at+jwt", "kid": keys.keyring().signer.kid}).encode()
    )
    payload = b64(json.dumps(claims_of(tokens.access_token)).encode())
    assert_unauthorized(get_me(api_client, f"{header}.{payload}."), "token_invalid")


def test_hs256_signed_with_the_public_key_is_refused(api_client, tokens):
    signer = keys.keyring().signer
    public_pem = signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": signer.kid}).encode())
    payload = b64(json.dumps(claims_of(tokens.access_token)).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{b64(signature)}"
    assert_unauthorized(get_me(api_client, forged), "token_invalid")


def test_unknown_kid_is_refused(api_client, tokens):
    forged = resign(claims_of(tokens.access_token), kid="not-a-key-of-ours")
    assert_unauthorized(get_me(api_client, forged), "token_invalid")


def test_token_signed_by_another_key_with_our_kid_is_refused(api_client, tokens):
    other = keys.generate_private_key("RS256")
    forged = pyjwt.encode(
        claims_of(tokens.access_token),
        other,
        algorithm="RS256",
        headers={"kid": keys.keyring().signer.kid, "typ": "at+jwt"},
    )
    assert_unauthorized(get_me(api_client, forged), "token_invalid")


def test_tampered_payload_is_refused(api_client, tokens):
    header, _payload, signature = tokens.access_token.split(".")
    claims = {**claims_of(tokens.access_token), "sub": "00000000-0000-0000-0000-000000000000"}
    tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert_unauthorized(get_me(api_client, tampered), "token_invalid")


def test_tampered_signature_is_refused(api_client, tokens):
    header, payload, signature = tokens.access_token.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert_unauthorized(get_me(api_client, f"{header}.{payload}.{flipped}"), "token_invalid")


def test_expired_token_is_refused(api_client, tokens):
    with time_machine.travel(time.time() + 15 * 60 + 11, tick=False):
        assert_unauthorized(get_me(api_client, tokens.access_token), "token_expired")


def test_a_token_verified_before_is_refused_once_it_expires(api_client, tokens):
    assert get_me(api_client, tokens.access_token).status_code == HTTPStatus.OK
    with time_machine.travel(time.time() + 15 * 60 + 11, tick=False):
        assert_unauthorized(get_me(api_client, tokens.access_token), "token_expired")


def test_a_token_verified_before_is_refused_once_its_key_is_withdrawn(api_client, tokens):
    assert get_me(api_client, tokens.access_token).status_code == HTTPStatus.OK
    SigningKey.objects.all().delete()
    keys.keyring_clear()
    assert_unauthorized(get_me(api_client, tokens.access_token), "token_invalid")


def test_a_repeated_token_is_verified_once(api_client, tokens):
    get_me(api_client, tokens.access_token)
    before = _verified.cache_info()
    for _request in range(3):
        assert get_me(api_client, tokens.access_token).status_code == HTTPStatus.OK
    after = _verified.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)


def test_token_within_the_leeway_after_expiry_still_works(api_client, tokens):
    with time_machine.travel(time.time() + 15 * 60 + 5, tick=False):
        assert get_me(api_client, tokens.access_token).status_code == HTTPStatus.OK


def test_token_not_yet_valid_is_refused(api_client, tokens):
    claims = claims_of(tokens.access_token)
    claims["nbf"] = claims["iat"] = int(time.time()) + 120
    claims["exp"] = claims["nbf"] + 900
    assert_unauthorized(get_me(api_client, resign(claims)), "token_not_yet_valid")


@pytest.mark.parametrize("claim", ["iss", "aud"])
def test_wrong_issuer_or_audience_is_refused(api_client, tokens, claim):
    claims = {**claims_of(tokens.access_token), claim: "https://evil.example"}
    assert_unauthorized(get_me(api_client, resign(claims)), "token_invalid")


@pytest.mark.parametrize("claim", ["sid", "jti", "exp", "sub"])
def test_token_missing_a_required_claim_is_refused(api_client, tokens, claim):
    claims = claims_of(tokens.access_token)
    del claims[claim]
    assert_unauthorized(get_me(api_client, resign(claims)), "token_invalid")


def test_jwt_of_another_type_is_refused(api_client, tokens):
    forged = resign(claims_of(tokens.access_token), typ="JWT")
    assert_unauthorized(get_me(api_client, forged), "token_invalid")


def test_token_of_a_revoked_session_is_refused_at_once(api_client, tokens):
    assert get_me(api_client, tokens.access_token).status_code == HTTPStatus.OK
    session_revoke(session=tokens.session, reason="test")
    assert_unauthorized(get_me(api_client, tokens.access_token), "session_revoked")


def test_revocation_outlasts_a_flood_of_rate_limited_requests(api_client, tokens):
    session_revoke(session=tokens.session, reason="test")
    first = ipaddress.ip_address("2001:db8::")
    for offset in range(1000):
        ratelimit_enforce(action="token_refresh", values=lambda _key, o=offset: str(first + o))
    assert_unauthorized(get_me(api_client, tokens.access_token), "session_revoked")


def test_revocation_check_can_be_turned_off(api_client, tokens, settings):
    settings.KEYHOUSE_JWT_CHECK_REVOCATION = False
    session_revoke(session=tokens.session, reason="test")
    assert get_me(api_client, tokens.access_token).status_code == HTTPStatus.OK


def test_refresh_token_used_as_access_token_is_refused(api_client, tokens):
    assert_unauthorized(get_me(api_client, tokens.refresh_token), "token_invalid")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer not.a.jwt", "Bearer ....", "Bearer \u00e9t\u00e9"],
)
def test_garbage_bearer_headers_are_refused(api_client, header):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header.encode("utf-8").decode("latin-1"))
    assert_unauthorized(response, "token_invalid")


@pytest.mark.parametrize("header", ["", "Basic YWRhOnB3", "Token abc"])
def test_missing_or_foreign_credentials_are_not_authenticated(api_client, header):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header)
    assert_unauthorized(response, "not_authenticated")


def test_user_is_loaded_only_when_a_view_needs_it(api_client, tokens):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}")
    api_client.get("/api/v1/me/sessions")
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(ME).status_code == HTTPStatus.OK
    assert len(data_queries(queries)) == 1
    assert "users_user" in data_queries(queries)[0]


def test_a_token_of_an_account_deactivated_since_is_refused_where_the_user_is_loaded(
    api_client, tokens
):
    User.objects.filter(pk=tokens.user.pk).update(is_active=False)
    assert_unauthorized(get_me(api_client, tokens.access_token), "token_invalid")
