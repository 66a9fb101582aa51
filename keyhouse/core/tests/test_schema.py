"""The OpenAPI document declares what the API answers: its errors and its constraints."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from http import HTTPStatus
from typing import Any

import pytest

import keyhouse
from keyhouse.core.exceptions import KeyhouseError, OAuthError

pytestmark = pytest.mark.django_db

OPERATIONS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    return response.json()


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method]


def problem(response: dict[str, Any]) -> dict[str, Any]:
    """The part of a problem response's schema that narrows the Problem component."""
    ref, narrowed = response["content"]["application/problem+json"]["schema"]["allOf"]
    assert ref == {"$ref": "#/components/schemas/Problem"}
    return narrowed["properties"]


def codes(document: dict[str, Any], method: str, path: str, status: int) -> list[str]:
    return problem(operation(document, method, path)["responses"][str(status)])["code"]["enum"]


def request_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    ref = operation(document, method, path)["requestBody"]["content"]["application/json"]
    name = ref["schema"]["$ref"].rsplit("/", 1)[1]
    return document["components"]["schemas"][name]


def test_the_problem_schema_is_one_component(document):
    schema = document["components"]["schemas"]["Problem"]
    assert schema["required"] == ["type", "title", "status", "detail", "code"]
    assert set(schema["properties"]) >= {"errors", "retry_after", "tries_left"}


def test_every_reference_resolves_in_each_document_served(client):
    for _ in range(2):  # a second build must not see what the first did to shared schemas
        document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
        names = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
        assert names - document["components"]["schemas"].keys() == set()


def test_every_operation_declares_its_errors_as_problems(document):
    for path, item in document["paths"].items():
        for method in OPERATIONS & item.keys():
            errors = {
                status: response
                for status, response in item[method]["responses"].items()
                if int(status) >= HTTPStatus.BAD_REQUEST
            }
            for status, response in errors.items():
                assert problem(response)["status"]["enum"] == [int(status)], (method, path)
            if "requestBody" in item[method]:
                assert {"400", "413", "415"} <= errors.keys(), (method, path)


def test_a_rate_limited_operation_declares_429_with_retry_after(document):
    responses = operation(document, "post", "/api/v1/auth/login")["responses"]
    assert problem(responses["429"])["code"]["enum"] == ["login_throttled", "rate_limited"]
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert problem(responses["503"])["code"]["enum"] == [
        "service_unavailable",
        "signing_key_missing",
    ]


def test_an_operation_without_a_rate_limit_declares_no_429(document):
    assert "429" not in operation(document, "get", "/api/v1/me")["responses"]


def test_authenticated_operations_declare_401_with_www_authenticate(document):
    responses = operation(document, "get", "/api/v1/me/sessions")["responses"]
    assert problem(responses["401"])["code"]["enum"] == [
        "not_authenticated",
        "session_revoked",
        "token_expired",
        "token_invalid",
        "token_not_yet_valid",
    ]
    assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True


def test_a_public_operation_declares_only_its_own_401(document):
    responses = operation(document, "post", "/api/v1/auth/login")["responses"]
    assert problem(responses["401"])["code"]["enum"] == ["invalid_credentials"]
    assert "headers" not in responses["401"]
    assert "401" not in operation(document, "get", "/.well-known/jwks.json")["responses"]


def test_domain_errors_are_declared_next_to_their_views(document):
    assert codes(document, "post", "/api/v1/me/email/verify", 400) == [
        "code_attempts_exceeded",
        "code_expired",
        "code_invalid",
        "parse_error",
        "validation_error",
    ]
    assert codes(document, "post", "/api/v1/me/email/verify", 409) == ["email_taken"]
    assert codes(document, "post", "/api/v1/auth/email/resend", 429) == [
        "code_cooldown",
        "rate_limited",
    ]
    assert codes(document, "delete", "/api/v1/me", 403) == [
        "aal2_required",
        "reauthentication_required",
    ]
    assert codes(document, "delete", "/api/v1/me/sessions/{session_id}", 404) == ["not_found"]
    assert codes(document, "get", "/api/v1/me/events", 400) == ["validation_error"]


def _keyhouse_errors() -> set[type[KeyhouseError]]:
    """Every error class of the project, but private bases, the tests' own, and those of
    the GoTrue API, which the OpenAPI document leaves out (docs/supabase.md lists it)."""
    for module in pkgutil.walk_packages(keyhouse.__path__, "keyhouse."):
        if ".tests" not in module.name:
            importlib.import_module(module.name)
    found, pending = set(), [KeyhouseError]
    while pending:
        subclasses = pending.pop().__subclasses__()
        pending += subclasses
        found.update(subclasses)
    return {
        error
        for error in found
        if ".tests" not in error.__module__
        and not error.__name__.startswith("_")
        and not error.__module__.startswith("keyhouse.gotrue")
    }


def test_every_error_an_api_view_raises_is_declared_somewhere(document):
    declared = {
        (int(status), code)
        for item in document["paths"].values()
        for method in OPERATIONS & item.keys()
        for status, response in item[method]["responses"].items()
        if int(status) >= HTTPStatus.BAD_REQUEST
        for code in problem(response)["code"]["enum"]
    }
    errors = {(error.status, error.code) for error in _keyhouse_errors()}
    assert errors - declared == set()


def oauth_error_statuses(document: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """The error statuses each operation declares an OAuth error under."""
    found: dict[tuple[str, str], list[str]] = {}
    for path, item in document["paths"].items():
        for method in OPERATIONS & item.keys():
            for status, response in item[method]["responses"].items():
                content = response.get("content", {})
                if int(status) >= HTTPStatus.BAD_REQUEST and "application/json" in content:
                    assert content["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/OAuthError"
                    }
                    found.setdefault((method, path), []).append(status)
    return found


def test_the_oauth_error_schema_is_one_component(document):
    schemas = document["components"]["schemas"]
    schema = schemas["OAuthError"]
    enum = schemas[schema["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert enum["enum"] == [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_scope",
    ]
    assert schema["required"] == ["error", "error_description"]


def test_operations_taking_a_form_declare_oauth_errors_beside_their_problems(document):
    # A 400 only: the clients are public, so an unknown one is no failed authentication (401).
    assert oauth_error_statuses(document) == {
        ("post", "/api/v1/auth/token/refresh"): ["400"],
        ("post", "/api/v1/auth/token/revoke"): ["400"],
    }
    # A form is refused with an OAuth error, so only a JSON body is a validation_error.
    assert codes(document, "post", "/api/v1/auth/token/refresh", 400) == [
        "parse_error",
        "validation_error",
    ]
    assert codes(document, "post", "/api/v1/auth/token/revoke", 400) == ["parse_error"]


def test_an_oauth_error_the_document_does_not_declare_cannot_be_raised():
    with pytest.raises(ValueError, match="unauthorized_client"):
        OAuthError("unauthorized_client", "Not declared.")


def test_a_code_is_declared_as_its_digits(document):
    fields = request_schema(document, "post", "/api/v1/auth/email/verify")["properties"]
    assert fields["code"]["pattern"] == "^[0-9]{6}$"


def test_request_constraints_follow_the_settings(client, settings):
    settings.KEYHOUSE_CODE_LENGTH = 8
    settings.AUTH_PASSWORD_VALIDATORS = [
        {
            "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
            "OPTIONS": {"min_length": 12},
        }
    ]
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    code = request_schema(document, "post", "/api/v1/auth/email/verify")["properties"]["code"]
    assert code["pattern"] == "^[0-9]{8}$"
    for method, path, field in [
        ("post", "/api/v1/auth/signup", "password"),
        ("post", "/api/v1/auth/password/reset", "new_password"),
        ("post", "/api/v1/me/password", "new_password"),
    ]:
        assert request_schema(document, method, path)["properties"][field]["minLength"] == 12


def test_a_password_being_chosen_declares_the_policy_minimum(document):
    signup = request_schema(document, "post", "/api/v1/auth/signup")["properties"]
    assert signup["password"]["minLength"] == 8
    login = request_schema(document, "post", "/api/v1/auth/login")["properties"]
    assert login["password"]["minLength"] == 1  # passwords set under an older policy sign in


def test_a_phone_is_declared_in_e164(document):
    phone = request_schema(document, "post", "/api/v1/auth/phone/send-code")["properties"]["phone"]
    assert phone["pattern"] == r"^\+[1-9][0-9]{1,14}$"


def test_reauthentication_takes_one_of_a_password_a_code_or_an_authenticator_code(document):
    schema = request_schema(document, "post", "/api/v1/auth/reauthenticate")
    assert schema["oneOf"] == [
        {"required": ["password"]},
        {"required": ["code"]},
        {"required": ["totp_code"]},
        {"required": ["passkey"]},
    ]
    assert "required" not in schema
    body = operation(document, "post", "/api/v1/auth/reauthenticate")["requestBody"]
    assert body["required"] is True  # found by the fuzz: no body is refused too


def test_a_body_with_no_required_field_may_be_left_out(document):
    assert "required" not in operation(document, "patch", "/api/v1/me")["requestBody"]
    assert "required" not in operation(document, "post", "/api/v1/auth/logout")["requestBody"]


def test_updating_the_profile_is_declared_partial(document):
    schema = request_schema(document, "patch", "/api/v1/me")
    assert "display_name" in schema["properties"]
    assert "required" not in schema
