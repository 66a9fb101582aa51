"""A signed-in user's identities: list, add (native and browser), remove, never the last."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import CLIENT
from keyhouse.identities.models import Identity
from keyhouse.identities.tests.conftest import APP_URL, pkce_pair, unique_sub
from keyhouse.tokens.services import session_start
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db

IDENTITIES = "/api/v1/me/identities"


def client_of(user: User) -> APIClient:
    client = APIClient()
    pair = session_start(user=user, amr=["pwd"], client=CLIENT)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    return client


def test_a_user_adds_an_identity_with_an_id_token_and_lists_it(auth_client, oidc, verified_user):
    sub = unique_sub()
    oidc.person(sub, email="ada.work@example.com", email_verified=True)

    added = auth_client.post(
        IDENTITIES, {"provider": "local", "id_token": oidc.id_token(sub)}, format="json"
    )

    assert added.status_code == HTTPStatus.CREATED, added.json()
    assert added.json()["provider"] == "local"
    assert added.json()["email"] == "ada.work@example.com"
    listed = auth_client.get(IDENTITIES).json()
    assert [identity["id"] for identity in listed] == [added.json()["id"]]
    assert "subject" not in listed[0]
    assert Identity.objects.get().user == verified_user
    assert AuditEvent.objects.filter(type=AuditEvent.Type.IDENTITY_LINKED).exists()


def test_adding_an_identity_needs_a_recent_authentication(auth_client, oidc):
    id_token = oidc.id_token(unique_sub())
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        response = auth_client.post(
            IDENTITIES, {"provider": "local", "id_token": id_token}, format="json"
        )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "reauthentication_required"


def test_an_identity_of_another_account_cannot_be_added(auth_client, oidc):
    sub = unique_sub()
    other = User.objects.create_user("bea@example.com", "another long passphrase")
    Identity.objects.create(user=other, provider="local", subject=sub)
    response = auth_client.post(
        IDENTITIES, {"provider": "local", "id_token": oidc.id_token(sub)}, format="json"
    )
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "identity_taken"


def test_the_code_of_an_identity_being_added_signs_nobody_in(auth_client, oidc, verified_user):
    sub = unique_sub()
    verifier, challenge = pkce_pair()
    started = auth_client.post(
        f"{IDENTITIES}/authorize",
        {"provider": "local", "redirect_to": APP_URL, "code_challenge": challenge},
        format="json",
    )
    assert started.status_code == HTTPStatus.OK, started.json()
    callback = oidc.consent(started.json()["authorization_url"], sub)
    back = APIClient().get(urlsplit(callback).path, parse_qs(urlsplit(callback).query))
    code = parse_qs(urlsplit(back["Location"]).query)["code"][0]

    stolen = APIClient().post(
        "/api/v1/auth/token/refresh",
        f"grant_type=authorization_code&code={code}&code_verifier={verifier}",
        content_type="application/x-www-form-urlencoded",
    )
    assert stolen.json()["error"] == "invalid_grant"
    assert not Identity.objects.exists()


def test_the_browser_add_finishes_for_the_user_who_started_it(auth_client, oidc, verified_user):
    sub = unique_sub()
    verifier, challenge = pkce_pair()
    started = auth_client.post(
        f"{IDENTITIES}/authorize",
        {"provider": "local", "redirect_to": APP_URL, "code_challenge": challenge},
        format="json",
    )
    callback = oidc.consent(started.json()["authorization_url"], sub)
    back = APIClient().get(urlsplit(callback).path, parse_qs(urlsplit(callback).query))
    code = parse_qs(urlsplit(back["Location"]).query)["code"][0]

    added = auth_client.post(IDENTITIES, {"code": code, "code_verifier": verifier}, format="json")

    assert added.status_code == HTTPStatus.CREATED, added.json()
    assert Identity.objects.get(subject=sub).user == verified_user


def test_a_user_removes_an_identity_when_a_password_remains(auth_client, verified_user):
    identity = Identity.objects.create(user=verified_user, provider="local", subject="s1")
    response = auth_client.delete(f"{IDENTITIES}/{identity.pk}")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not Identity.objects.exists()
    assert AuditEvent.objects.filter(type=AuditEvent.Type.IDENTITY_UNLINKED).exists()


def test_the_last_way_to_sign_in_cannot_be_removed(oidc, api_client):
    sub = unique_sub()
    oidc.person(sub, email="only@example.com", email_verified=True)
    signed_in = api_client.post(
        "/api/v1/auth/oauth/local/token", {"id_token": oidc.id_token(sub)}, format="json"
    ).json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in['access_token']}")
    (identity,) = client.get(IDENTITIES).json()

    response = client.delete(f"{IDENTITIES}/{identity['id']}")

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "last_sign_in_method"
    second = unique_sub()
    client.post(IDENTITIES, {"provider": "local", "id_token": oidc.id_token(second)}, format="json")
    assert client.delete(f"{IDENTITIES}/{identity['id']}").status_code == HTTPStatus.NO_CONTENT


def test_another_users_identity_is_not_found(auth_client):
    other = User.objects.create_user("bea@example.com", "another long passphrase")
    identity = Identity.objects.create(user=other, provider="local", subject="s2")
    response = auth_client.delete(f"{IDENTITIES}/{identity.pk}")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert Identity.objects.filter(pk=identity.pk).exists()


def test_the_providers_are_listed_for_the_sign_in_page(api_client, oidc):
    response = api_client.get("/api/v1/auth/oauth/providers")
    assert response.json() == [{"name": "local", "display_name": "Local ID", "id_tokens": True}]
