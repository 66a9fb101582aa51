"""The native flow against a real OpenID provider: ID tokens from the provider's own
code flow, as a platform SDK obtains them, sent to POST /api/v1/auth/oauth/local/token."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.utils import timezone
from joserfc.jwk import KeySet

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import PASSWORD
from keyhouse.delivery.testing import WAIT_SECONDS
from keyhouse.identities import clients
from keyhouse.identities.models import Identity
from keyhouse.identities.providers import providers_configured
from keyhouse.identities.tests.conftest import IOS_CLIENT_ID, provider_settings, unique_sub
from keyhouse.mfa.models import TotpFactor
from keyhouse.testing import code_in_mail
from keyhouse.testing import token_claims as claims_of
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/oauth/local/token"


def sign_in(api_client, id_token: str, **extra):
    return api_client.post(URL, {"id_token": id_token, **extra}, format="json")


def test_a_new_verified_identity_makes_an_account_and_signs_in(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="Lin@Example.com", email_verified=True, name="Lin")

    response = sign_in(api_client, oidc.id_token(sub))

    assert response.status_code == HTTPStatus.OK, response.json()
    body = response.json()
    assert body["user"]["email"] == "lin@example.com"
    assert body["user"]["email_verified"] is True
    assert body["user"]["display_name"] == "Lin"
    assert claims_of(body["access_token"])["amr"] == ["fed", "local"]
    user = User.objects.get(email="lin@example.com")
    assert not user.has_usable_password()
    identity = Identity.objects.get(user=user)
    assert (identity.provider, identity.subject, identity.email_verified) == ("local", sub, True)
    assert AuditEvent.objects.filter(type=AuditEvent.Type.SIGNED_UP, user=user).exists()


def test_a_known_identity_signs_in_to_its_account(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="known@example.com", email_verified=True)
    first = sign_in(api_client, oidc.id_token(sub)).json()

    again = sign_in(api_client, oidc.id_token(sub))

    assert again.status_code == HTTPStatus.OK
    assert again.json()["user"]["id"] == first["user"]["id"]
    assert Identity.objects.filter(subject=sub).count() == 1
    assert (
        AuditEvent.objects.filter(
            type=AuditEvent.Type.LOGIN_SUCCEEDED, detail__provider="local"
        ).count()
        == 2
    )


def test_an_ios_client_id_is_an_accepted_audience(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="ios@example.com", email_verified=True)
    response = sign_in(api_client, oidc.id_token(sub, client_id=IOS_CLIENT_ID))
    assert response.status_code == HTTPStatus.OK


def test_a_token_for_another_client_is_refused(api_client, oidc):
    sub = unique_sub()
    response = sign_in(api_client, oidc.id_token(sub, client_id="someone-elses-app"))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "id_token_audience_invalid"
    assert not Identity.objects.filter(subject=sub).exists()
    assert AuditEvent.objects.get(type=AuditEvent.Type.LOGIN_FAILED).detail == {
        "method": "fed",
        "provider": "local",
        "reason": "id_token_audience_invalid",
    }


def test_a_token_of_another_issuer_is_refused(api_client, oidc):
    # Signed with the provider's own key, but issued as http://127.0.0.1:<port>.
    response = sign_in(api_client, oidc.id_token(unique_sub(), host="127.0.0.1"))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "id_token_issuer_invalid"


def test_an_expired_token_is_refused(api_client, oidc):
    id_token = oidc.id_token(unique_sub())
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = sign_in(api_client, id_token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "id_token_expired"


def test_a_tampered_token_is_refused(api_client, oidc):
    header, payload, signature = oidc.id_token(unique_sub()).split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = sign_in(api_client, forged)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "id_token_invalid"


def test_a_wrong_nonce_is_refused(api_client, oidc):
    id_token = oidc.id_token(unique_sub(), nonce="the-nonce-of-this-sign-in")
    response = sign_in(api_client, id_token, nonce="another-nonce")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "nonce_mismatch"


def test_a_token_with_a_nonce_needs_it_sent(api_client, oidc):
    id_token = oidc.id_token(unique_sub(), nonce="the-nonce-of-this-sign-in")
    response = sign_in(api_client, id_token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "nonce_missing"


def test_a_nonce_sent_for_a_token_without_one_is_refused(api_client, oidc):
    response = sign_in(api_client, oidc.id_token(unique_sub()), nonce="a-nonce")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "nonce_mismatch"


RAW_NONCE = "raw-nonce-kept-by-the-app"
HASHED_NONCE = hashlib.sha256(RAW_NONCE.encode()).hexdigest()


@pytest.mark.parametrize(
    ("nonce_hashed", "in_token", "sent", "code"),
    [
        (False, RAW_NONCE, RAW_NONCE, None),
        (False, HASHED_NONCE, RAW_NONCE, "nonce_mismatch"),
        (True, HASHED_NONCE, RAW_NONCE, None),
        # The claim itself, which anyone holding the token reads: a replay.
        (True, HASHED_NONCE, HASHED_NONCE, "nonce_mismatch"),
        (True, RAW_NONCE, RAW_NONCE, "nonce_mismatch"),
    ],
    ids=["raw", "raw provider, hashed token", "hashed", "hashed claim replayed", "hashed, raw"],
)
def test_the_nonce_matches_only_in_the_form_the_providers_sdk_puts_it(
    api_client, oidc, settings, nonce_hashed, in_token, sent, code
):
    settings.KEYHOUSE_OIDC_PROVIDERS = provider_settings(oidc.issuer, nonce_hashed=nonce_hashed)
    sub = unique_sub()
    oidc.person(sub, email=f"{sub}@example.com", email_verified=True)
    response = sign_in(api_client, oidc.id_token(sub, nonce=in_token), nonce=sent)
    if code is None:
        assert response.status_code == HTTPStatus.OK, response.json()
    else:
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["code"] == code
        assert not Identity.objects.filter(subject=sub).exists()


def test_apples_sdk_hashes_the_nonce_and_googles_does_not(settings):
    settings.KEYHOUSE_GOOGLE_CLIENT_ID = "web.apps.googleusercontent.com"
    settings.KEYHOUSE_APPLE_CLIENT_ID = "com.example.web"
    settings.KEYHOUSE_APPLE_TEAM_ID = "TEAM123456"
    settings.KEYHOUSE_APPLE_KEY_ID = "ABC123DEFG"
    settings.KEYHOUSE_APPLE_PRIVATE_KEY_FILE = "AuthKey_ABC123DEFG.p8"
    providers = providers_configured()
    assert (providers["google"].nonce_hashed, providers["apple"].nonce_hashed) == (False, True)


def test_a_provider_may_require_a_nonce(api_client, oidc, settings):
    settings.KEYHOUSE_OIDC_PROVIDERS = provider_settings(oidc.issuer, nonce_required=True)
    response = sign_in(api_client, oidc.id_token(unique_sub()))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "nonce_missing"


def test_an_unknown_provider_is_not_found(api_client, oidc):
    response = api_client.post(
        "/api/v1/auth/oauth/nowhere/token", {"id_token": "x.y.z"}, format="json"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "provider_not_found"


def test_an_unreachable_provider_is_a_503(api_client, oidc, settings):
    settings.KEYHOUSE_OIDC_PROVIDERS = provider_settings("http://127.0.0.1:1")
    response = sign_in(api_client, oidc.id_token(unique_sub()))
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == "provider_unavailable"


@pytest.mark.parametrize("email", ["taken", "free"])
def test_an_unverified_email_is_never_matched_with_an_account(
    api_client, oidc, verified_user, email
):
    """Whether an account uses the address changes nothing: no answer tells it apart."""
    sub = unique_sub()
    address = verified_user.email if email == "taken" else "free@example.com"
    oidc.person(sub, email=address, email_verified=False)
    before = User.objects.values().get(pk=verified_user.pk)

    response = sign_in(api_client, oidc.id_token(sub))

    assert response.status_code == HTTPStatus.OK, response.json()
    body = response.json()
    assert body["user"]["id"] != str(verified_user.pk)
    assert body["user"]["email"] is None
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    identity = Identity.objects.get(subject=sub)
    assert (identity.email, identity.email_verified) == (address, False)
    made = identity.user
    assert (made.email, made.email_verified_at) == ("", None)
    # The account that uses the address is untouched, and nothing was linked to it.
    assert User.objects.values().get(pk=verified_user.pk) == before
    assert not Identity.objects.filter(user=verified_user).exists()
    assert User.objects.count() == 2


def test_new_accounts_can_be_turned_off(api_client, oidc, settings):
    settings.KEYHOUSE_OAUTH_SIGNUP_ENABLED = False
    sub = unique_sub()
    oidc.person(sub, email="nobody@example.com", email_verified=True)
    response = sign_in(api_client, oidc.id_token(sub))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "oauth_signup_disabled"
    assert not User.objects.exists()


def test_a_deactivated_account_is_refused(api_client, oidc):
    sub = unique_sub()
    oidc.person(sub, email="gone@example.com", email_verified=True)
    sign_in(api_client, oidc.id_token(sub))
    User.objects.filter(email="gone@example.com").update(is_active=False)
    response = sign_in(api_client, oidc.id_token(sub))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "account_disabled"


def link_required(api_client, oidc, user) -> dict:
    sub = unique_sub()
    oidc.person(sub, email=user.email.upper(), email_verified=True)
    response = sign_in(api_client, oidc.id_token(sub))
    assert response.status_code == HTTPStatus.CONFLICT
    return {"sub": sub, **response.json()}


def test_a_verified_email_of_an_account_asks_to_link_instead_of_merging(
    api_client, oidc, verified_user
):
    problem = link_required(api_client, oidc, verified_user)

    assert problem["code"] == "link_required"
    assert problem["provider"] == "local"
    assert problem["proofs"] == ["password", "code"]
    assert problem["expires_in"] == 600
    assert problem["link_token"]
    assert not Identity.objects.exists()
    assert not verified_user.login_sessions.exists()


def test_the_password_links_the_identity_and_signs_in(api_client, oidc, verified_user):
    problem = link_required(api_client, oidc, verified_user)

    response = api_client.post(
        "/api/v1/auth/oauth/link",
        {"link_token": problem["link_token"], "password": PASSWORD},
        format="json",
    )

    assert response.status_code == HTTPStatus.OK, response.json()
    assert response.json()["user"]["id"] == str(verified_user.pk)
    assert claims_of(response.json()["access_token"])["amr"] == ["fed", "local", "pwd"]
    assert Identity.objects.get(subject=problem["sub"]).user == verified_user
    # The link token is spent; the identity now signs in alone.
    again = api_client.post(
        "/api/v1/auth/oauth/link",
        {"link_token": problem["link_token"], "password": PASSWORD},
        format="json",
    )
    assert again.json()["code"] == "link_token_invalid"
    assert sign_in(api_client, oidc.id_token(problem["sub"])).json()["user"]["id"] == str(
        verified_user.pk
    )


def test_a_wrong_password_links_nothing(api_client, oidc, verified_user):
    problem = link_required(api_client, oidc, verified_user)
    response = api_client.post(
        "/api/v1/auth/oauth/link",
        {"link_token": problem["link_token"], "password": "not the password"},
        format="json",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "invalid_password"
    assert not Identity.objects.exists()


@pytest.mark.django_db(transaction=True)  # the mail goes once the code's transaction commits
def test_an_emailed_code_links_the_identity(api_client, oidc, verified_user, smtp_mailer):
    problem = link_required(api_client, oidc, verified_user)

    sent = api_client.post(
        "/api/v1/auth/oauth/link/send-code", {"link_token": problem["link_token"]}, format="json"
    )
    assert sent.status_code == HTTPStatus.ACCEPTED
    (message,) = smtp_mailer.wait_for_messages(1, timeout=WAIT_SECONDS)
    assert message["To"] == verified_user.email
    code = code_in_mail(message)
    response = api_client.post(
        "/api/v1/auth/oauth/link",
        {"link_token": problem["link_token"], "code": code},
        format="json",
    )

    assert response.status_code == HTTPStatus.OK, response.json()
    assert claims_of(response.json()["access_token"])["amr"] == ["fed", "local", "otp"]
    assert AuditEvent.objects.get(type=AuditEvent.Type.IDENTITY_LINKED).detail["proof"] == "code"


def test_an_account_with_a_second_factor_is_still_challenged(api_client, oidc, verified_user):
    TotpFactor.objects.create(
        user=verified_user, name="Phone", secret="unused", confirmed_at=timezone.now()
    )
    sub = unique_sub()
    oidc.person(sub, email="other@example.com", email_verified=True)
    Identity.objects.create(user=verified_user, provider="local", subject=sub)

    response = sign_in(api_client, oidc.id_token(sub))

    assert response.status_code == HTTPStatus.OK
    assert response.json()["mfa_required"] is True
    assert "access_token" not in response.json()


def test_the_providers_keys_are_imported_once_for_many_sign_ins(api_client, oidc, monkeypatch):
    monkeypatch.setattr(clients, "_key_sets", {})
    imports = []
    original = KeySet.import_key_set
    monkeypatch.setattr(
        KeySet, "import_key_set", lambda value: imports.append(value) or original(value)
    )
    for number in range(3):
        sub = unique_sub()
        oidc.person(sub, email=f"many{number}@example.com", email_verified=True)
        assert sign_in(api_client, oidc.id_token(sub)).status_code == HTTPStatus.OK

    assert len(imports) == 1
