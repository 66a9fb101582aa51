"""Managing one's own account: re-authentication, password, email, profile, deletion."""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from keyhouse.accounts.services.reauthentication import reauthentication_code_send
from keyhouse.audit.models import AuditEvent
from keyhouse.codes.models import OneTimeCode
from keyhouse.conftest import CLIENT
from keyhouse.delivery.models import Delivery
from keyhouse.testing import code_in_mail, data_queries
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import session_start
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def bearer(pair) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    return client


@pytest.fixture
def stale_client(tokens):
    """A client whose session signed in more than 10 minutes ago."""
    LoginSession.objects.filter(pk=tokens.session.pk).update(
        authenticated_at=tokens.session.authenticated_at.replace(year=2000)
    )
    return bearer(tokens)


def test_me_shows_the_signed_in_user_in_one_query(auth_client, verified_user):
    auth_client.get("/api/v1/me/sessions")  # warms the process's keyring
    with CaptureQueriesContext(connection) as queries:
        response = auth_client.get("/api/v1/me")
    assert response.json() == {
        "id": str(verified_user.pk),
        "email": "ada@example.com",
        "email_verified": True,
        "phone": None,
        "phone_verified": False,
        "display_name": "Ada",
        "date_joined": verified_user.date_joined.isoformat().replace("+00:00", "Z"),
    }
    assert len(data_queries(queries)) == 1


def test_profile_is_read_and_updated(auth_client):
    response = auth_client.patch("/api/v1/me", {"display_name": "Countess"}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["display_name"] == "Countess"
    assert auth_client.get("/api/v1/me").json()["display_name"] == "Countess"
    assert AuditEvent.objects.filter(type=AuditEvent.Type.PROFILE_UPDATED).exists()


def test_a_display_name_may_carry_an_escaped_emoji(auth_client):
    body = r'{"display_name": "Ada \ud83d\ude00"}'
    response = auth_client.patch("/api/v1/me", body, content_type="application/json")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["display_name"] == "Ada \N{GRINNING FACE}"


def test_profile_update_refuses_bad_input(auth_client):
    too_long_with_whitespace = "\x1c" + "x" * 150  # the limit holds before trimming
    for body in (
        {"display_name": "x" * 151},
        {"display_name": too_long_with_whitespace},
        {"display_name": 7},
        {"display_name": None},
    ):
        response = auth_client.patch("/api/v1/me", body, format="json")
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "display_name" in response.json()["errors"]


def test_profile_update_is_partial_and_an_empty_one_changes_nothing(auth_client):
    response = auth_client.patch("/api/v1/me", {}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["display_name"] == "Ada"
    assert not AuditEvent.objects.filter(type=AuditEvent.Type.PROFILE_UPDATED).exists()


def test_sensitive_operations_need_a_recent_authentication(stale_client):
    for method, path, body in [
        ("delete", "/api/v1/me", None),
        ("post", "/api/v1/me/email", {"email": "new@example.com"}),
    ]:
        response = getattr(stale_client, method)(path, body, format="json")
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert response.json()["code"] == "reauthentication_required"
    assert User.objects.exists()


def test_reauthenticating_with_the_password_unlocks_them(stale_client, password, smtp_mailer):
    wrong = stale_client.post("/api/v1/auth/reauthenticate", {"password": "nope"}, format="json")
    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert wrong.json()["code"] == "invalid_password"
    ok = stale_client.post("/api/v1/auth/reauthenticate", {"password": password}, format="json")
    assert ok.status_code == HTTPStatus.NO_CONTENT
    response = stale_client.post("/api/v1/me/email", {"email": "new@example.com"}, format="json")
    assert response.status_code == HTTPStatus.ACCEPTED
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {"reauthentication_failed", "reauthenticated"} <= types


def test_reauthentication_lapses_after_the_window(auth_client, smtp_mailer):
    with time_machine.travel(time.time() + 11 * 60, tick=False):
        response = auth_client.post("/api/v1/me/email", {"email": "new@example.com"}, format="json")
    assert response.json()["code"] == "reauthentication_required"


@pytest.mark.parametrize("body", [{}, {"password": "x", "code": "123456"}, {"code": 123456}])
def test_reauthenticate_takes_a_password_or_a_code(auth_client, body):
    response = auth_client.post("/api/v1/auth/reauthenticate", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "validation_error"


def test_reauthenticating_with_a_code_needs_a_verified_phone_or_email(auth_client, tokens):
    User.objects.filter(pk=tokens.user.pk).update(email_verified_at=None)
    response = auth_client.post("/api/v1/auth/reauthenticate", {"code": "123456"}, format="json")
    assert response.json()["code"] == "no_verified_phone"


def test_without_a_phone_the_code_is_the_one_mailed_to_the_address(
    auth_client, tokens, smtp_mailer
):
    reauthentication_code_send(user=tokens.user, client=CLIENT)
    code = code_in_mail(smtp_mailer.messages[-1])
    response = auth_client.post("/api/v1/auth/reauthenticate", {"code": code}, format="json")
    assert response.status_code == HTTPStatus.NO_CONTENT


def test_password_change_keeps_this_session_and_ends_the_others(tokens, password, smtp_mailer):
    other = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    client = bearer(tokens)
    response = client.post(
        "/api/v1/me/password",
        {"current_password": password, "new_password": "a fresh new passphrase"},
        format="json",
    )
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert client.get("/api/v1/me").status_code == HTTPStatus.OK
    assert bearer(other).get("/api/v1/me").json()["code"] == "session_revoked"
    assert User.objects.get().check_password("a fresh new passphrase")
    (notice,) = smtp_mailer.wait_for_messages(1, timeout=5)
    assert "password was changed" in notice["Subject"].lower()


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        (
            {"current_password": "wrong", "new_password": "a fresh new passphrase"},
            "current_password",
            "invalid_password",
        ),
        ({"new_password": "a fresh new passphrase"}, "current_password", "validation_error"),
        (
            {"current_password": "PASSWORD", "new_password": "short"},
            "new_password",
            "validation_error",
        ),
    ],
)
def test_password_change_refuses_bad_input(auth_client, password, body, field, code):
    body = {key: password if value == "PASSWORD" else value for key, value in body.items()}
    response = auth_client.post("/api/v1/me/password", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == code
    assert field in response.json()["errors"]
    assert User.objects.get().check_password(password)


def test_a_recent_authentication_stands_for_a_password_the_account_does_not_have(
    auth_client, tokens, settings
):
    tokens.user.set_unusable_password()
    tokens.user.save(update_fields=["password"])
    body = {"new_password": "a fresh new passphrase"}
    later = time.time() + settings.KEYHOUSE_REAUTHENTICATION_WINDOW + 60
    with time_machine.travel(later):
        stale = auth_client.post("/api/v1/me/password", body, format="json")
    assert stale.status_code == HTTPStatus.FORBIDDEN
    assert stale.json()["code"] == "reauthentication_required"
    assert not User.objects.get().has_usable_password()

    fresh = auth_client.post("/api/v1/me/password", body, format="json")
    assert fresh.status_code == HTTPStatus.NO_CONTENT
    assert User.objects.get().check_password("a fresh new passphrase")


def test_email_change_switches_the_address_and_notifies_the_old_one(auth_client, smtp_mailer):
    response = auth_client.post("/api/v1/me/email", {"email": "Ada@New.example"}, format="json")
    assert response.status_code == HTTPStatus.ACCEPTED
    (message,) = smtp_mailer.messages
    assert message["To"] == "ada@new.example"
    done = auth_client.post(
        "/api/v1/me/email/verify", {"code": code_in_mail(message)}, format="json"
    )
    assert done.status_code == HTTPStatus.OK, done.content
    assert done.json()["email"] == "ada@new.example"
    assert done.json()["email_verified"] is True
    notice = smtp_mailer.wait_for_messages(2, timeout=5)[1]
    assert notice["To"] == "ada@example.com"
    assert "ada@new.example" in notice.get_body(("plain",)).get_content()
    assert AuditEvent.objects.filter(type=AuditEvent.Type.EMAIL_CHANGED).count() == 1


def test_email_change_to_an_address_taken_meanwhile_is_a_409(auth_client, smtp_mailer):
    auth_client.post("/api/v1/me/email", {"email": "taken@example.com"}, format="json")
    code = code_in_mail(smtp_mailer.messages[0])
    User.objects.create_user("TAKEN@example.com", "someone else's passphrase")
    response = auth_client.post("/api/v1/me/email/verify", {"code": code}, format="json")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "email_taken"
    assert User.objects.get(display_name="Ada").email == "ada@example.com"


def test_email_change_to_the_same_address_in_another_case_is_refused(auth_client, smtp_mailer):
    response = auth_client.post("/api/v1/me/email", {"email": "ADA@Example.com"}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "email_unchanged"
    assert smtp_mailer.messages == []


def test_email_change_code_errors_are_precise_for_the_signed_in_user(auth_client, smtp_mailer):
    no_code = auth_client.post("/api/v1/me/email/verify", {"code": "123456"}, format="json")
    assert no_code.json()["code"] == "code_invalid"
    auth_client.post("/api/v1/me/email", {"email": "new@example.com"}, format="json")
    code = code_in_mail(smtp_mailer.messages[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = auth_client.post("/api/v1/me/email/verify", {"code": wrong}, format="json")
    assert response.json()["code"] == "code_invalid"
    assert response.json()["tries_left"] == 4


def test_deleting_the_account_removes_it_and_keeps_an_anonymous_trail(tokens, smtp_mailer):
    client = bearer(tokens)
    user_id = tokens.user.pk
    wrong = {"email": " ADA@Example.COM ", "password": "not the password at all"}
    for _attempt in range(6):  # the last one is throttled, before the account is looked up
        APIClient().post("/api/v1/auth/login", wrong, format="json")
    assert AuditEvent.objects.filter(user=None, detail__email="ada@example.com").exists()
    client.post("/api/v1/me/email", {"email": "new@example.com"}, format="json")
    assert OneTimeCode.objects.exists()
    assert Delivery.objects.exists()
    response = client.delete("/api/v1/me")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not User.objects.filter(pk=user_id).exists()
    assert not LoginSession.objects.exists()
    assert not OneTimeCode.objects.exists()
    assert not Delivery.objects.exists()
    assert client.get("/api/v1/me").json()["code"] == "session_revoked"
    deleted = AuditEvent.objects.get(type=AuditEvent.Type.ACCOUNT_DELETED)
    assert deleted.detail == {"user": str(user_id)}
    for event in AuditEvent.objects.all():
        assert event.user_id is None
        assert event.ip is None
        assert "ada@example.com" not in str(event.detail)


def test_deleting_without_a_token_is_refused(api_client):
    assert api_client.delete("/api/v1/me").status_code == HTTPStatus.UNAUTHORIZED


def test_a_deactivated_users_tokens_are_refused_at_once(client, admin_user, tokens):
    client.force_login(admin_user)
    response = client.post(
        "/admin/users/user/",
        {"action": "deactivate", "_selected_action": [str(tokens.user.pk)]},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert bearer(tokens).get("/api/v1/me").json()["code"] == "session_revoked"
    assert not User.objects.get(pk=tokens.user.pk).is_active
    client.post(
        "/admin/users/user/",
        {"action": "reactivate", "_selected_action": [str(tokens.user.pk)]},
    )
    assert User.objects.get(pk=tokens.user.pk).is_active
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {"user_deactivated", "user_reactivated"} <= types


def test_unticking_active_on_the_user_page_signs_the_user_out(client, admin_user, tokens):
    client.force_login(admin_user)
    page = client.get(f"/admin/users/user/{tokens.user.pk}/change/")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        email=tokens.user.email,
        is_active="",
        date_joined_0=tokens.user.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=tokens.user.date_joined.strftime("%H:%M:%S"),
        **{"login_sessions-TOTAL_FORMS": "1", "login_sessions-INITIAL_FORMS": "1"},
        **{
            "login_sessions-0-id": str(tokens.session.pk),
            "login_sessions-0-user": str(tokens.user.pk),
        },
    )
    data.pop("is_active")
    data.pop("groups", None)
    data.pop("user_permissions", None)
    data.pop("password", None)
    response = client.post(f"/admin/users/user/{tokens.user.pk}/change/", data)
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].form.errors
    assert not User.objects.get(pk=tokens.user.pk).is_active
    assert bearer(tokens).get("/api/v1/me").json()["code"] == "session_revoked"


@pytest.mark.usefixtures("window_start")
def test_guessing_the_password_with_a_session_is_throttled_like_sign_in(auth_client, password):
    for _ in range(5):
        response = auth_client.post(
            "/api/v1/auth/reauthenticate", {"password": "guess"}, format="json"
        )
        assert response.json()["code"] == "invalid_password"
    response = auth_client.post(
        "/api/v1/auth/reauthenticate", {"password": password}, format="json"
    )
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["code"] == "login_throttled"


def test_a_wrong_current_password_is_recorded(auth_client):
    auth_client.post(
        "/api/v1/me/password",
        {"current_password": "wrong", "new_password": "a fresh new passphrase"},
        format="json",
    )
    assert AuditEvent.objects.filter(type=AuditEvent.Type.REAUTHENTICATION_FAILED).count() == 1


def test_reset_codes_sent_to_the_old_address_die_with_the_change(
    api_client, auth_client, smtp_mailer
):
    api_client.post("/api/v1/auth/password/forgot", {"email": "ada@example.com"}, format="json")
    reset_code = code_in_mail(smtp_mailer.messages[0])
    auth_client.post("/api/v1/me/email", {"email": "ada@new.example"}, format="json")
    change_code = code_in_mail(smtp_mailer.wait_for_messages(2, timeout=5)[1])
    auth_client.post("/api/v1/me/email/verify", {"code": change_code}, format="json")
    response = api_client.post(
        "/api/v1/auth/password/reset",
        {"email": "ada@example.com", "code": reset_code, "new_password": "a takeover passphrase"},
        format="json",
    )
    assert response.json()["code"] == "code_invalid"
    assert User.objects.get(email="ada@new.example").check_password("correct horse battery staple")


def test_signing_out_while_the_cache_is_down_is_a_503(
    auth_client, tokens, unreachable_cache, settings
):
    settings.KEYHOUSE_JWT_CHECK_REVOCATION = False  # so that the request reaches the revocation
    session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    response = auth_client.post("/api/v1/auth/logout", {"scope": "others"}, format="json")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert not LoginSession.objects.filter(revoked_at__isnull=False).exists()
