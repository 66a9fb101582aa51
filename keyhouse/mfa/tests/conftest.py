from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus

import pyotp
import pytest
import time_machine
from rest_framework.test import APIClient

from keyhouse.conftest import CLIENT, PASSWORD
from keyhouse.tokens.services import TokenPair, session_start

# A time-step boundary: 2030-01-07 10:00:00 UTC is a multiple of 30 seconds.
STEP_START = datetime(2030, 1, 7, 10, 0, 0, tzinfo=UTC)
STEP = 30


@dataclass
class Enrolled:
    factor_id: str
    secret: str
    recovery_codes: list[str]

    def code(self, at: float) -> str:
        """The code an authenticator app shows at ``at`` (a POSIX time)."""
        return pyotp.TOTP(self.secret).at(at)

    def wrong_code(self, at: float) -> str:
        """A code that no step accepted around ``at`` (one before, one after) shows."""
        right = {self.code(at + shift) for shift in (-STEP, 0, STEP)}
        return next(code for code in ("000000", "111111", "222222", "333333") if code not in right)


@pytest.fixture
def clock():
    """Stop the clock at the start of a time-step; tests move it along with ``shift``."""
    with time_machine.travel(STEP_START, tick=False) as traveller:
        yield traveller


def enrol(client: APIClient, *, now: float, name: str = "Phone") -> Enrolled:
    """Enrol and confirm a factor through the API, as an app user would."""
    response = client.post("/api/v1/me/mfa/totp", {"name": name}, format="json")
    assert response.status_code == HTTPStatus.CREATED, response.json()
    body = response.json()
    secret = pyotp.parse_uri(body["otpauth_uri"]).secret
    assert secret == body["secret"]
    confirm = client.post(
        f"/api/v1/me/mfa/totp/{body['factor']['id']}/confirm",
        {"code": pyotp.TOTP(secret).at(now)},
        format="json",
    )
    assert confirm.status_code == HTTPStatus.OK, confirm.json()
    return Enrolled(body["factor"]["id"], secret, confirm.json()["recovery_codes"])


@pytest.fixture
def enrolled(clock, auth_client) -> Enrolled:
    return enrol(auth_client, now=STEP_START.timestamp())


def login(email: str = "ada@example.com", password: str = PASSWORD) -> dict:
    response = APIClient().post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == HTTPStatus.OK, response.json()
    return response.json()


def verify(body: dict) -> tuple[int, dict]:
    response = APIClient().post("/api/v1/auth/mfa/verify", body, format="json")
    return response.status_code, response.json()


@pytest.fixture
def tokens(clock, verified_user) -> TokenPair:
    """The signed-in session of the shared fixtures, started once the clock is stopped."""
    return session_start(user=verified_user, amr=["pwd"], client=CLIENT)
