from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.admin.utils import quote
from rest_framework.test import APIClient

from keyhouse.accounts.models import PendingSignup
from keyhouse.accounts.services.signup import signup
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.conftest import CLIENT
from keyhouse.delivery.models import Delivery
from keyhouse.tokens.models import LoginSession, SigningKey
from keyhouse.tokens.services import session_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_user_page_lists_their_sessions(admin_client, tokens):
    response = admin_client.get(f"/admin/users/user/{tokens.user.pk}/change/")
    assert response.status_code == HTTPStatus.OK
    assert str(tokens.session.pk).encode() in response.content


def test_sign_out_everywhere_ends_every_session_at_once(admin_client, tokens):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    response = admin_client.post(
        "/admin/users/user/",
        {"action": "sign_out_everywhere", "_selected_action": [str(tokens.user.pk)]},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert not LoginSession.objects.filter(user=tokens.user, revoked_at__isnull=True).exists()
    for pair in (tokens, other):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
        assert client.get("/api/v1/me").json()["code"] == "session_revoked"


@pytest.mark.parametrize("how", ["delete-page", "delete-action"])
def test_the_admin_cannot_delete_a_user_with_sessions(admin_client, tokens, how):
    """Sessions are read-only in the admin, so a user who has any cannot be deleted there
    (an operator deactivates instead): no deletion leaves their access tokens working."""
    user_id = tokens.user.pk
    if how == "delete-page":
        response = admin_client.post(f"/admin/users/user/{quote(user_id)}/delete/", {"post": "yes"})
    else:
        response = admin_client.post(
            "/admin/users/user/",
            {"action": "delete_selected", "_selected_action": [str(user_id)], "post": "yes"},
        )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert LoginSession.objects.filter(user_id=user_id, revoked_at__isnull=True).exists()


def test_session_list_action_signs_out_selected_sessions(admin_client, tokens):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    admin_client.post(
        "/admin/tokens/loginsession/",
        {"action": "revoke_sessions", "_selected_action": [str(other.session.pk)]},
    )
    assert LoginSession.objects.get(pk=other.session.pk).revoke_reason == "admin"
    assert LoginSession.objects.get(pk=tokens.session.pk).revoked_at is None


def test_signing_keys_are_shown_without_their_private_half(admin_client):
    response = admin_client.get("/admin/tokens/signingkey/")
    assert response.status_code == HTTPStatus.OK
    key = SigningKey.objects.get()
    page = admin_client.get(f"/admin/tokens/signingkey/{quote(key.pk)}/change/")
    assert page.status_code == HTTPStatus.OK
    assert key.private_key.encode() not in page.content


ADMIN_LOGIN = "/admin/login/?next=/admin/"


def admin_login(client, email, password, ip="198.51.100.1"):
    return client.post(ADMIN_LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def events(type):
    return AuditEvent.objects.filter(type=type)


@pytest.mark.usefixtures("window_start")
def test_admin_login_failures_are_throttled_per_account_and_recorded(client, admin_user, password):
    for _ in range(5):
        assert admin_login(client, admin_user.email, "wrong").status_code == HTTPStatus.OK
    throttled = admin_login(client, admin_user.email, password)
    assert throttled.status_code == HTTPStatus.OK
    assert b"Too many failed sign-ins" in throttled.content
    assert "_auth_user_id" not in client.session
    assert events(AuditEvent.Type.LOGIN_FAILED).filter(user=admin_user).count() == 5
    assert events(AuditEvent.Type.LOGIN_FAILED).filter(detail__reason="throttled").count() == 1
    elsewhere = admin_login(client, admin_user.email, password, ip="203.0.113.50")
    assert elsewhere.status_code == HTTPStatus.FOUND


def test_admin_login_success_is_recorded(client, admin_user, password):
    assert admin_login(client, admin_user.email, password).status_code == HTTPStatus.FOUND
    (event,) = events(AuditEvent.Type.LOGIN_SUCCEEDED)
    assert event.user == admin_user
    assert event.ip == "198.51.100.1"
    assert event.detail == {"method": "password", "site": "admin"}


@pytest.mark.usefixtures("window_start")
def test_admin_login_counts_against_the_per_ip_login_limit(client, admin_user, password, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "login": "2/m/ip"}
    admin_login(client, "someone@example.com", "wrong")
    admin_login(client, "other@example.com", "wrong")
    refused = admin_login(client, admin_user.email, password)
    assert refused.status_code == HTTPStatus.OK
    assert b"Too many requests" in refused.content
    assert not events(AuditEvent.Type.LOGIN_SUCCEEDED).exists()


def test_admin_login_fails_closed_with_a_form_error_when_the_cache_is_down(
    client, admin_user, password, unreachable_cache
):
    response = admin_login(client, admin_user.email, password)
    assert response.status_code == HTTPStatus.OK
    assert b"unavailable" in response.content
    assert "_auth_user_id" not in client.session


def test_admin_login_refuses_a_correct_password_without_staff_access(
    client, verified_user, password
):
    response = admin_login(client, verified_user.email, password)
    assert response.status_code == HTTPStatus.OK
    assert "_auth_user_id" not in client.session
    (event,) = events(AuditEvent.Type.LOGIN_FAILED)
    assert event.user == verified_user
    assert event.detail["reason"] == "not_staff"


def test_admin_actions_record_the_acting_admin(admin_client, admin_user, tokens):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    admin_client.post(
        "/admin/tokens/loginsession/",
        {"action": "revoke_sessions", "_selected_action": [str(other.session.pk)]},
        REMOTE_ADDR="192.0.2.10",
    )
    admin_client.post(
        "/admin/users/user/",
        {"action": "sign_out_everywhere", "_selected_action": [str(tokens.user.pk)]},
        REMOTE_ADDR="192.0.2.10",
    )
    for action in ("deactivate", "reactivate"):
        admin_client.post(
            "/admin/users/user/",
            {"action": action, "_selected_action": [str(tokens.user.pk)]},
            REMOTE_ADDR="192.0.2.10",
        )
    recorded = AuditEvent.objects.filter(user=tokens.user).exclude(type="signed_up")
    assert sorted(event.type for event in recorded) == [
        "session_revoked",
        "session_revoked",
        "user_deactivated",
        "user_reactivated",
    ]
    for event in recorded:
        assert event.detail["admin"] == str(admin_user.pk)
        assert event.ip == "192.0.2.10"


def test_setting_a_password_in_the_admin_ends_the_users_sessions(admin_client, admin_user, tokens):
    response = admin_client.post(
        f"/admin/users/user/{tokens.user.pk}/password/",
        {"password1": "a fresh admin passphrase", "password2": "a fresh admin passphrase"},
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == HTTPStatus.FOUND
    tokens.user.refresh_from_db()
    assert tokens.user.check_password("a fresh admin passphrase")
    assert LoginSession.objects.get(pk=tokens.session.pk).revoke_reason == "password_set_by_admin"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}")
    assert client.get("/api/v1/me").json()["code"] == "session_revoked"
    (event,) = AuditEvent.objects.filter(type=AuditEvent.Type.PASSWORD_CHANGED)
    assert event.user == tokens.user
    assert event.detail == {"admin": str(admin_user.pk)}
    assert event.ip == "192.0.2.10"
    assert Delivery.objects.filter(recipient=tokens.user.email, template="password_changed")


def test_a_refused_admin_password_ends_nothing(admin_client, tokens):
    response = admin_client.post(
        f"/admin/users/user/{tokens.user.pk}/password/",
        {"password1": "a fresh admin passphrase", "password2": "something else"},
    )
    assert response.status_code == HTTPStatus.OK
    assert LoginSession.objects.get(pk=tokens.session.pk).revoked_at is None
    assert not AuditEvent.objects.filter(type=AuditEvent.Type.PASSWORD_CHANGED).exists()


def test_the_audit_trail_is_listed_filtered_and_read_only(admin_client, tokens):
    audit_record(type=AuditEvent.Type.LOGOUT, user_id=tokens.user.pk, client=CLIENT)
    event = audit_record(type=AuditEvent.Type.REFRESH_REUSED, user_id=tokens.user.pk)
    listing = admin_client.get("/admin/audit/auditevent/", {"type__exact": "refresh_reused"})
    assert listing.status_code == HTTPStatus.OK
    assert listing.context["cl"].result_count == 1
    page = admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert b'name="_save"' not in page.content
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == HTTPStatus.FORBIDDEN
    deleted = admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_pending_sign_ups_are_listed_read_only_without_their_password(admin_client):
    signup(
        email="pending@example.com",
        password="a long pending passphrase",
        display_name="Pending",
        client=CLIENT,
    )
    pending = PendingSignup.objects.get()

    listed = admin_client.get("/admin/accounts/pendingsignup/")
    assert listed.status_code == HTTPStatus.OK
    assert b"pending@example.com" in listed.content
    page = admin_client.get(f"/admin/accounts/pendingsignup/{pending.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert pending.password.encode() not in page.content
    assert admin_client.get("/admin/accounts/pendingsignup/add/").status_code == (
        HTTPStatus.FORBIDDEN
    )
