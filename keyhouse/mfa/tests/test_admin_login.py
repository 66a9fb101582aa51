"""The admin site's login asks an account with a second factor for it, as the API does."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import PASSWORD
from keyhouse.mfa.models import RecoveryCode
from keyhouse.mfa.tests.conftest import STEP, STEP_START, login, verify
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

NOW = STEP_START.timestamp()
ADMIN_LOGIN = "/admin/login/?next=/admin/"
INVALID_LOGIN = b"Please enter the correct email address and password for a staff account"
CODE_MISSING = b"Enter the code from your authenticator app"


@pytest.fixture
def staff(enrolled, verified_user):
    """Ada, a staff member with a confirmed authenticator app."""
    User.objects.filter(pk=verified_user.pk).update(is_staff=True, is_superuser=True)
    return enrolled


def admin_login(browser: Client, *, code: str | None = None, password: str = PASSWORD):
    data = {"username": "ada@example.com", "password": password}
    if code is not None:
        data["code"] = code
    return browser.post(ADMIN_LOGIN, data)


def signed_in(browser: Client) -> bool:
    return browser.get("/admin/users/user/").status_code == HTTPStatus.OK


def events(type: str, **detail: str):
    return AuditEvent.objects.filter(type=type, **{f"detail__{k}": v for k, v in detail.items()})


def test_the_login_page_has_a_field_for_the_code(client):
    response = client.get(ADMIN_LOGIN)
    assert response.status_code == HTTPStatus.OK
    assert b'name="code"' in response.content
    assert b"Authenticator code" in response.content


def test_a_password_alone_does_not_open_the_admin_to_an_account_with_a_factor(staff):
    browser = Client()
    response = admin_login(browser)
    assert response.status_code == HTTPStatus.OK
    assert CODE_MISSING in response.content
    assert not signed_in(browser)
    assert not events(AuditEvent.Type.LOGIN_SUCCEEDED).exists()
    assert events(AuditEvent.Type.MFA_CHALLENGE_ISSUED, site="admin").count() == 1


def test_a_wrong_password_with_a_code_gets_the_generic_error(staff):
    response = admin_login(Client(), password="wrong-password", code=staff.code(NOW))
    assert INVALID_LOGIN in response.content
    assert CODE_MISSING not in response.content


def test_the_password_and_a_new_code_open_the_admin_once(staff, clock, settings):
    settings.KEYHOUSE_MFA_POLICY = "required_for_staff"
    clock.shift(STEP)
    code = staff.code(NOW + STEP)
    browser = Client()
    assert admin_login(browser, code=code).status_code == HTTPStatus.FOUND
    assert signed_in(browser)
    event = events(AuditEvent.Type.LOGIN_SUCCEEDED, site="admin").get()
    assert event.detail["method"] == "pwd+otp+totp+mfa"
    # The same code is spent: a replay fails like a wrong password.
    replay = Client()
    response = admin_login(replay, code=code)
    assert INVALID_LOGIN in response.content
    assert not signed_in(replay)
    assert events(AuditEvent.Type.MFA_CHALLENGE_FAILED, during="admin").count() == 1


def test_a_wrong_code_fails_like_a_wrong_password_and_is_recorded(staff):
    browser = Client()
    response = admin_login(browser, code=staff.wrong_code(NOW))
    assert response.status_code == HTTPStatus.OK
    assert INVALID_LOGIN in response.content
    assert not signed_in(browser)
    failed = events(AuditEvent.Type.MFA_CHALLENGE_FAILED, during="admin").get()
    assert failed.detail["reason"] == "mfa_code_invalid"


def test_a_recovery_code_opens_the_admin_once(staff, mailoutbox):
    recovery = staff.recovery_codes[0].lower()
    browser = Client()
    assert admin_login(browser, code=recovery).status_code == HTTPStatus.FOUND
    assert signed_in(browser)
    assert RecoveryCode.objects.filter(used_at__isnull=False).count() == 1
    assert events(AuditEvent.Type.RECOVERY_CODE_USED).count() == 1
    again = Client()
    assert INVALID_LOGIN in admin_login(again, code=recovery).content
    assert not signed_in(again)
    failed = events(AuditEvent.Type.MFA_CHALLENGE_FAILED, during="admin").get()
    assert failed.detail["reason"] == "recovery_code_invalid"


def test_codes_count_on_the_failure_throttle_and_a_right_password_does_not_reset_it(staff, clock):
    """Five tries per account and IP in 15 minutes; a submission with a code is two."""
    wrong = staff.wrong_code(NOW)
    for _ in range(2):
        assert INVALID_LOGIN in admin_login(Client(), code=wrong).content
    clock.shift(STEP)
    browser = Client()
    response = admin_login(browser, code=staff.code(NOW + STEP))
    assert b"Too many failed sign-ins" in response.content
    assert not signed_in(browser)


def test_a_refused_admin_login_does_not_reset_the_second_factor_throttle(enrolled):
    """A right password on an account without staff access clears no failure counters."""
    challenge = login()["mfa_token"]
    code = enrolled.wrong_code(NOW)
    wrong = {"mfa_token": challenge, "factor_id": enrolled.factor_id, "code": code}
    for _ in range(3):
        status, problem = verify(wrong)
        assert (status, problem["code"]) == (HTTPStatus.BAD_REQUEST, "mfa_code_invalid")
    assert INVALID_LOGIN in admin_login(Client()).content  # the fifth try
    response = APIClient().post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["code"] == "login_throttled"


@pytest.mark.parametrize("policy", ["required_for_staff", "required"])
def test_the_policy_keeps_a_staff_account_without_a_factor_out(verified_user, settings, policy):
    settings.KEYHOUSE_MFA_POLICY = policy
    User.objects.filter(pk=verified_user.pk).update(is_staff=True, is_superuser=True)
    browser = Client()
    response = admin_login(browser)
    assert response.status_code == HTTPStatus.OK
    assert b"enrol an authenticator app through the API" in response.content
    assert not signed_in(browser)
    refused = events(AuditEvent.Type.LOGIN_FAILED, site="admin").get()
    assert refused.detail["reason"] == "mfa_enrollment_required"


def test_without_the_policy_a_staff_account_without_a_factor_signs_in(verified_user):
    User.objects.filter(pk=verified_user.pk).update(is_staff=True, is_superuser=True)
    browser = Client()
    assert admin_login(browser).status_code == HTTPStatus.FOUND
    assert signed_in(browser)
