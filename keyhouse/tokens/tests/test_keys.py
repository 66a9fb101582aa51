from __future__ import annotations

import io
import json
import time
from http import HTTPStatus

import jwt as pyjwt
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import CLIENT
from keyhouse.tokens import keys
from keyhouse.tokens.models import SigningKey
from keyhouse.tokens.services import session_start, signing_key_rotate

pytestmark = pytest.mark.django_db


def jwks(client) -> dict:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == HTTPStatus.OK
    return response.json()


def test_jwks_publishes_the_public_key_with_cache_headers(client):
    response = client.get("/.well-known/jwks.json")
    assert response["Cache-Control"] == "public, max-age=300"
    (jwk,) = response.json()["keys"]
    assert jwk["kid"] == keys.keyring().signer.kid
    assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS256", "sig")
    assert {"n", "e"} <= set(jwk)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)


def test_discovery_document_points_at_the_jwks(client, settings):
    settings.KEYHOUSE_JWT_ISSUER = "https://auth.example.com"
    body = client.get("/.well-known/openid-configuration").json()
    assert body["issuer"] == "https://auth.example.com"
    assert body["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"
    assert body["token_endpoint"] == "https://auth.example.com/api/v1/auth/token/refresh"


def test_private_keys_are_encrypted_at_rest():
    stored = SigningKey.objects.get()
    assert "PRIVATE KEY" not in stored.private_key
    assert keys.decrypt_private_key(stored.private_key).public_key()


def test_a_changed_secret_key_still_decrypts_with_the_old_one_in_fallbacks(settings):
    stored = SigningKey.objects.get().private_key
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "y" * 40
    with pytest.raises(keys.SigningKeyError):
        keys.decrypt_private_key(stored)
    settings.SECRET_KEY_FALLBACKS = [old]
    assert keys.decrypt_private_key(stored)


def test_a_rotated_in_key_is_published_first_and_signs_after_the_delay(
    api_client, verified_user, settings
):
    old = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    old_kid = pyjwt.get_unverified_header(old.access_token)["kid"]
    new_key = signing_key_rotate(algorithm="ES256")
    assert {jwk["kid"] for jwk in jwks(api_client)["keys"]} == {old_kid, new_key.kid}
    still_old = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    assert pyjwt.get_unverified_header(still_old.access_token)["kid"] == old_kid

    active = time.time() + settings.KEYHOUSE_SIGNING_KEY_DELAY + 1
    with time_machine.travel(active, tick=False):
        new = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
        assert pyjwt.get_unverified_header(new.access_token)["kid"] == new_key.kid
        for pair in (still_old, new):
            response = api_client.get(
                "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}"
            )
            assert response.status_code == HTTPStatus.OK

    lifetime = settings.KEYHOUSE_ACCESS_TOKEN_LIFETIME + settings.KEYHOUSE_JWT_LEEWAY
    with time_machine.travel(active + lifetime, tick=False):
        keys.keyring_clear()
        assert [jwk["kid"] for jwk in jwks(api_client)["keys"]] == [new_key.kid]


def test_an_urgent_rotation_signs_with_the_new_key_at_once(verified_user):
    new_key = signing_key_rotate(algorithm="EdDSA", immediately=True)
    pair = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    assert pyjwt.get_unverified_header(pair.access_token)["kid"] == new_key.kid
    event = AuditEvent.objects.get(type="signing_key_rotated", detail__kid=new_key.kid)
    assert event.detail["alg"] == "EdDSA"
    assert event.detail["withdrew_older_keys"] is False


def test_withdrawing_a_leaked_key_refuses_its_tokens_at_once_and_sessions_go_on(
    api_client, verified_user
):
    pair = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    leaked = pyjwt.get_unverified_header(pair.access_token)["kid"]
    me = {"HTTP_AUTHORIZATION": f"Bearer {pair.access_token}"}
    assert api_client.get("/api/v1/me", **me).status_code == HTTPStatus.OK

    call_command("rotate_signing_key", "--withdraw-old", stdout=io.StringIO())
    assert leaked not in {jwk["kid"] for jwk in jwks(api_client)["keys"]}
    refused = api_client.get("/api/v1/me", **me)
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused.json()["code"] == "token_invalid"

    refreshed = api_client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": pair.refresh_token}, format="json"
    )
    assert refreshed.status_code == HTTPStatus.OK
    access = refreshed.json()["access_token"]
    assert pyjwt.get_unverified_header(access)["kid"] != leaked
    assert api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == (
        HTTPStatus.OK
    )


@pytest.mark.parametrize(("algorithm", "kty"), [("ES256", "EC"), ("EdDSA", "OKP")])
def test_other_algorithms_sign_tokens_that_authenticate(api_client, verified_user, algorithm, kty):
    signing_key_rotate(algorithm=algorithm, immediately=True)
    pair = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    assert pyjwt.get_unverified_header(pair.access_token)["alg"] == algorithm
    assert jwks(api_client)["keys"][0]["kty"] == kty
    response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    assert response.status_code == HTTPStatus.OK


def rotated_elsewhere(django_capture_on_commit_callbacks, *args: str) -> None:
    """Rotate as another process would: this process keeps the keyring it loaded."""
    loaded = keys.keyring()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rotate_signing_key", *args, stdout=io.StringIO())
    keys._keyring = loaded


def test_a_key_rotated_in_elsewhere_publishes_and_signs_here_at_once(
    api_client, verified_user, settings, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_KEYRING_TTL = 3600
    old = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    rotated_elsewhere(django_capture_on_commit_callbacks, "--now")
    new_kid = SigningKey.objects.get(retired_at__isnull=True).kid

    assert new_kid in {jwk["kid"] for jwk in jwks(api_client)["keys"]}
    new = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    assert pyjwt.get_unverified_header(new.access_token)["kid"] == new_kid
    for pair in (old, new):
        response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
        assert response.status_code == HTTPStatus.OK


def test_a_key_withdrawn_elsewhere_is_refused_here_at_once(
    api_client, tokens, settings, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_KEYRING_TTL = 3600
    me = {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token}"}
    assert api_client.get("/api/v1/me", **me).status_code == HTTPStatus.OK
    rotated_elsewhere(django_capture_on_commit_callbacks, "--withdraw-old")

    refused = api_client.get("/api/v1/me", **me)
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused.json()["code"] == "token_invalid"


def test_made_up_key_ids_cost_no_database_query(api_client, tokens):
    _header, payload, signature = tokens.access_token.split(".")
    header = pyjwt.get_unverified_header(tokens.access_token)
    forged = [
        ".".join(
            [
                pyjwt.utils.base64url_encode(json.dumps({**header, "kid": kid}).encode()).decode(),
                payload,
                signature,
            ]
        )
        for kid in ("a", "b", "c")
    ]
    keys.keyring_current()
    with CaptureQueriesContext(connection) as queries:
        for token in forged:
            response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
            assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert queries.captured_queries == []


def test_rotate_command_generates_a_key(settings):
    out = io.StringIO()
    call_command("rotate_signing_key", "--algorithm", "EdDSA", "--now", stdout=out)
    assert "New signing key" in out.getvalue()
    assert keys.keyring().signer.algorithm == "EdDSA"
    assert SigningKey.objects.filter(retired_at__isnull=True).count() == 1


def test_rotate_command_imports_an_operator_pem(tmp_path):
    pem_path = tmp_path / "signing.pem"
    pem_path.write_bytes(keys.private_key_pem(keys.generate_private_key("ES256")))
    call_command("rotate_signing_key", "--pem", str(pem_path), "--now", stdout=io.StringIO())
    assert keys.keyring().signer.algorithm == "ES256"
    with pytest.raises(CommandError, match="already in the keyring"):
        call_command("rotate_signing_key", "--pem", str(pem_path), stdout=io.StringIO())


def test_rotate_command_refuses_unusable_keys(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(CommandError, match="PEM"):
        call_command("rotate_signing_key", "--pem", str(bad), stdout=io.StringIO())
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("rotate_signing_key", "--pem", str(tmp_path / "missing.pem"))


def test_rotate_command_if_missing_keeps_the_existing_key():
    before = keys.keyring().signer.kid
    out = io.StringIO()
    call_command("rotate_signing_key", "--if-missing", stdout=out)
    assert "nothing to do" in out.getvalue()
    assert keys.keyring().signer.kid == before


def test_no_signing_key_is_a_503(api_client, verified_user, password):
    SigningKey.objects.all().delete()
    keys.keyring_clear()
    response = api_client.post(
        "/api/v1/auth/login", {"email": verified_user.email, "password": password}, format="json"
    )
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == "signing_key_missing"


@pytest.mark.django_db(transaction=True)
def test_a_third_party_verifies_tokens_with_the_published_jwks(
    live_server, verified_user, settings
):
    settings.KEYHOUSE_JWT_ISSUER = live_server.url
    pair = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    jwks_client = pyjwt.PyJWKClient(f"{live_server.url}/.well-known/jwks.json")
    signing_key = jwks_client.get_signing_key_from_jwt(pair.access_token)
    claims = pyjwt.decode(
        pair.access_token,
        signing_key.key,
        algorithms=["RS256", "ES256", "EdDSA"],
        audience=settings.KEYHOUSE_JWT_AUDIENCE,
        issuer=live_server.url,
    )
    assert claims["sub"] == str(verified_user.pk)
