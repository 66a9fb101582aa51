"""The browser flow, request by request, against the real provider on loopback: the
authorize redirect, the provider's consent, the callback, and the code's exchange at
the token endpoint with its PKCE verifier."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from io import StringIO
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from keyhouse.conftest import PASSWORD
from keyhouse.core.crypto import keyed_hash
from keyhouse.identities.checks import check_redirect_uris
from keyhouse.identities.flows import STATE_SALT
from keyhouse.identities.models import Identity, OAuthCode, OAuthState
from keyhouse.identities.tests.conftest import APP, APP_URL, CLIENT_ID, pkce_pair, unique_sub
from keyhouse.mfa.models import TotpFactor
from keyhouse.testing import holds_in_clear

pytestmark = pytest.mark.django_db

AUTHORIZE = "/api/v1/auth/oauth/local/authorize"
TOKEN = "/api/v1/auth/token/refresh"
FORM = "application/x-www-form-urlencoded"
CLIENT_HEADER = {"HTTP_X_KEYHOUSE_CLIENT": "web"}


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def start(api_client, challenge: str, **params: str):
    return api_client.get(
        AUTHORIZE, {"redirect_to": APP_URL, "code_challenge": challenge, **params}
    )


def to_the_app(api_client, oidc, sub: str, challenge: str, **params: str) -> dict[str, str]:
    """Start a sign-in, consent at the provider as ``sub``, follow the callback: return
    the query the app gets back."""
    response = start(api_client, challenge, **params)
    assert response.status_code == HTTPStatus.FOUND, response.content
    callback = oidc.consent(response["Location"], sub)
    path = urlsplit(callback)
    back = api_client.get(path.path, query(callback))
    assert back.status_code == HTTPStatus.FOUND, back.content
    assert back["Location"].startswith(f"{APP_URL}?")
    return query(back["Location"])


def exchange(api_client, code: str, verifier: str, headers: dict | None = None, **extra: str):
    body = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, **extra}
    return api_client.post(TOKEN, urlencode(body), content_type=FORM, **(headers or {}))


def test_the_authorize_redirect_carries_state_pkce_and_a_nonce(api_client, oidc):
    _verifier, challenge = pkce_pair()
    response = start(api_client, challenge)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Cache-Control"] == "no-store"
    sent = query(response["Location"])
    assert response["Location"].startswith(f"{oidc.issuer}/oauth2/authorize?")
    assert sent["client_id"] == CLIENT_ID
    assert sent["redirect_uri"] == "http://127.0.0.1:8000/api/v1/auth/oauth/local/callback"
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] != challenge  # Keyhouse's own PKCE with the provider
    assert sent["scope"] == "openid email profile"
    assert sent["nonce"]
    # Only the state's keyed hash is kept; the provider's verifier, encrypted.
    flow = OAuthState.objects.get()
    assert flow.state_hash == keyed_hash(sent["state"], salt=STATE_SALT)
    assert not holds_in_clear(flow.code_verifier, sent["state"])


def test_signing_in_through_the_browser_gives_a_code_the_app_redeems(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="grace@example.com", email_verified=True, name="Grace")
    verifier, challenge = pkce_pair()

    back = to_the_app(api_client, oidc, sub, challenge, state="app-state-1")
    assert set(back) == {"code", "state"}
    assert back["state"] == "app-state-1"
    response = exchange(api_client, back["code"], verifier, redirect_uri=APP_URL)

    assert response.status_code == HTTPStatus.OK, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["user"]["email"] == "grace@example.com"
    assert body["refresh_token"]
    assert Identity.objects.get(subject=sub).user.email == "grace@example.com"


def test_the_code_can_set_the_refresh_cookie(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="cookie@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)
    response = exchange(
        api_client, back["code"], verifier, CLIENT_HEADER, refresh_token_transport="cookie"
    )
    assert response.status_code == HTTPStatus.OK
    assert "refresh_token" not in response.json()
    assert response.cookies["keyhouse_refresh"]["httponly"]


def test_a_plain_form_from_another_site_sets_no_refresh_cookie(api_client, oidc):
    """Login CSRF: the attacker's own code, posted by the victim's browser from a form."""
    sub = unique_sub()
    oidc.person(sub, email="attacker@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)

    response = exchange(
        api_client,
        back["code"],
        verifier,
        {"HTTP_ORIGIN": "https://evil.example.org"},
        refresh_token_transport="cookie",
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "client_header_missing"
    assert "keyhouse_refresh" not in response.cookies
    # Refused before the code was spent: the app that started the sign-in still can.
    assert exchange(api_client, back["code"], verifier).status_code == HTTPStatus.OK


def test_a_samesite_none_cookie_is_set_only_for_an_allowed_origin(api_client, oidc, settings):
    settings.KEYHOUSE_REFRESH_COOKIE_SAMESITE = "None"
    settings.KEYHOUSE_REFRESH_COOKIE_SECURE = True
    sub = unique_sub()
    oidc.person(sub, email="none@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)

    def from_origin(origin: str):
        headers = {**CLIENT_HEADER, "HTTP_ORIGIN": origin}
        return exchange(
            api_client, back["code"], verifier, headers, refresh_token_transport="cookie"
        )

    refused = from_origin("https://evil.example.org")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["code"] == "origin_not_allowed"
    assert "keyhouse_refresh" not in refused.cookies
    allowed = from_origin(APP)
    assert allowed.status_code == HTTPStatus.OK
    assert allowed.cookies["keyhouse_refresh"]["samesite"] == "None"


def test_a_code_needs_its_verifier_and_works_once(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="once@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)
    other_verifier, _other = pkce_pair()

    wrong = exchange(api_client, back["code"], other_verifier)
    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert wrong.json()["error"] == "invalid_grant"
    # The wrong try spent it: whoever stole the code had one guess.
    assert exchange(api_client, back["code"], verifier).json()["error"] == "invalid_grant"


def test_a_used_code_is_refused(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="used@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)
    assert exchange(api_client, back["code"], verifier).status_code == HTTPStatus.OK
    assert exchange(api_client, back["code"], verifier).json()["error"] == "invalid_grant"


def test_an_expired_code_is_refused(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="late@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert exchange(api_client, back["code"], verifier).json()["error"] == "invalid_grant"


def test_a_code_for_another_redirect_is_refused(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="where@example.com", email_verified=True)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)
    response = exchange(api_client, back["code"], verifier, redirect_uri="http://app.test/other")
    assert response.json()["error"] == "invalid_grant"


def test_a_replayed_state_is_refused(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="replay@example.com", email_verified=True)
    _verifier, challenge = pkce_pair()
    response = start(api_client, challenge)
    callback = oidc.consent(response["Location"], sub)
    path = urlsplit(callback).path
    assert api_client.get(path, query(callback)).status_code == HTTPStatus.FOUND

    again = api_client.get(path, query(callback))

    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert again.json()["code"] == "oauth_state_invalid"


def test_a_forged_state_is_refused(api_client, oidc):
    response = api_client.get(
        "/api/v1/auth/oauth/local/callback", {"state": "made-up", "code": "made-up"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "oauth_state_invalid"


def test_a_state_expires_after_ten_minutes(api_client, oidc):
    sub = unique_sub()
    _verifier, challenge = pkce_pair()
    response = start(api_client, challenge)
    callback = oidc.consent(response["Location"], sub)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        late = api_client.get(urlsplit(callback).path, query(callback))
    assert late.json()["code"] == "oauth_state_invalid"


def test_a_state_started_for_one_provider_is_refused_by_another(api_client, oidc, settings):
    settings.KEYHOUSE_OIDC_PROVIDERS = {
        **settings.KEYHOUSE_OIDC_PROVIDERS,
        "other": {"issuer": oidc.issuer, "client_id": "other"},
    }
    _verifier, challenge = pkce_pair()
    callback = oidc.consent(start(api_client, challenge)["Location"], unique_sub())
    response = api_client.get("/api/v1/auth/oauth/other/callback", query(callback))
    assert response.json()["code"] == "oauth_state_invalid"


@pytest.mark.parametrize(
    "redirect_to",
    [
        "https://evil.test/steal",
        "http://app.test.evil.test/",
        "javascript:alert(1)",
        "ftp://app.test/",
        "http://app.test/#fragment",
        "http://app.test/#",
        "//evil.test/",
        "http:///app.test/",
        "http://app.test:8080/",
        "http://user:pass@app.test/",
        "http://app.test@evil.test/",
        "http://app.test\\@evil.test/",
        "http://app.test/\tsigned-in",
        # Allowed only by a pattern: a family of origins receives no code.
        "http://preview.app.test/",
    ],
)
def test_redirect_to_anything_but_an_exactly_allowed_origin_is_refused(
    api_client, oidc, settings, redirect_to
):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"http://(.*@)?([a-z]+\.)?app\.test"]
    _verifier, challenge = pkce_pair()
    response = api_client.get(AUTHORIZE, {"redirect_to": redirect_to, "code_challenge": challenge})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "redirect_not_allowed"
    assert not OAuthState.objects.exists()


@pytest.mark.parametrize(
    "redirect_to", [f"{APP_URL}?from=menu", f"{APP_URL}/", f"{APP}/other", APP]
)
def test_listed_redirect_uris_must_match_exactly(api_client, oidc, settings, redirect_to):
    settings.KEYHOUSE_OAUTH_REDIRECT_URIS = [APP_URL, f"{APP}/also-signed-in"]
    _verifier, challenge = pkce_pair()
    refused = api_client.get(AUTHORIZE, {"redirect_to": redirect_to, "code_challenge": challenge})
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert refused.json()["code"] == "redirect_not_allowed"
    assert start(api_client, challenge).status_code == HTTPStatus.FOUND


def test_a_listed_redirect_uri_the_origins_refuse_stops_startup(settings):
    settings.KEYHOUSE_OAUTH_REDIRECT_URIS = [APP_URL, "https://elsewhere.test/cb"]
    settings.CORS_ALLOWED_ORIGINS = [APP]
    errors = check_redirect_uris()
    assert [error.id for error in errors] == ["identities.E003"]
    assert "https://elsewhere.test/cb" in errors[0].msg


def test_a_plain_challenge_is_refused(api_client, oidc):
    response = api_client.get(
        AUTHORIZE,
        {"redirect_to": APP_URL, "code_challenge": "short", "code_challenge_method": "plain"},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["errors"]) == {"code_challenge", "code_challenge_method"}


def test_a_refusal_at_the_provider_goes_back_to_the_app(api_client, oidc):
    _verifier, challenge = pkce_pair()
    response = start(api_client, challenge, state="s1")
    state = query(response["Location"])["state"]
    back = api_client.get(
        "/api/v1/auth/oauth/local/callback", {"state": state, "error": "access_denied"}
    )
    assert back.status_code == HTTPStatus.FOUND
    assert query(back["Location"]) == {"error": "access_denied", "state": "s1"}


def test_a_linked_account_proves_itself_after_the_browser_flow(api_client, oidc, verified_user):
    sub = unique_sub()
    oidc.person(sub, email=verified_user.email, email_verified=True)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)

    response = exchange(api_client, back["code"], verifier)

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "link_required"
    linked = api_client.post(
        "/api/v1/auth/oauth/link",
        {"link_token": response.json()["link_token"], "password": PASSWORD},
        format="json",
    )
    assert linked.status_code == HTTPStatus.OK
    assert Identity.objects.get(subject=sub).user == verified_user


def test_the_metadata_says_the_token_endpoint_grants_codes_with_pkce(api_client):
    metadata = api_client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == []
    assert "authorization_endpoint" not in metadata


def test_a_code_exchange_without_its_verifier_is_malformed(api_client):
    response = api_client.post(
        TOKEN, urlencode({"grant_type": "authorization_code", "code": "x"}), content_type=FORM
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_request"


def test_an_account_with_a_second_factor_gets_the_challenge_from_the_code(
    api_client, oidc, verified_user
):
    TotpFactor.objects.create(
        user=verified_user, name="Phone", secret="unused", confirmed_at=timezone.now()
    )
    sub = unique_sub()
    Identity.objects.create(user=verified_user, provider="local", subject=sub)
    verifier, challenge = pkce_pair()
    back = to_the_app(api_client, oidc, sub, challenge)

    response = exchange(api_client, back["code"], verifier)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["mfa_required"] is True
    assert "access_token" not in response.json()


def test_purge_expired_deletes_spent_states_and_codes(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="purge@example.com", email_verified=True)
    _verifier, challenge = pkce_pair()
    to_the_app(api_client, oidc, sub, challenge)
    start(api_client, challenge)  # a second sign-in, never finished

    call_command("purge_expired", stdout=StringIO())
    assert (OAuthState.objects.count(), OAuthCode.objects.count()) == (2, 1)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        call_command("purge_expired", stdout=StringIO())
    assert (OAuthState.objects.count(), OAuthCode.objects.count()) == (0, 0)
