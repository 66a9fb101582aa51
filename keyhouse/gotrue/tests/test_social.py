"""Social sign-in through the GoTrue API, against the real OpenID provider on loopback:
GET /authorize and the callback, the pkce and id_token grants, and identities."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.conftest import PASSWORD
from keyhouse.identities.models import Identity
from keyhouse.identities.tests.conftest import APP_URL, IOS_CLIENT_ID, pkce_pair, unique_sub
from keyhouse.mfa.models import TotpFactor
from keyhouse.tokens.models import LoginSession

pytestmark = pytest.mark.django_db

API_VERSION = {"HTTP_X_SUPABASE_API_VERSION": "2024-01-01"}


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def authorize(client, challenge: str | None, **params: str):
    """What signInWithOAuth builds with flowType 'pkce' (auth-js sends the method lowercase)."""
    pkce = {"code_challenge": challenge, "code_challenge_method": "s256"} if challenge else {}
    return client.get(
        "/auth/v1/authorize",
        {"provider": "local", "redirect_to": APP_URL, **pkce, **params},
        **API_VERSION,
    )


def back_to_the_app(oidc, provider_url: str, sub: str) -> dict[str, str]:
    """Consent at the provider as ``sub``, follow the callback: the app's query."""
    callback = oidc.consent(provider_url, sub)
    back = APIClient().get(urlsplit(callback).path, query(callback))
    assert back.status_code == HTTPStatus.FOUND, back.content
    assert back["Location"].startswith(f"{APP_URL}?")
    return query(back["Location"])


def token(client, grant: str, body: dict):
    return client.post(f"/auth/v1/token?grant_type={grant}", body, format="json", **API_VERSION)


def bearer(session: dict) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access_token']}")
    return client


def id_token_sign_in(client, oidc, sub: str, **claims: object):
    oidc.person(sub, **claims)
    return token(client, "id_token", {"provider": "local", "id_token": oidc.id_token(sub)})


def test_authorize_then_the_pkce_grant_signs_in_with_gotrue_shapes(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="grace@example.com", email_verified=True)
    verifier, challenge = pkce_pair()

    started = authorize(api_client, challenge)
    assert started.status_code == HTTPStatus.FOUND, started.content
    assert started["Location"].startswith(f"{oidc.issuer}/")
    back = back_to_the_app(oidc, started["Location"], sub)
    assert set(back) == {"code"}

    response = token(api_client, "pkce", {"auth_code": back["code"], "code_verifier": verifier})

    assert response.status_code == HTTPStatus.OK, response.json()
    session = response.json()
    user = session["user"]
    assert user["email"] == "grace@example.com"
    assert user["app_metadata"]["providers"] == ["email", "local"]
    (identity,) = [i for i in user["identities"] if i["provider"] == "local"]
    assert identity["id"] == sub
    assert identity["identity_id"] == str(Identity.objects.get(subject=sub).pk)
    assert identity["identity_data"]["email_verified"] is True
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    assert [entry["method"] for entry in claims["amr"]] == ["oauth"]
    assert claims["app_metadata"]["providers"] == ["email", "local"]

    replay = token(api_client, "pkce", {"auth_code": back["code"], "code_verifier": verifier})
    assert replay.status_code == HTTPStatus.NOT_FOUND
    assert replay.json()["code"] == "flow_state_not_found"


def test_a_wrong_verifier_spends_the_code(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="wrong.verifier@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    back = back_to_the_app(oidc, authorize(api_client, challenge)["Location"], sub)
    other, _challenge = pkce_pair()

    wrong = token(api_client, "pkce", {"auth_code": back["code"], "code_verifier": other})
    right = token(api_client, "pkce", {"auth_code": back["code"], "code_verifier": verifier})

    assert wrong.json()["code"] == right.json()["code"] == "flow_state_not_found"
    assert not LoginSession.objects.exists()


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, HTTPStatus.BAD_REQUEST, "validation_failed"),  # the implicit flow
        ({"code_challenge_method": "plain"}, HTTPStatus.BAD_REQUEST, "validation_failed"),
        ({"redirect_to": "https://evil.test/"}, HTTPStatus.BAD_REQUEST, "redirect_not_allowed"),
        ({"provider": "nowhere"}, HTTPStatus.BAD_REQUEST, "provider_disabled"),
    ],
)
def test_authorize_refuses_what_keyhouse_does_not_serve(api_client, oidc, params, status, code):
    _verifier, challenge = pkce_pair()
    pkce = {} if params == {} else {"code_challenge": challenge}
    response = api_client.get(
        "/auth/v1/authorize",
        {"provider": "local", "redirect_to": APP_URL, **pkce, **params},
        **API_VERSION,
    )
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["msg"]


def test_skip_http_redirect_answers_the_url(api_client, oidc):
    _verifier, challenge = pkce_pair()
    response = authorize(api_client, challenge, skip_http_redirect="true")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["url"].startswith(f"{oidc.issuer}/")


def test_id_token_grant_signs_in_and_says_why_a_token_is_refused(api_client, oidc):
    sub = unique_sub()
    response = id_token_sign_in(
        api_client, oidc, sub, email="native@example.com", email_verified=True
    )

    assert response.status_code == HTTPStatus.OK, response.json()
    assert response.json()["user"]["email"] == "native@example.com"
    again = token(api_client, "id_token", {"provider": "local", "id_token": oidc.id_token(sub)})
    assert again.json()["user"]["id"] == response.json()["user"]["id"]

    foreign = oidc.id_token(sub, client_id="someone-else")
    refused = token(api_client, "id_token", {"provider": "local", "id_token": foreign})
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused.json()["code"] == "id_token_audience_invalid"
    ios = oidc.id_token(sub, client_id=IOS_CLIENT_ID, nonce="n-1")
    no_nonce = token(api_client, "id_token", {"provider": "local", "id_token": ios})
    assert no_nonce.json()["code"] == "nonce_missing"
    with_nonce = token(
        api_client, "id_token", {"provider": "local", "id_token": ios, "nonce": "n-1"}
    )
    assert with_nonce.status_code == HTTPStatus.OK


def test_an_email_of_an_account_needs_proof_before_it_links(api_client, oidc, verified_user):
    sub = unique_sub()
    response = id_token_sign_in(
        api_client, oidc, sub, email=verified_user.email, email_verified=True
    )

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    body = response.json()
    assert body["code"] == "email_exists"
    assert body["proofs"] == ["password", "code"]
    assert not Identity.objects.exists()
    linked = api_client.post(
        "/api/v1/auth/oauth/link",
        {"link_token": body["link_token"], "password": PASSWORD},
        format="json",
    )
    assert linked.status_code == HTTPStatus.OK, linked.json()
    assert Identity.objects.get(subject=sub).user == verified_user


def test_an_unverified_email_of_an_account_never_links(api_client, oidc, verified_user):
    response = id_token_sign_in(
        api_client, oidc, unique_sub(), email=verified_user.email, email_verified=False
    )
    # The address takes no part: a separate account without it, as for a free address.
    assert response.status_code == HTTPStatus.OK, response.json()
    assert response.json()["user"]["id"] != str(verified_user.pk)
    assert response.json()["user"]["email"] == ""
    assert not verified_user.identities.exists()


def test_a_second_factor_account_gets_the_password_grants_answer(api_client, oidc, verified_user):
    TotpFactor.objects.create(
        user=verified_user, name="app", secret=b"x", confirmed_at=verified_user.date_joined
    )
    sub = unique_sub()
    Identity.objects.create(user=verified_user, provider="local", subject=sub)

    social = id_token_sign_in(api_client, oidc, sub, email=verified_user.email, email_verified=True)
    password = token(api_client, "password", {"email": verified_user.email, "password": PASSWORD})

    # Both answer an MFA-pending sign-in, and neither starts a session.
    assert social.status_code == password.status_code == HTTPStatus.OK
    for answer in (social, password):
        claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
        assert claims["aud"] == f"{settings.KEYHOUSE_JWT_AUDIENCE}:mfa-pending"
        assert claims["aal"] == "aal1"
    assert not LoginSession.objects.exists()


def test_link_identity_in_the_browser_adds_it_and_signs_in(auth_client, oidc, verified_user):
    sub = unique_sub()
    oidc.person(sub, email="ada.work@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    started = auth_client.get(
        "/auth/v1/user/identities/authorize",
        {
            "provider": "local",
            "redirect_to": APP_URL,
            "code_challenge": challenge,
            "code_challenge_method": "s256",
            "skip_http_redirect": "true",
        },
        **API_VERSION,
    )
    assert started.status_code == HTTPStatus.OK, started.json()
    back = back_to_the_app(oidc, started.json()["url"], sub)

    response = token(APIClient(), "pkce", {"auth_code": back["code"], "code_verifier": verifier})

    assert response.status_code == HTTPStatus.OK, response.json()
    assert response.json()["user"]["id"] == str(verified_user.pk)
    assert response.json()["user"]["app_metadata"]["providers"] == ["email", "local"]
    assert Identity.objects.get(subject=sub).user == verified_user


def test_a_link_code_without_its_verifier_adds_nothing(auth_client, oidc, verified_user):
    sub = unique_sub()
    verifier, challenge = pkce_pair()
    started = auth_client.get(
        "/auth/v1/user/identities/authorize",
        {"provider": "local", "redirect_to": APP_URL, "code_challenge": challenge},
    )
    assert started.status_code == HTTPStatus.FOUND
    back = back_to_the_app(oidc, started["Location"], sub)
    guessed, _challenge = pkce_pair()

    stolen = token(APIClient(), "pkce", {"auth_code": back["code"], "code_verifier": guessed})
    after = token(APIClient(), "pkce", {"auth_code": back["code"], "code_verifier": verifier})

    assert stolen.json()["code"] == after.json()["code"] == "flow_state_not_found"
    assert not Identity.objects.exists()
    assert LoginSession.objects.count() == 1  # the session that started it


def test_a_code_of_the_native_add_signs_nobody_in_here(auth_client, oidc, verified_user):
    verifier, challenge = pkce_pair()
    started = auth_client.post(
        "/api/v1/me/identities/authorize",
        {"provider": "local", "redirect_to": APP_URL, "code_challenge": challenge},
        format="json",
    )
    back = back_to_the_app(oidc, started.json()["authorization_url"], unique_sub())

    response = token(APIClient(), "pkce", {"auth_code": back["code"], "code_verifier": verifier})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "flow_state_not_found"
    assert not Identity.objects.exists()
    assert LoginSession.objects.count() == 1  # the session that started it


def test_link_identity_needs_a_recent_authentication(auth_client, oidc):
    _verifier, challenge = pkce_pair()
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        response = auth_client.get(
            "/auth/v1/user/identities/authorize",
            {"provider": "local", "redirect_to": APP_URL, "code_challenge": challenge},
        )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "reauthentication_needed"


def test_an_id_token_never_links_through_this_api(api_client, oidc):
    body = {"provider": "local", "id_token": oidc.id_token(unique_sub()), "link_identity": True}
    response = token(api_client, "id_token", body)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["code"] == "manual_linking_disabled"
    assert not Identity.objects.exists()


def test_unlink_identity_keeps_the_last_way_to_sign_in(api_client, oidc):
    session = id_token_sign_in(
        api_client, oidc, unique_sub(), email="only@example.com", email_verified=True
    ).json()
    client = bearer(session)
    (identity,) = [i for i in session["user"]["identities"] if i["provider"] == "local"]

    last = client.delete(f"/auth/v1/user/identities/{identity['identity_id']}")
    assert last.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert last.json()["code"] == "single_identity_not_deletable"
    email_identity = session["user"]["identities"][0]
    assert email_identity["provider"] == "email"
    unknown = client.delete(f"/auth/v1/user/identities/{email_identity['identity_id']}")
    assert unknown.status_code == HTTPStatus.NOT_FOUND
    assert unknown.json()["code"] == "identity_not_found"

    second = unique_sub()
    oidc.person(second, email="only@example.com", email_verified=True)
    Identity.objects.create(user_id=session["user"]["id"], provider="local", subject=second)
    removed = client.delete(f"/auth/v1/user/identities/{identity['identity_id']}")
    assert removed.status_code == HTTPStatus.OK
    assert removed.json() == {}
    remaining = client.get("/auth/v1/user").json()["identities"]
    assert [i["id"] for i in remaining if i["provider"] == "local"] == [second]


def test_settings_list_the_configured_providers(api_client, oidc):
    external = api_client.get("/auth/v1/settings").json()["external"]
    assert external["local"] is True
    assert external["email"] is True
