from __future__ import annotations

import time
from http import HTTPStatus

import pytest
import time_machine
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.testing import code_in_mail, headers_but_request_id
from keyhouse.users.models import User

FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
NEW = "a brand new passphrase"

pytestmark = pytest.mark.django_db(transaction=True)


def forgot(api_client, email="ada@example.com"):
    return api_client.post(FORGOT, {"email": email}, format="json")


def reset(api_client, code, email="ada@example.com", new_password=NEW):
    return api_client.post(
        RESET, {"email": email, "code": code, "new_password": new_password}, format="json"
    )


def test_reset_sets_the_password_ends_every_session_and_notifies(
    api_client, smtp_mailer, tokens, password
):
    assert forgot(api_client, "ADA@example.com").status_code == HTTPStatus.ACCEPTED
    (message,) = smtp_mailer.messages
    assert "reset" in message["Subject"].lower()
    response = reset(api_client, code_in_mail(message))
    assert response.status_code == HTTPStatus.OK, response.content

    user = User.objects.get()
    assert user.check_password(NEW)
    old = APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}")
    assert old.get("/api/v1/me").json()["code"] == "session_revoked"
    refresh = api_client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": tokens.refresh_token}, format="json"
    )
    assert refresh.status_code == HTTPStatus.UNAUTHORIZED
    notice = smtp_mailer.wait_for_messages(2, timeout=5)[1]
    assert "password was changed" in notice["Subject"].lower()
    login = api_client.post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": NEW}, format="json"
    )
    assert login.status_code == HTTPStatus.OK
    assert AuditEvent.objects.filter(type=AuditEvent.Type.PASSWORD_RESET).count() == 1


def test_forgot_for_an_unknown_address_looks_exactly_the_same(
    api_client, smtp_mailer, verified_user
):
    known = forgot(api_client, "ada@example.com")
    unknown = forgot(api_client, "nobody@example.com")
    assert known.status_code == unknown.status_code == HTTPStatus.ACCEPTED
    assert known.content == unknown.content
    assert headers_but_request_id(known) == headers_but_request_id(unknown)
    assert [m["To"] for m in smtp_mailer.messages] == ["ada@example.com"]


def test_forgot_honours_the_cooldown_for_unknown_addresses_too(
    api_client, smtp_mailer, verified_user
):
    for email in ("ada@example.com", "nobody@example.com"):
        forgot(api_client, email)
        again = forgot(api_client, email)
        assert again.status_code == HTTPStatus.TOO_MANY_REQUESTS
        assert again.json()["code"] == "code_cooldown"


def test_a_reset_code_works_once(api_client, smtp_mailer, verified_user):
    forgot(api_client)
    code = code_in_mail(smtp_mailer.messages[0])
    assert reset(api_client, code).status_code == HTTPStatus.OK
    again = reset(api_client, code, new_password="yet another passphrase")
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert again.json()["code"] == "code_invalid"
    assert User.objects.get().check_password(NEW)


def test_a_reset_code_for_another_email_or_purpose_fails(api_client, smtp_mailer, verified_user):
    User.objects.create_user("bob@example.com", "bob's own passphrase")
    forgot(api_client)
    code = code_in_mail(smtp_mailer.messages[0])
    assert reset(api_client, code, email="bob@example.com").json()["code"] == "code_invalid"
    verify = api_client.post(
        "/api/v1/auth/email/verify", {"email": "ada@example.com", "code": code}, format="json"
    )
    assert verify.json()["code"] == "code_invalid"
    assert User.objects.get(email="bob@example.com").check_password("bob's own passphrase")


def test_an_expired_reset_code_fails(api_client, smtp_mailer, verified_user):
    forgot(api_client)
    code = code_in_mail(smtp_mailer.messages[0])
    with time_machine.travel(time.time() + 11 * 60, tick=False):
        assert reset(api_client, code).json()["code"] == "code_invalid"


def test_a_weak_new_password_is_refused_and_the_code_stays_usable(
    api_client, smtp_mailer, verified_user
):
    forgot(api_client)
    code = code_in_mail(smtp_mailer.messages[0])
    weak = reset(api_client, code, new_password="password")
    assert weak.status_code == HTTPStatus.BAD_REQUEST
    assert weak.json()["code"] == "validation_error"
    codes = {error["code"] for error in weak.json()["errors"]["new_password"]}
    assert "password_too_common" in codes
    assert reset(api_client, code).status_code == HTTPStatus.OK


def test_reset_verifies_an_unverified_address(api_client, smtp_mailer, user):
    forgot(api_client)
    assert reset(api_client, code_in_mail(smtp_mailer.messages[0])).status_code == HTTPStatus.OK
    assert User.objects.get().email_verified


def test_a_reset_of_a_verified_account_keeps_its_phone(api_client, smtp_mailer, verified_user):
    verified_user.phone = "+14155550100"
    verified_user.save(update_fields=["phone"])
    forgot(api_client)
    assert reset(api_client, code_in_mail(smtp_mailer.messages[0])).status_code == HTTPStatus.OK
    verified_user.refresh_from_db()
    assert verified_user.phone == "+14155550100"


def test_a_deactivated_account_gets_no_reset_code(api_client, smtp_mailer, verified_user):
    User.objects.filter(pk=verified_user.pk).update(is_active=False)
    assert forgot(api_client).status_code == HTTPStatus.ACCEPTED
    assert smtp_mailer.messages == []


def test_a_password_like_the_display_name_tells_nothing_about_the_account(
    api_client, smtp_mailer, verified_user
):
    User.objects.filter(pk=verified_user.pk).update(display_name="Grace Hopperton")
    answers = [
        reset(api_client, "123456", email=email, new_password="gracehopperton")
        for email in ("ada@example.com", "nobody@example.com")
    ]
    assert answers[0].json() == answers[1].json()


def login(api_client, password, ip):
    return api_client.post(
        "/api/v1/auth/login",
        {"email": "ada@example.com", "password": password},
        format="json",
        REMOTE_ADDR=ip,
    )


@pytest.mark.usefixtures("window_start")
def test_a_reset_clears_the_failed_sign_ins_from_every_ip(api_client, smtp_mailer, verified_user):
    for i in range(20):
        login(api_client, "wrong", ip=f"10.0.{i}.1")
    for _ in range(5):
        login(api_client, "wrong", ip="198.51.100.1")
    throttled = login(api_client, "wrong", ip="198.51.100.1")
    assert throttled.json()["code"] == "login_throttled"

    forgot(api_client)
    assert reset(api_client, code_in_mail(smtp_mailer.messages[0])).status_code == HTTPStatus.OK
    for ip in ("198.51.100.1", "10.0.0.1", "203.0.113.9"):
        assert login(api_client, NEW, ip=ip).status_code == HTTPStatus.OK


@pytest.mark.usefixtures("window_start")
def test_reset_requests_for_an_address_from_elsewhere_do_not_stop_its_owner(
    api_client, smtp_mailer, verified_user
):
    for i in range(12):
        response = api_client.post(
            RESET,
            {"email": "ada@example.com", "code": "000000", "new_password": NEW},
            format="json",
            REMOTE_ADDR=f"10.0.{i}.1",
        )
        assert response.json()["code"] == "code_invalid"
    forgot(api_client)
    assert reset(api_client, code_in_mail(smtp_mailer.messages[0])).status_code == HTTPStatus.OK
