"""Enrolling, confirming, listing and removing authenticator apps."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from io import StringIO

import pyotp
import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import CLIENT
from keyhouse.mfa.models import MfaChallenge, RecoveryCode, TotpFactor
from keyhouse.mfa.services.recovery import ALPHABET
from keyhouse.mfa.tests.conftest import STEP, STEP_START, enrol
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import session_start
from keyhouse.users.services import user_create

pytestmark = pytest.mark.django_db(transaction=True)

NOW = STEP_START.timestamp()


def test_enrolment_hands_out_the_seed_its_uri_and_a_qr_code_once(auth_client, tokens):
    response = auth_client.post("/api/v1/me/mfa/totp", {"name": "Work phone"}, format="json")
    assert response.status_code == HTTPStatus.CREATED
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    totp = pyotp.parse_uri(body["otpauth_uri"])
    assert (totp.name, totp.issuer, totp.digits, totp.interval) == (
        "ada@example.com",
        "Keyhouse",
        6,
        30,
    )
    assert len(body["secret"]) == 32  # 160 bits of base32
    assert body["qr_svg"].startswith("<svg")
    assert body["qr_svg"].rstrip().endswith("</svg>")
    assert body["factor"]["status"] == "pending"
    assert body["expires_in"] == 600
    stored = TotpFactor.objects.get()
    assert stored.name == "Work phone"
    assert body["secret"] not in stored.secret
    assert auth_client.get("/api/v1/me/mfa").json() == {
        "enabled": False,
        "factors": [body["factor"]],
        "recovery_codes": {"remaining": 0},
    }
    assert AuditEvent.objects.filter(type=AuditEvent.Type.MFA_FACTOR_ENROLLED).count() == 1


def test_confirming_turns_mfa_on_with_ten_recovery_codes(auth_client, tokens, mailoutbox):
    enrolled = enrol(auth_client, now=NOW)
    assert len(enrolled.recovery_codes) == 10
    assert len(set(enrolled.recovery_codes)) == 10
    for code in enrolled.recovery_codes:
        assert len(code) == 11
        assert code[5] == "-"
        assert set(code.replace("-", "")) <= set(ALPHABET)
    assert not RecoveryCode.objects.filter(code_hash__in=enrolled.recovery_codes).exists()
    status = auth_client.get("/api/v1/me/mfa").json()
    assert status["enabled"] is True
    assert status["factors"][0]["status"] == "confirmed"
    assert status["recovery_codes"] == {"remaining": 10}
    session = LoginSession.objects.get(pk=tokens.session.pk)
    assert session.aal == "aal2"
    assert session.amr == ["pwd", "otp", "totp", "mfa"]
    assert [m.subject for m in mailoutbox] == ["A sign-in app was added to your Keyhouse account"]
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {
        AuditEvent.Type.MFA_FACTOR_CONFIRMED,
        AuditEvent.Type.RECOVERY_CODES_GENERATED,
    } <= types


def test_a_second_factor_brings_no_new_recovery_codes(auth_client, tokens, clock):
    enrol(auth_client, now=NOW)
    second = enrol(auth_client, now=NOW, name="Tablet")
    assert second.recovery_codes is None
    assert RecoveryCode.objects.count() == 10


def test_the_first_factor_ends_the_other_one_factor_sessions(auth_client, tokens, verified_user):
    other = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    stronger = session_start(user=verified_user, amr=["pwd"], client=CLIENT, aal="aal2")
    enrol(auth_client, now=NOW)
    ended = set(LoginSession.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True))
    assert ended == {other.session.pk}
    assert LoginSession.objects.get(pk=other.session.pk).revoke_reason == "mfa_enabled"
    assert LoginSession.objects.get(pk=stronger.session.pk).revoked_at is None
    assert auth_client.get("/api/v1/me").status_code == HTTPStatus.OK


def test_enrolment_needs_a_recent_authentication(auth_client, tokens):
    LoginSession.objects.filter(pk=tokens.session.pk).update(
        authenticated_at=tokens.session.authenticated_at.replace(year=2000)
    )
    response = auth_client.post("/api/v1/me/mfa/totp", {}, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "reauthentication_required"
    assert not TotpFactor.objects.exists()


def _pending(auth_client) -> dict:
    return auth_client.post("/api/v1/me/mfa/totp", {}, format="json").json()


def _confirm(auth_client, factor_id, code):
    return auth_client.post(
        f"/api/v1/me/mfa/totp/{factor_id}/confirm", {"code": code}, format="json"
    )


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("12345", "validation_error"),
        ("1234567", "validation_error"),
        ("12345a", "validation_error"),
        (123456, "validation_error"),
        (None, "validation_error"),
    ],
)
def test_a_malformed_code_is_refused_and_changes_nothing(auth_client, tokens, code, error):
    pending = _pending(auth_client)
    response = _confirm(auth_client, pending["factor"]["id"], code)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == error
    assert "code" in response.json()["errors"]
    factor = TotpFactor.objects.get()
    assert (factor.confirmed_at, factor.last_step) == (None, 0)


def test_a_wrong_code_leaves_the_factor_pending(auth_client, tokens):
    pending = _pending(auth_client)
    right = pyotp.TOTP(pending["secret"]).at(NOW)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    response = _confirm(auth_client, pending["factor"]["id"], wrong)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "mfa_code_invalid"
    assert TotpFactor.objects.get().confirmed_at is None
    assert LoginSession.objects.get(pk=tokens.session.pk).aal == "aal1"
    assert AuditEvent.objects.filter(
        type=AuditEvent.Type.MFA_CHALLENGE_FAILED, detail__during="confirm"
    ).exists()


def test_a_confirmed_factor_cannot_be_confirmed_again(auth_client, tokens, clock):
    enrolled = enrol(auth_client, now=NOW)
    clock.shift(STEP)
    response = _confirm(auth_client, enrolled.factor_id, enrolled.code(NOW + STEP))
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "mfa_factor_already_confirmed"
    assert TotpFactor.objects.get().last_step == NOW // STEP


def test_a_pending_factor_expires_after_ten_minutes(auth_client, tokens, clock):
    pending = _pending(auth_client)
    clock.shift(601)
    code = pyotp.TOTP(pending["secret"]).at(NOW + 601)
    response = _confirm(auth_client, pending["factor"]["id"], code)
    assert response.status_code == HTTPStatus.GONE
    assert response.json()["code"] == "mfa_factor_expired"
    assert TotpFactor.objects.get().confirmed_at is None
    assert auth_client.get("/api/v1/me/mfa").json()["factors"] == []


def test_another_users_factor_is_not_found(auth_client, tokens):
    stranger = user_create(email="eve@example.com", password="another long passphrase")
    theirs = session_start(user=stranger, amr=["pwd"], client=CLIENT)
    eve = APIClient()
    eve.credentials(HTTP_AUTHORIZATION=f"Bearer {theirs.access_token}")
    pending = _pending(eve)
    factor_id = pending["factor"]["id"]
    code = pyotp.TOTP(pending["secret"]).at(NOW)
    for response in (
        _confirm(auth_client, factor_id, code),
        auth_client.delete(f"/api/v1/me/mfa/{factor_id}"),
        _confirm(auth_client, "not-a-uuid", code),
        auth_client.delete("/api/v1/me/mfa/not-a-uuid"),
    ):
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert response.json()["code"] == "mfa_factor_not_found"
    assert TotpFactor.objects.get().confirmed_at is None


def test_an_account_has_at_most_five_factors(auth_client, tokens, clock):
    for _ in range(5):
        _pending(auth_client)
    response = auth_client.post("/api/v1/me/mfa/totp", {}, format="json")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "mfa_factor_limit"
    assert TotpFactor.objects.count() == 5
    clock.shift(601)  # pending factors expire, and stop counting
    LoginSession.objects.filter(pk=tokens.session.pk).update(authenticated_at=timezone.now())
    assert auth_client.post("/api/v1/me/mfa/totp", {}, format="json").status_code == 201
    assert TotpFactor.objects.count() == 1


def test_removing_the_last_factor_turns_mfa_off(auth_client, tokens, mailoutbox):
    enrolled = enrol(auth_client, now=NOW)
    response = auth_client.delete(f"/api/v1/me/mfa/{enrolled.factor_id}")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not TotpFactor.objects.exists()
    assert not RecoveryCode.objects.exists()
    assert mailoutbox[-1].subject == "A sign-in app was removed from your Keyhouse account"
    assert AuditEvent.objects.filter(type=AuditEvent.Type.MFA_FACTOR_REMOVED).exists()
    assert (
        "access_token"
        in APIClient()
        .post(
            "/api/v1/auth/login",
            {"email": "ada@example.com", "password": "correct horse battery staple"},
            format="json",
        )
        .json()
    )


def test_the_events_show_in_the_users_own_trail(auth_client, tokens):
    enrol(auth_client, now=NOW)
    types = {event["type"] for event in auth_client.get("/api/v1/me/events").json()}
    assert {"mfa_factor_enrolled", "mfa_factor_confirmed", "recovery_codes_generated"} <= types


def test_enrolment_is_rate_limited(auth_client, tokens, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "mfa_enrol": "2/m/user"}
    for _ in range(2):
        assert auth_client.post("/api/v1/me/mfa/totp", {}, format="json").status_code == 201
    response = auth_client.post("/api/v1/me/mfa/totp", {}, format="json")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response["Retry-After"]


def test_purging_removes_spent_challenges_and_abandoned_factors(auth_client, tokens, clock):
    enrolled = enrol(auth_client, now=NOW)
    _pending(auth_client)
    APIClient().post(
        "/api/v1/auth/login",
        {"email": "ada@example.com", "password": "correct horse battery staple"},
        format="json",
    )
    clock.shift(601)
    call_command("purge_expired", stdout=StringIO())
    assert list(TotpFactor.objects.values_list("pk", flat=True)) == [uuid.UUID(enrolled.factor_id)]
    assert not MfaChallenge.objects.exists()
