from __future__ import annotations

import json
import logging
import sys
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from pythonjsonlogger.orjson import OrjsonFormatter

from keyhouse.core.context import RequestContextFilter
from keyhouse.core.logformat import JsonFormatter

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log(caplog):
    """Capture log records as the production JSON formatter writes them."""
    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s"
    )
    caplog.handler.addFilter(RequestContextFilter())
    caplog.set_level(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(formatter.format(record)) for record in caplog.records]

    return lines


def _production_json_formatter(cls: type) -> logging.Formatter:
    options = {**django_settings.LOGGING["formatters"]["json"]}
    options.pop("()")
    return cls(**options)


def test_the_json_format_writes_what_python_json_logger_writes():
    ours = _production_json_formatter(JsonFormatter)
    library = _production_json_formatter(OrjsonFormatter)
    logger = logging.getLogger("keyhouse.access")
    records = [
        logger.makeRecord(
            logger.name,
            logging.INFO,
            __file__,
            1,
            "%s %s",
            ("GET", "/é"),
            None,
            extra={"status": 200, "duration_ms": 0.5, "request_id": "r", "user_id": None},
        )
    ]
    try:
        raise ValueError("boom")
    except ValueError:
        records.append(
            logger.makeRecord(
                logger.name,
                logging.ERROR,
                __file__,
                2,
                "failed",
                (),
                sys.exc_info(),
                extra={"request_id": None, "user_id": "u", "_private": 1},
            )
        )
    for number, record in enumerate(records * 2):
        record.created += number * 0.6  # the cached second turns over
        record.msecs = int(record.created * 1000) % 1000
        assert ours.format(record) == library.format(record)


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32
    echoed = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234567890")
    assert echoed["X-Request-ID"] == "lb-1234567890"
    refused = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert refused["X-Request-ID"] != "bad id\nwith newline"


def test_access_log_is_structured_and_names_the_user(auth_client, tokens, json_log):
    response = auth_client.get("/api/v1/me?token=should-not-be-logged")
    access = [line for line in json_log() if line["name"] == "keyhouse.access"]
    assert len(access) == 1
    line = access[0]
    assert line["status"] == 200
    assert line["path"] == "/api/v1/me"
    assert line["route"] == "v1:me"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["user_id"] == str(tokens.user.pk)
    assert line["duration_ms"] >= 0


def test_logs_never_hold_passwords_codes_or_tokens(api_client, verified_user, password, json_log):
    response = api_client.post(
        "/api/v1/auth/login", {"email": verified_user.email, "password": password}, format="json"
    )
    tokens = response.json()
    api_client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    written = json.dumps(json_log())
    for secret in (password, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in written


def test_metrics_are_served_to_loopback_only(client):
    client.get("/healthz")
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert 'keyhouse_http_requests_total{method="GET",route="healthz",status="200"}' in body
    assert "keyhouse_http_request_duration_seconds_bucket" in body
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == HTTPStatus.NOT_FOUND


def test_metrics_with_a_token_need_the_token(client, settings):
    settings.KEYHOUSE_METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == HTTPStatus.NOT_FOUND
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == HTTPStatus.OK


def metric(client, name: str) -> float:
    for line in client.get("/metrics").content.decode().splitlines():
        sample, _space, value = line.rpartition(" ")
        if sample == name:
            return float(value)
    return 0.0


@pytest.mark.usefixtures("window_start")
def test_sign_ins_and_rate_limits_are_counted(
    api_client, verified_user, password, client, settings
):
    success = 'keyhouse_sign_ins_total{method="password",outcome="success"}'
    failure = 'keyhouse_sign_ins_total{method="password",outcome="failure"}'
    limited = 'keyhouse_rate_limited_total{code="rate_limited"}'
    before = [metric(client, name) for name in (success, failure, limited)]
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "login": "2/m/ip"}
    for attempt in (password, "nope", "again"):
        api_client.post(
            "/api/v1/auth/login", {"email": verified_user.email, "password": attempt}, format="json"
        )
    after = [metric(client, name) for name in (success, failure, limited)]
    assert after == [before[0] + 1, before[1] + 1, before[2] + 1]


def test_made_up_methods_share_one_metric_label(client):
    for method in ("FOO0", "FOO1"):
        client.generic(method, "/healthz")
    body = client.get("/metrics").content.decode()
    assert 'method="FOO0"' not in body
    assert 'method="other",route="healthz"' in body


def test_metrics_never_fail_on_an_unreadable_client_address(client, settings):
    settings.KEYHOUSE_TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    response = client.get("/metrics", HTTP_X_FORWARDED_FOR="unknown", REMOTE_ADDR="")
    assert response.status_code == HTTPStatus.NOT_FOUND
