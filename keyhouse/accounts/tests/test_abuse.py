"""Rate limits and login throttling."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.conf import settings as django_settings

from keyhouse.accounts.services.signin import (
    LoginThrottled,
    password_attempt_count,
    password_failures_clear,
)
from keyhouse.testing import call_api

LOGIN = "/api/v1/auth/login"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("window_start")]


def login(api_client, email, password, ip="198.51.100.1"):
    return api_client.post(
        LOGIN, {"email": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_login_is_limited_per_client_ip(api_client, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "login": "3/m/ip"}
    statuses = [login(api_client, f"u{i}@example.com", "x").status_code for i in range(4)]
    assert statuses == [HTTPStatus.UNAUTHORIZED] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]
    refused = login(api_client, "u9@example.com", "x")
    assert refused.json()["code"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["retry_after"] == int(refused["Retry-After"])
    assert login(api_client, "u9@example.com", "x", ip="198.51.100.2").status_code == 401


def test_requests_for_an_address_from_elsewhere_do_not_lock_its_owner_out(
    api_client, verified_user, password
):
    for i in range(12):
        assert login(api_client, verified_user.email, "wrong", ip=f"10.0.{i}.1").status_code == 401
    assert login(api_client, verified_user.email, password).status_code == HTTPStatus.OK


@pytest.mark.parametrize("action", ["email_verify", "password_reset", "phone_verify"])
def test_code_checks_are_limited_per_ip_by_default(action):
    assert django_settings.KEYHOUSE_RATE_LIMITS[action].endswith("/m/ip")


def test_a_target_rule_still_limits_login_per_email_when_configured(api_client, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "login": "2/m/target"}
    statuses = [
        login(api_client, " Ada@Example.com", "x", ip=f"198.51.100.{i}").status_code
        for i in range(3)
    ]
    assert statuses[-1] == HTTPStatus.TOO_MANY_REQUESTS


def test_a_target_rule_counts_valid_requests_by_the_canonical_address(api_client, settings):
    """Input that fails validation charges no address; every spelling of one shares it."""
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "email_verify": "2/m/target"}

    def verify(email, code="000000"):
        return api_client.post(
            "/api/v1/auth/email/verify", {"email": email, "code": code}, format="json"
        ).json()["code"]

    assert [verify("ada@example.com", code="0") for _ in range(3)] == ["validation_error"] * 3
    spellings = (" ADA@Example.com", "ada@EXAMPLE.com", "Ada@example.com")
    answers = [verify(email) for email in spellings]
    assert answers == ["code_invalid", "code_invalid", "rate_limited"]
    assert verify("grace@example.com") == "code_invalid"


@pytest.mark.parametrize(
    ("charset", "body"),
    [
        ("utf-8", rb'{"email": "\ud800", "password": "x"}'),
        # Charsets whose decoding turns an escape, or its own spelling, into the surrogate.
        ("unicode_escape", rb'{"email": "\ud800", "password": "x"}'),
        ("raw_unicode_escape", rb'{"email": "\ud800", "password": "x"}'),
        ("utf-7", b'{"email": "+2AA-", "password": "x"}'),
    ],
)
def test_a_target_rule_never_sees_an_address_that_is_not_unicode(
    api_client, settings, charset, body
):
    settings.KEYHOUSE_RATE_LIMITS = {
        **settings.KEYHOUSE_RATE_LIMITS,
        "login": "30/m/ip,10/m/target",
    }
    response = api_client.post(LOGIN, body, content_type=f"application/json; charset={charset}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "parse_error"


def test_failed_logins_block_the_account_from_that_ip_only(api_client, verified_user, password):
    for _ in range(5):
        assert login(api_client, verified_user.email, "wrong").status_code == 401
    blocked = login(api_client, verified_user.email, password)
    assert blocked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert blocked.json()["code"] == "login_throttled"
    assert int(blocked["Retry-After"]) <= 15 * 60
    elsewhere = login(api_client, verified_user.email, password, ip="203.0.113.50")
    assert elsewhere.status_code == HTTPStatus.OK
    with time_machine.travel(time.time() + 15 * 60 + 1, tick=False):
        assert login(api_client, verified_user.email, password).status_code == HTTPStatus.OK


def test_a_successful_login_clears_the_failures_from_every_ip(api_client, verified_user, password):
    for _ in range(5):
        login(api_client, verified_user.email, "wrong", ip="198.51.100.7")
    assert login(api_client, verified_user.email, password).status_code == HTTPStatus.OK
    assert login(api_client, verified_user.email, password, ip="198.51.100.7").status_code == 200


def test_a_successful_login_clears_the_failures(api_client, verified_user, password):
    for _ in range(4):
        login(api_client, verified_user.email, "wrong")
    assert login(api_client, verified_user.email, password).status_code == HTTPStatus.OK
    for _ in range(4):
        assert login(api_client, verified_user.email, "wrong").status_code == 401
    assert login(api_client, verified_user.email, password).status_code == HTTPStatus.OK


def test_failures_spread_over_many_ips_pause_the_account(
    api_client, verified_user, password, settings
):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "login": ""}
    for i in range(20):
        login(api_client, verified_user.email, "wrong", ip=f"10.0.{i}.1")
    blocked = login(api_client, verified_user.email, password, ip="203.0.113.99")
    assert blocked.json()["code"] == "login_throttled"


def test_throttling_an_unknown_address_looks_the_same(api_client, verified_user):
    answers = []
    for email in (verified_user.email, "nobody@example.com"):
        for _ in range(5):
            login(api_client, email, "wrong")
        answers.append(login(api_client, email, "wrong"))
    assert answers[0].status_code == answers[1].status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert answers[0].json()["code"] == answers[1].json()["code"] == "login_throttled"


def test_refresh_is_rate_limited(api_client, tokens, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "token_refresh": "1/m/ip"}
    url = "/api/v1/auth/token/refresh"
    first = api_client.post(url, {"refresh_token": tokens.refresh_token}, format="json")
    assert first.status_code == HTTPStatus.OK
    second = api_client.post(url, {"refresh_token": first.json()["refresh_token"]}, format="json")
    assert second.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_a_user_limited_action_counts_per_user(auth_client, settings, password):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "reauthenticate": "2/m/user"}
    url = "/api/v1/auth/reauthenticate"
    statuses = [
        auth_client.post(url, {"password": password}, format="json").status_code for _ in range(3)
    ]
    assert statuses == [HTTPStatus.NO_CONTENT, HTTPStatus.NO_CONTENT, HTTPStatus.TOO_MANY_REQUESTS]


def test_an_empty_limit_turns_it_off(api_client, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "password_forgot": ""}
    settings.KEYHOUSE_CODE_RATE_PER_IP = "1000/h"
    url = "/api/v1/auth/password/forgot"
    for i in range(30):
        response = api_client.post(url, {"email": f"n{i}@example.com"}, format="json")
        assert response.status_code == HTTPStatus.ACCEPTED


def test_an_unreachable_cache_fails_closed_with_503(api_client, unreachable_cache):
    response = login(api_client, "ada@example.com", "x")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == "service_unavailable"


@pytest.mark.django_db(transaction=True)
def test_a_hundred_concurrent_requests_let_exactly_the_limit_through(live_server, settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "password_forgot": "20/h/ip"}
    settings.KEYHOUSE_CODE_RATE_PER_IP = "1000/h"

    def forgot(i: int) -> int:
        status, _ = call_api(
            live_server.url, "POST", "/api/v1/auth/password/forgot", {"email": f"n{i}@x.io"}
        )
        return status

    # Ten at a time: the test server's listen queue holds about that many connections.
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(forgot, range(100)))
    assert statuses.count(HTTPStatus.ACCEPTED) == 20
    assert statuses.count(HTTPStatus.TOO_MANY_REQUESTS) == 80


COUNT_HITS = """
import django, sys
django.setup()
from keyhouse.core.ratelimit import Rate, ratelimit_hit
allowed = sum(
    ratelimit_hit(scope="multiprocess", key=sys.argv[1], rate=Rate(limit=30, period=3600)).allowed
    for _ in range(25)
)
print(allowed)
"""


@pytest.mark.postgres
def test_processes_sharing_redis_let_exactly_the_limit_through(tmp_path):
    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL): runs in the postgres-redis pass of make test")
    key = f"key-{time.time_ns()}"
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", COUNT_HITS, key],
            cwd=django_settings.BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    allowed = [int(process.communicate(timeout=60)[0]) for process in processes]
    assert sum(allowed) == 30


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_get_no_more_password_checks_than_the_threshold(verified_user):
    from django.db import connection

    from keyhouse.accounts.services.signin import (
        InvalidCredentials,
        LoginThrottled,
        signin_with_password,
    )
    from keyhouse.conftest import CLIENT

    outcomes: list[str] = []

    def guess(_: int) -> None:
        try:
            signin_with_password(email=verified_user.email, password="wrong", client=CLIENT)
        except InvalidCredentials:
            outcomes.append("checked")
        except LoginThrottled:
            outcomes.append("throttled")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(guess, range(20)))
    assert outcomes.count("checked") == 5
    assert outcomes.count("throttled") == 15


def test_failures_after_a_sign_in_still_count_once_its_hour_has_passed():
    account = "ada@example.com"
    signed_in = datetime(2030, 1, 7, 9, 30, tzinfo=UTC)
    with time_machine.travel(signed_in, tick=False):
        password_failures_clear(account=account)  # as a correct password does
    with time_machine.travel(signed_in + timedelta(minutes=40), tick=False):
        for i in range(15):
            password_attempt_count(account=account, ip=f"198.51.100.{i}")
    # Past the hour the sign-in's counters were first kept for, in the same clock hour.
    with time_machine.travel(signed_in + timedelta(minutes=70), tick=False):
        for i in range(5):
            password_attempt_count(account=account, ip=f"203.0.113.{i}")
        with pytest.raises(LoginThrottled):
            password_attempt_count(account=account, ip="203.0.113.99")
