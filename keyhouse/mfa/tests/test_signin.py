"""The sign-in challenge, recovery codes, assurance in tokens, step-up and the policy."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import CLIENT, PASSWORD
from keyhouse.mfa.models import MfaChallenge, RecoveryCode
from keyhouse.mfa.tests.conftest import STEP, STEP_START, enrol, login, verify
from keyhouse.testing import bearer_client as bearer
from keyhouse.testing import code_in_sms
from keyhouse.testing import token_claims as claims
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import session_start
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

NOW = STEP_START.timestamp()


def test_a_password_sign_in_is_challenged_and_a_totp_code_finishes_it(enrolled, clock):
    challenge = login()
    assert set(challenge) == {
        "mfa_required",
        "mfa_token",
        "expires_in",
        "factors",
        "recovery_code",
        "passkey",
    }
    assert challenge["passkey"] is False
    assert challenge["mfa_required"] is True
    assert challenge["expires_in"] == 300
    assert challenge["factors"] == [{"id": enrolled.factor_id, "type": "totp", "name": "Phone"}]
    assert not MfaChallenge.objects.filter(token_hash=challenge["mfa_token"]).exists()
    clock.shift(STEP)
    status, pair = verify(
        {
            "mfa_token": challenge["mfa_token"],
            "factor_id": enrolled.factor_id,
            "code": enrolled.code(NOW + STEP),
        }
    )
    assert status == HTTPStatus.OK, pair
    token = claims(pair["access_token"])
    assert token["aal"] == "aal2"
    assert token["amr"] == ["pwd", "otp", "totp", "mfa"]
    assert token["auth_time"] == int(NOW + STEP)
    assert LoginSession.objects.get(pk=token["sid"]).aal == "aal2"
    assert bearer(pair["access_token"]).get("/api/v1/me").status_code == HTTPStatus.OK
    refreshed = APIClient().post(
        "/api/v1/auth/token/refresh", {"refresh_token": pair["refresh_token"]}, format="json"
    )
    assert claims(refreshed.json()["access_token"])["aal"] == "aal2"
    types = list(AuditEvent.objects.values_list("type", flat=True).order_by("created_at"))
    assert types[-3:] == ["mfa_challenge_issued", "mfa_challenge_succeeded", "login_succeeded"]


def test_one_factor_tokens_say_aal1(tokens):
    token = claims(tokens.access_token)
    assert (token["aal"], token["amr"]) == ("aal1", ["pwd"])
    assert token["auth_time"] == int(NOW)


def test_a_recovery_code_finishes_a_sign_in_once(enrolled, mailoutbox):
    code = enrolled.recovery_codes[3]
    typed = f" {code.lower().replace('-', ' ')} "
    status, pair = verify({"mfa_token": login()["mfa_token"], "recovery_code": typed})
    assert status == HTTPStatus.OK, pair
    assert claims(pair["access_token"])["amr"] == ["pwd", "otp", "recovery_code", "mfa"]
    assert mailoutbox[-1].subject == "A recovery code was used on your Keyhouse account"
    assert "9 recovery codes left" in mailoutbox[-1].body
    assert AuditEvent.objects.get(type="recovery_code_used").detail == {"remaining": 9}
    me = bearer(pair["access_token"]).get("/api/v1/me/mfa").json()
    assert me["recovery_codes"] == {"remaining": 9}

    status, problem = verify({"mfa_token": login()["mfa_token"], "recovery_code": code})
    assert status == HTTPStatus.BAD_REQUEST
    assert problem["code"] == "recovery_code_invalid"
    assert problem["attempts_left"] == 4
    assert RecoveryCode.objects.filter(used_at__isnull=False).count() == 1


def test_an_answered_challenge_cannot_be_used_again(enrolled, clock):
    challenge = login()["mfa_token"]
    clock.shift(STEP)
    body = {"mfa_token": challenge, "factor_id": enrolled.factor_id}
    assert verify({**body, "code": enrolled.code(NOW + STEP)})[0] == HTTPStatus.OK
    clock.shift(STEP)
    status, problem = verify({**body, "code": enrolled.code(NOW + 2 * STEP)})
    assert (status, problem["code"]) == (HTTPStatus.UNAUTHORIZED, "mfa_token_used")
    assert LoginSession.objects.count() == 2  # the fixture's and the one sign-in


def test_a_challenge_expires_after_five_minutes(enrolled, clock):
    challenge = login()["mfa_token"]
    clock.shift(301)
    status, problem = verify(
        {
            "mfa_token": challenge,
            "factor_id": enrolled.factor_id,
            "code": enrolled.code(NOW + 301),
        }
    )
    assert (status, problem["code"]) == (HTTPStatus.UNAUTHORIZED, "mfa_token_expired")
    assert LoginSession.objects.count() == 1


def test_five_wrong_codes_end_the_challenge(enrolled, clock, settings):
    settings.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP = "50/15m"
    challenge = login()["mfa_token"]
    clock.shift(STEP)
    right = enrolled.code(NOW + STEP)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    body = {"mfa_token": challenge, "factor_id": enrolled.factor_id}
    for left in (4, 3, 2, 1, 0):
        status, problem = verify({**body, "code": wrong})
        assert (status, problem["code"]) == (HTTPStatus.BAD_REQUEST, "mfa_code_invalid")
        assert problem["attempts_left"] == left
    status, problem = verify({**body, "code": right})
    assert (status, problem["code"]) == (HTTPStatus.UNAUTHORIZED, "mfa_attempts_exhausted")
    assert AuditEvent.objects.filter(type="mfa_challenge_failed").count() == 5


def test_wrong_codes_count_toward_the_login_throttle(enrolled, clock):
    """Five tries per account and IP in 15 minutes: the sign-in's and four wrong codes."""
    challenge = login()["mfa_token"]
    wrong = enrolled.wrong_code(NOW)
    body = {"mfa_token": challenge, "factor_id": enrolled.factor_id, "code": wrong}
    for _ in range(4):
        assert verify(body)[0] == HTTPStatus.BAD_REQUEST
    response = APIClient().post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["code"] == "login_throttled"


def test_a_right_password_does_not_reset_the_counters_of_an_account_with_mfa(enrolled, clock):
    wrong = enrolled.wrong_code(NOW)
    for _ in range(2):
        challenge = login()["mfa_token"]
        body = {"mfa_token": challenge, "factor_id": enrolled.factor_id, "code": wrong}
        verify(body)
    # 2 sign-ins + 2 wrong codes; a third sign-in is the fifth try, the next code the sixth
    challenge = login()["mfa_token"]
    status, problem = verify({**body, "mfa_token": challenge})
    assert (status, problem["code"]) == (HTTPStatus.TOO_MANY_REQUESTS, "login_throttled")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"mfa_token": "made-up", "factor_id": None, "code": "123456"}, 401, "mfa_token_invalid"),
        ({"factor_id": None, "code": "123456"}, 400, "validation_error"),
        ({"mfa_token": None, "code": "123456"}, 400, "validation_error"),
        ({"mfa_token": None, "factor_id": None}, 400, "validation_error"),
        ({"mfa_token": None, "factor_id": None, "code": "12345"}, 400, "validation_error"),
        ({"mfa_token": None, "factor_id": None, "code": 123456}, 400, "validation_error"),
        ({"mfa_token": None, "factor_id": "nope", "code": "123456"}, 400, "validation_error"),
        ({"mfa_token": None, "recovery_code": "ABCD"}, 400, "validation_error"),
        ({"mfa_token": None, "recovery_code": "ABCDE-FGHI0"}, 400, "validation_error"),
        (
            {"mfa_token": None, "factor_id": None, "code": "123456", "recovery_code": "x"},
            400,
            "validation_error",
        ),
    ],
)
def test_bad_answers_are_refused_and_spend_nothing(enrolled, body, status, code):
    challenge = login()["mfa_token"]
    filled = {
        key: (challenge if key == "mfa_token" else enrolled.factor_id) if value is None else value
        for key, value in body.items()
    }
    got, problem = verify(filled)
    assert (got, problem["code"]) == (status, code)
    row = MfaChallenge.objects.get()
    assert row.used_at is None
    assert RecoveryCode.objects.filter(used_at__isnull=False).count() == 0


def test_a_factor_of_another_account_is_not_found(enrolled, clock, verified_user):
    eve = User.objects.create_user("eve@example.com", "another long passphrase")
    eve.email_verified_at = timezone.now()
    eve.save()
    eve_client = bearer(session_start(user=eve, amr=["pwd"], client=CLIENT).access_token)
    eves = enrol(eve_client, now=NOW)
    challenge = login()["mfa_token"]
    clock.shift(STEP)
    status, problem = verify(
        {"mfa_token": challenge, "factor_id": eves.factor_id, "code": eves.code(NOW + STEP)}
    )
    assert (status, problem["code"]) == (HTTPStatus.NOT_FOUND, "mfa_factor_not_found")
    assert MfaChallenge.objects.get().used_at is None


def test_a_phone_sign_in_is_challenged(enrolled, clock, sms_outbox, verified_user):
    User.objects.filter(pk=verified_user.pk).update(
        phone="+14155550100", phone_verified_at=timezone.now()
    )
    client = APIClient()
    client.post("/api/v1/auth/phone/send-code", {"phone": "+14155550100"}, format="json")
    response = client.post(
        "/api/v1/auth/phone/verify",
        {"phone": "+14155550100", "code": code_in_sms(sms_outbox[-1])},
        format="json",
    )
    challenge = response.json()
    assert challenge["mfa_required"] is True
    assert "access_token" not in challenge
    clock.shift(STEP)
    status, pair = verify(
        {
            "mfa_token": challenge["mfa_token"],
            "factor_id": enrolled.factor_id,
            "code": enrolled.code(NOW + STEP),
        }
    )
    assert status == HTTPStatus.OK
    assert claims(pair["access_token"])["amr"] == ["sms", "otp", "totp", "mfa"]


def test_an_email_code_sign_in_creates_an_account_with_one_factor_tokens(clock, mailoutbox, db):
    """The code of a sign-up makes the account, which has no second factor yet: tokens
    at aal1, no challenge."""
    APIClient().post(
        "/api/v1/auth/signup",
        {"email": "ada@example.com", "password": "a long and unusual passphrase"},
        format="json",
    )
    response = APIClient().post(
        "/api/v1/auth/email/verify",
        {"email": "ada@example.com", "code": re.search(r"\b(\d{6})\b", mailoutbox[0].body)[1]},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    token = claims(response.json()["access_token"])
    assert (token["aal"], token["amr"], token["auth_time"]) == ("aal1", ["otp"], int(NOW))
    assert not MfaChallenge.objects.exists()


@pytest.fixture
def one_factor_session(enrolled, verified_user):
    """A recent aal1 session on an account with a factor (say, from before it was added)."""
    return session_start(user=verified_user, amr=["pwd"], client=CLIENT)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/me/email", {"email": "new@example.com"}),
        ("post", "/api/v1/me/phone", {"phone": "+14155550100"}),
        ("post", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": "x" * 20}),
        ("delete", "/api/v1/me", None),
        ("delete", "/api/v1/me/mfa/{factor}", None),
        ("post", "/api/v1/me/mfa/recovery-codes", None),
        ("post", "/api/v1/me/mfa/totp", {}),
    ],
)
def test_sensitive_operations_need_aal2_on_an_account_with_a_factor(
    one_factor_session, enrolled, method, path, body
):
    client = bearer(one_factor_session.access_token)
    response = getattr(client, method)(path.format(factor=enrolled.factor_id), body, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "aal2_required"
    assert User.objects.get().check_password(PASSWORD)


def test_a_totp_code_steps_a_session_up_to_aal2(one_factor_session, enrolled, clock):
    client = bearer(one_factor_session.access_token)
    clock.shift(STEP)
    response = client.post(
        "/api/v1/auth/reauthenticate", {"totp_code": enrolled.code(NOW + STEP)}, format="json"
    )
    assert response.status_code == HTTPStatus.NO_CONTENT
    session = LoginSession.objects.get(pk=one_factor_session.session.pk)
    assert (session.aal, session.amr) == ("aal2", ["pwd", "otp", "totp", "mfa"])
    assert client.delete(f"/api/v1/me/mfa/{enrolled.factor_id}").status_code == 204
    refreshed = APIClient().post(
        "/api/v1/auth/token/refresh",
        {"refresh_token": one_factor_session.refresh_token},
        format="json",
    )
    assert claims(refreshed.json()["access_token"])["aal"] == "aal2"


def test_a_code_used_once_does_not_step_up_again(one_factor_session, enrolled, verified_user):
    """The code that confirmed the factor (this very step) is spent."""
    client = bearer(one_factor_session.access_token)
    response = client.post(
        "/api/v1/auth/reauthenticate", {"totp_code": enrolled.code(NOW)}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "mfa_code_invalid"
    assert LoginSession.objects.get(pk=one_factor_session.session.pk).aal == "aal1"


def test_regenerating_recovery_codes_replaces_them(auth_client, enrolled):
    response = auth_client.post("/api/v1/me/mfa/recovery-codes")
    assert response.status_code == HTTPStatus.CREATED
    codes = response.json()["recovery_codes"]
    assert len(codes) == 10
    assert not set(codes) & set(enrolled.recovery_codes)
    old = enrolled.recovery_codes[0]
    status, _ = verify({"mfa_token": login()["mfa_token"], "recovery_code": old})
    assert status == HTTPStatus.BAD_REQUEST
    status, _ = verify({"mfa_token": login()["mfa_token"], "recovery_code": codes[0]})
    assert status == HTTPStatus.OK


def test_recovery_codes_need_a_factor(auth_client, tokens):
    response = auth_client.post("/api/v1/me/mfa/recovery-codes")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "mfa_not_enabled"


def test_the_required_policy_lets_a_session_without_factor_enrol_only(
    auth_client, tokens, settings
):
    settings.KEYHOUSE_MFA_POLICY = "required"
    response = auth_client.get("/api/v1/me/sessions")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "mfa_enrollment_required"
    assert auth_client.get("/api/v1/me").status_code == HTTPStatus.OK
    enrol(auth_client, now=NOW)
    assert auth_client.get("/api/v1/me/sessions").status_code == HTTPStatus.OK


@pytest.mark.parametrize(("staff", "status"), [(False, 200), (True, 403)])
def test_the_staff_policy_covers_staff_only(auth_client, tokens, settings, staff, status):
    settings.KEYHOUSE_MFA_POLICY = "required_for_staff"
    User.objects.update(is_staff=staff)
    assert auth_client.get("/api/v1/me/sessions").status_code == status


def test_the_verify_endpoint_is_rate_limited(enrolled, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "mfa_verify": "2/m/ip"}
    for _ in range(2):
        verify({"mfa_token": "x", "recovery_code": "ABCDE-FGHJK"})
    status, problem = verify({"mfa_token": "x", "recovery_code": "ABCDE-FGHJK"})
    assert (status, problem["code"]) == (HTTPStatus.TOO_MANY_REQUESTS, "rate_limited")


def test_an_account_deactivated_during_the_challenge_gets_no_session(enrolled, clock):
    challenge = login()["mfa_token"]
    User.objects.update(is_active=False)
    clock.shift(STEP)
    status, problem = verify(
        {
            "mfa_token": challenge,
            "factor_id": enrolled.factor_id,
            "code": enrolled.code(NOW + STEP),
        }
    )
    assert (status, problem["code"]) == (HTTPStatus.UNAUTHORIZED, "mfa_token_invalid")
    assert LoginSession.objects.count() == 1


def test_an_authenticator_code_needs_an_authenticator(auth_client, tokens):
    response = auth_client.post(
        "/api/v1/auth/reauthenticate", {"totp_code": "123456"}, format="json"
    )
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "mfa_not_enabled"
    assert LoginSession.objects.get(pk=tokens.session.pk).aal == "aal1"
