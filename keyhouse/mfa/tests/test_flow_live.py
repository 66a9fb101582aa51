"""The whole MFA flow over HTTP against a gunicorn process, as an app and its user go."""

from __future__ import annotations

import time
from http import HTTPStatus

import jwt as pyjwt
import pyotp
import pytest
from django.conf import settings

from keyhouse.conftest import PASSWORD
from keyhouse.delivery.testing import WAIT_SECONDS, free_port
from keyhouse.testing import call_api, gunicorn_server, service_env

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(base: str) -> dict:
    status, body = call_api(
        base, "POST", "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}
    )
    assert status == HTTPStatus.OK, body
    return body


def test_enrol_confirm_and_sign_in_with_totp_then_a_recovery_code(
    verified_user, smtp_server, tmp_path
):
    overrides = {"EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}"}
    if settings.REDIS_URL:
        overrides |= {"REDIS_URL": settings.REDIS_URL, "CACHE_KEY_PREFIX": f"mfa-{time.time_ns()}"}
    env = service_env(**overrides)
    with gunicorn_server(port=free_port(), env=env, log=tmp_path / "server.log") as base:
        pair = sign_in(base)
        token = pair["access_token"]

        # Enrol: the app reads the otpauth:// URI from the QR code and shows codes.
        status, enrolment = call_api(
            base, "POST", "/api/v1/me/mfa/totp", {"name": "Phone"}, token=token
        )
        assert status == HTTPStatus.CREATED, enrolment
        app = pyotp.parse_uri(enrolment["otpauth_uri"])
        factor = enrolment["factor"]["id"]
        status, confirmed = call_api(
            base,
            "POST",
            f"/api/v1/me/mfa/totp/{factor}/confirm",
            {"code": app.now()},
            token=token,
        )
        assert status == HTTPStatus.OK, confirmed
        recovery_codes = confirmed["recovery_codes"]
        assert len(recovery_codes) == 10
        status, _ = call_api(base, "POST", "/api/v1/auth/logout", {}, token=token)
        assert status == HTTPStatus.NO_CONTENT

        # Sign in: the password gets a challenge; the app's next code answers it (the
        # current one was spent on the confirmation, and the next is within tolerance).
        challenge = sign_in(base)
        assert challenge["mfa_required"] is True
        assert "access_token" not in challenge
        status, pair = call_api(
            base,
            "POST",
            "/api/v1/auth/mfa/verify",
            {
                "mfa_token": challenge["mfa_token"],
                "factor_id": factor,
                "code": app.at(time.time() + 30),
            },
        )
        assert status == HTTPStatus.OK, pair
        claims = pyjwt.decode(pair["access_token"], options={"verify_signature": False})
        assert claims["aal"] == "aal2"
        assert claims["amr"] == ["pwd", "otp", "totp", "mfa"]
        call_api(base, "POST", "/api/v1/auth/logout", {}, token=pair["access_token"])

        # A lost phone: a recovery code, typed loosely, answers instead, once.
        challenge = sign_in(base)
        typed = recovery_codes[0].lower().replace("-", " ")
        body = {"mfa_token": challenge["mfa_token"], "recovery_code": typed}
        status, pair = call_api(base, "POST", "/api/v1/auth/mfa/verify", body)
        assert status == HTTPStatus.OK, pair
        claims = pyjwt.decode(pair["access_token"], options={"verify_signature": False})
        assert claims["amr"] == ["pwd", "otp", "recovery_code", "mfa"]
        status, me = call_api(base, "GET", "/api/v1/me/mfa", token=pair["access_token"])
        assert me["recovery_codes"] == {"remaining": 9}
        subjects = [m["Subject"] for m in smtp_server.wait_for_messages(2, timeout=WAIT_SECONDS)]
        assert subjects == [
            "A sign-in app was added to your Keyhouse account",
            "A recovery code was used on your Keyhouse account",
        ]

        body["mfa_token"] = sign_in(base)["mfa_token"]
        status, problem = call_api(base, "POST", "/api/v1/auth/mfa/verify", body)
        assert (status, problem["code"]) == (HTTPStatus.BAD_REQUEST, "recovery_code_invalid")
