from __future__ import annotations

import io
import json
from http import HTTPStatus

import pytest

from keyhouse.core.parsers import JSONParser

pytestmark = [pytest.mark.django_db, pytest.mark.urls("keyhouse.core.tests.urls")]


def assert_problem(response, status: HTTPStatus, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"] == status.phrase
    assert body["type"] == "about:blank"
    assert body["detail"]
    return body


def test_unknown_api_path_is_a_404_problem(api_client):
    assert_problem(api_client.get("/api/v1/nowhere"), HTTPStatus.NOT_FOUND, "not_found")
    assert_problem(api_client.post("/api/nowhere", {}), HTTPStatus.NOT_FOUND, "not_found")


def test_malformed_json_is_a_parse_error(api_client):
    response = api_client.post("/echo", '{"email": ', content_type="application/json")
    assert_problem(response, HTTPStatus.BAD_REQUEST, "parse_error")


@pytest.mark.parametrize("body", [b"[" * 2000 + b"]" * 2000, b'{"a": ' * 2000 + b"1" + b"}" * 2000])
def test_deeply_nested_json_is_a_parse_error(api_client, body):
    response = api_client.post("/api/v1/auth/signup", body, content_type="application/json")
    assert_problem(response, HTTPStatus.BAD_REQUEST, "parse_error")


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/v1/auth/token/refresh", "refresh_token_transport"), ("/api/v1/auth/logout", "scope")],
)
@pytest.mark.parametrize("escapes", [r"\ud800", r"\uDFFF", r"\udc00\ud800", r"x\uD83D"])
@pytest.mark.parametrize("charset", ["utf-8", "utf-16"])
def test_a_string_that_is_not_unicode_is_a_parse_error(auth_client, path, field, escapes, charset):
    body = f'{{"{field}": "{escapes}"}}'.encode(charset)
    response = auth_client.post(path, body, content_type=f"application/json; charset={charset}")
    assert_problem(response, HTTPStatus.BAD_REQUEST, "parse_error")


@pytest.mark.parametrize(
    ("escapes", "text"),
    [
        (r"\ud83d\ude00", "\N{GRINNING FACE}"),
        (r"\uD83D\uDE00", "\N{GRINNING FACE}"),
        (r"\\ud800", r"\ud800"),  # an escaped backslash, then plain text
    ],
)
def test_escaped_surrogate_pairs_and_backslashes_parse(escapes, text):
    parsed = JSONParser().parse(io.BytesIO(f'{{"name": "{escapes}"}}'.encode()))
    assert parsed == {"name": text}


def test_body_over_one_mebibyte_is_refused(api_client):
    body = json.dumps({"email": "a@example.com", "pad": "x" * (1024 * 1024)})
    response = api_client.post("/echo", body, content_type="application/json")
    assert_problem(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")


def test_body_just_under_the_limit_is_parsed(api_client):
    body = json.dumps({"email": "a@example.com", "pad": "x" * (1024 * 1000)})
    response = api_client.post("/echo", body, content_type="application/json")
    assert response.status_code == HTTPStatus.OK


def test_unsupported_content_type_is_a_415(api_client):
    response = api_client.post("/echo", "email=a@example.com", content_type="text/plain")
    assert_problem(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")


def test_wrong_method_is_a_405_with_allow(api_client):
    response = api_client.delete("/echo")
    assert_problem(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_validation_errors_are_listed_per_field(api_client):
    response = api_client.post(
        "/echo", {"email": "not-an-email", "address": {"city": "x" * 30}}, format="json"
    )
    body = assert_problem(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert body["errors"]["email"] == [
        {"code": "invalid", "message": "Enter a valid email address."}
    ]
    assert body["errors"]["address.city"][0]["code"] == "max_length"


def test_non_object_body_is_a_validation_error(api_client):
    response = api_client.post("/echo", [1, 2], format="json")
    body = assert_problem(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert body["errors"]["non_field_errors"][0]["code"] == "invalid"


def test_null_byte_in_a_field_is_a_validation_error(api_client):
    response = api_client.post("/echo", {"email": "a\x00@example.com"}, format="json")
    body = assert_problem(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert "email" in body["errors"]


def test_unhandled_exception_is_a_500_problem_without_internals(api_client, caplog):
    response = api_client.get("/crash")
    body = assert_problem(response, HTTPStatus.INTERNAL_SERVER_ERROR, "server_error")
    assert "secret internals" not in response.content.decode()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert "secret internals" in caplog.text


def test_throttled_is_a_429_with_retry_after(api_client):
    response = api_client.get("/throttled")
    assert_problem(response, HTTPStatus.TOO_MANY_REQUESTS, "throttled")
    assert response["Retry-After"] == "42"


def test_domain_error_keeps_its_code_fields_and_headers(api_client):
    response = api_client.get("/teapot")
    body = assert_problem(response, HTTPStatus.IM_A_TEAPOT, "teapot")
    assert body["detail"] == "I am a teapot."
    assert body["errors"] == {"pot": [{"code": "teapot", "message": "Too hot."}]}
    assert response["X-Pot"] == "1"
