"""Sign in with Apple through Authlib's real client: its client secret made from the key
file, its answer posted back (form_post), "true" as a string. Apple's HTTP is faked at
its edge by ``responses``, with ID tokens signed by a key the test makes."""

from __future__ import annotations

import hashlib
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from keyhouse.identities.clients import apple_client_secret
from keyhouse.identities.models import Identity
from keyhouse.identities.providers import provider_get
from keyhouse.identities.tests.conftest import APP, APP_URL, pkce_pair

pytestmark = pytest.mark.django_db

SERVICES_ID = "com.example.web"
APPLE = "https://appleid.apple.com"


@pytest.fixture
def apple(settings, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "AuthKey_ABC123DEFG.p8"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.KEYHOUSE_APPLE_CLIENT_ID = SERVICES_ID
    settings.KEYHOUSE_APPLE_TEAM_ID = "TEAM123456"
    settings.KEYHOUSE_APPLE_KEY_ID = "ABC123DEFG"
    settings.KEYHOUSE_APPLE_PRIVATE_KEY_FILE = str(key_file)
    settings.CORS_ALLOWED_ORIGINS = [APP]
    return key.public_key()


def test_the_client_secret_is_an_es256_jwt_signed_with_the_key_file(apple):
    secret = apple_client_secret(provider_get("apple"))
    assert jwt.get_unverified_header(secret)["kid"] == "ABC123DEFG"
    claims = jwt.decode(secret, apple, algorithms=["ES256"], audience=APPLE)
    assert (claims["iss"], claims["sub"]) == ("TEAM123456", SERVICES_ID)
    assert claims["exp"] - claims["iat"] <= 600


def test_a_missing_key_file_stops_the_checks(apple, settings):
    settings.KEYHOUSE_APPLE_PRIVATE_KEY_FILE = "/nowhere/AuthKey.p8"
    with pytest.raises(SystemCheckError, match=r"identities\.E002"):
        call_command("check")


def test_a_provider_without_an_issuer_stops_the_checks(settings):
    settings.KEYHOUSE_OIDC_PROVIDERS = {"acme": {"client_id": "x"}}
    with pytest.raises(SystemCheckError, match="needs at least an issuer"):
        call_command("check")


def fake_apple(fake: responses.RequestsMock) -> RSAKey:
    """Apple's discovery document and keys; return the key its ID tokens are signed with."""
    signing_key = RSAKey.generate_key(2048, parameters={"kid": "apple-1"}, private=True)
    fake.get(
        f"{APPLE}/.well-known/openid-configuration",
        json={
            "issuer": APPLE,
            "authorization_endpoint": f"{APPLE}/auth/authorize",
            "token_endpoint": f"{APPLE}/auth/token",
            "jwks_uri": f"{APPLE}/auth/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
        },
    )
    fake.get(f"{APPLE}/auth/keys", json={"keys": [signing_key.as_dict(private=False)]})
    return signing_key


@pytest.mark.parametrize(
    ("sent", "status"),
    [("raw", HTTPStatus.OK), ("the token's own claim", HTTPStatus.UNAUTHORIZED)],
)
def test_apples_sdk_token_holds_the_nonces_hash_and_only_the_raw_nonce_matches(
    api_client, apple, sent, status
):
    raw = "raw-nonce-the-app-made"
    hashed = hashlib.sha256(raw.encode()).hexdigest()  # what the app hands Apple's SDK
    now = int(time.time())
    with responses.RequestsMock() as fake:
        signing_key = fake_apple(fake)
        id_token = jose_jwt.encode(
            {"alg": "RS256", "kid": "apple-1"},
            {"iss": APPLE, "aud": SERVICES_ID, "sub": "001234.native", "iat": now}
            | {"exp": now + 600, "nonce": hashed},
            signing_key,
        )
        response = api_client.post(
            "/api/v1/auth/oauth/apple/token",
            {"id_token": id_token, "nonce": raw if sent == "raw" else hashed},
            format="json",
        )
    assert response.status_code == status, response.json()
    if status == HTTPStatus.UNAUTHORIZED:
        assert response.json()["code"] == "nonce_mismatch"


def test_sign_in_with_apple_posts_back_and_signs_in(api_client, apple):
    verifier, challenge = pkce_pair()
    with responses.RequestsMock() as fake:
        signing_key = fake_apple(fake)
        started = api_client.get(
            "/api/v1/auth/oauth/apple/authorize",
            {"redirect_to": APP_URL, "code_challenge": challenge},
        )
        sent = {k: v[0] for k, v in parse_qs(urlsplit(started["Location"]).query).items()}
        assert sent["response_mode"] == "form_post"
        now = int(time.time())
        id_token = jose_jwt.encode(
            {"alg": "RS256", "kid": "apple-1"},
            {
                "iss": APPLE,
                "aud": SERVICES_ID,
                "sub": "001234.abcdef",
                "iat": now,
                "exp": now + 600,
                "nonce": sent["nonce"],
                "email": "k7x2@privaterelay.appleid.com",
                "email_verified": "true",
            },
            signing_key,
        )
        fake.post(f"{APPLE}/auth/token", json={"access_token": "a", "id_token": id_token})

        back = api_client.post(
            "/api/v1/auth/oauth/apple/callback",
            urlencode(
                {
                    "state": sent["state"],
                    "code": "apple-code",
                    "user": '{"name": {"firstName": "Kim", "lastName": "Lee"}}',
                }
            ),
            content_type="application/x-www-form-urlencoded",
        )
        (token_call,) = [call for call in fake.calls if call.request.url.endswith("/auth/token")]
        token_request = parse_qs(token_call.request.body)

    code = parse_qs(urlsplit(back["Location"]).query)["code"][0]
    response = api_client.post(
        "/api/v1/auth/token/refresh",
        urlencode({"grant_type": "authorization_code", "code": code, "code_verifier": verifier}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == HTTPStatus.OK, response.json()
    assert response.json()["user"]["email"] == "k7x2@privaterelay.appleid.com"
    assert response.json()["user"]["display_name"] == "Kim Lee"
    assert Identity.objects.get().subject == "001234.abcdef"
    client_secret = token_request["client_secret"][0]
    assert jwt.decode(client_secret, apple, algorithms=["ES256"], audience=APPLE)["sub"] == (
        SERVICES_ID
    )
