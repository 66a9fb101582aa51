from __future__ import annotations

from http import HTTPStatus

import jwt as pyjwt
import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keyhouse.audit.models import AuditEvent
from keyhouse.testing import data_queries
from keyhouse.tokens import keys
from keyhouse.tokens.models import LoginSession
from keyhouse.users.models import User

LOGIN = "/api/v1/auth/login"

pytestmark = pytest.mark.django_db


def login(api_client, email, password, **extra):
    return api_client.post(LOGIN, {"email": email, "password": password, **extra}, format="json")


def test_login_returns_an_oauth_style_token_response(api_client, verified_user, password):
    response = login(api_client, "ADA@example.com ", password)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"] == {
        "id": str(verified_user.pk),
        "email": "ada@example.com",
        "email_verified": True,
        "phone": None,
        "phone_verified": False,
        "display_name": "Ada",
        "date_joined": verified_user.date_joined.isoformat().replace("+00:00", "Z"),
    }
    assert response["Cache-Control"] == "no-store"
    session = LoginSession.objects.get(user=verified_user)
    assert session.ip == "127.0.0.1"
    assert pyjwt.decode(body["access_token"], options={"verify_signature": False})["sid"] == str(
        session.pk
    )
    verified_user.refresh_from_db()
    assert verified_user.last_login is not None
    assert AuditEvent.objects.filter(type=AuditEvent.Type.LOGIN_SUCCEEDED).count() == 1


@pytest.fixture
def inactive_user(db, password):
    return User.objects.create_user("gone@example.com", password, is_active=False)


@pytest.mark.parametrize(
    ("email", "which_password"),
    [("nobody@example.com", "right"), ("ada@example.com", "wrong"), ("gone@example.com", "right")],
    ids=["unknown-email", "wrong-password", "inactive-user"],
)
def test_failed_logins_are_indistinguishable(
    api_client, verified_user, inactive_user, password, email, which_password
):
    response = login(api_client, email, password if which_password == "right" else "nope nope")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "The email address or password is incorrect.",
        "code": "invalid_credentials",
    }
    assert not LoginSession.objects.exists()
    assert AuditEvent.objects.filter(type=AuditEvent.Type.LOGIN_FAILED).count() == 1


def test_unknown_email_still_hashes_a_password(api_client, db, monkeypatch):
    hashed: list[str] = []
    original = User.set_password

    def spy(self, raw_password):
        hashed.append(raw_password)
        return original(self, raw_password)

    monkeypatch.setattr(User, "set_password", spy)
    login(api_client, "nobody@example.com", "some password")
    assert hashed == ["some password"]


def test_an_account_an_admin_made_signs_in_before_its_address_is_verified(
    api_client, user, password
):
    """Sign-up makes no account before its address is proven; an account with an
    unverified address was made by an operator, who vouched for it."""
    assert not user.email_verified
    response = login(api_client, user.email, password)
    assert response.status_code == HTTPStatus.OK
    assert response.json()["user"]["email_verified"] is False
    wrong = login(api_client, user.email, "not the password")
    assert wrong.json()["code"] == "invalid_credentials"


def test_an_older_password_hash_is_upgraded_on_login(api_client, verified_user, password):
    User.objects.filter(pk=verified_user.pk).update(
        password=make_password(password, hasher="pbkdf2_sha256")
    )
    assert login(api_client, verified_user.email, password).status_code == HTTPStatus.OK
    verified_user.refresh_from_db()
    assert verified_user.password.startswith("argon2$argon2id$")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "ada@example.com"},
        {"email": "ada@example.com", "password": None},
        {"email": "ada@example.com", "password": 12345678, "extra": 1} | {"password": ["x"]},
        {"email": "a" * 300, "password": "x"},
        {"email": "ada\x00@example.com", "password": "x"},
    ],
)
def test_malformed_login_bodies_are_validation_errors(api_client, db, body):
    response = api_client.post(LOGIN, body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_login_costs_at_most_six_queries(api_client, verified_user, password):
    """The user, whether it has a second factor, the session, its refresh token, the
    last login and the audit event."""
    keys.keyring_current()  # loaded once per process, then cached
    with CaptureQueriesContext(connection) as queries:
        response = login(api_client, verified_user.email, password)
    assert response.status_code == HTTPStatus.OK
    assert len(data_queries(queries)) <= 6, data_queries(queries)
