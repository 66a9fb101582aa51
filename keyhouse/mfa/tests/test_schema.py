"""The OpenAPI schema documents every MFA endpoint with its rate limit."""

from __future__ import annotations

from drf_spectacular.generators import SchemaGenerator

MFA_OPERATIONS = [
    ("/api/v1/auth/mfa/verify", "post", "KEYHOUSE_RATE_LIMIT_MFA_VERIFY"),
    ("/api/v1/me/mfa", "get", "KEYHOUSE_RATE_LIMIT_MFA_LIST"),
    ("/api/v1/me/mfa/totp", "post", "KEYHOUSE_RATE_LIMIT_MFA_ENROL"),
    ("/api/v1/me/mfa/totp/{factor_id}/confirm", "post", "KEYHOUSE_RATE_LIMIT_MFA_CONFIRM"),
    ("/api/v1/me/mfa/{factor_id}", "delete", "KEYHOUSE_RATE_LIMIT_MFA_REMOVE"),
    ("/api/v1/me/mfa/recovery-codes", "post", "KEYHOUSE_RATE_LIMIT_MFA_RECOVERY_CODES"),
    ("/api/v1/me/passkeys/options", "post", "KEYHOUSE_RATE_LIMIT_PASSKEY_REGISTER_OPTIONS"),
    ("/api/v1/me/passkeys", "post", "KEYHOUSE_RATE_LIMIT_PASSKEY_REGISTER"),
    ("/api/v1/me/passkeys", "get", "KEYHOUSE_RATE_LIMIT_PASSKEY_LIST"),
    ("/api/v1/me/passkeys/{passkey_id}", "patch", "KEYHOUSE_RATE_LIMIT_PASSKEY_UPDATE"),
    ("/api/v1/me/passkeys/{passkey_id}", "delete", "KEYHOUSE_RATE_LIMIT_PASSKEY_REMOVE"),
    ("/api/v1/auth/passkey/options", "post", "KEYHOUSE_RATE_LIMIT_PASSKEY_OPTIONS"),
    ("/api/v1/auth/passkey/verify", "post", "KEYHOUSE_RATE_LIMIT_PASSKEY_VERIFY"),
]


def test_every_mfa_endpoint_documents_its_rate_limit(settings):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "mfa_verify": "7/m/ip"}
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, method, variable in MFA_OPERATIONS:
        operation = paths[path][method]
        assert operation["x-rate-limit"]["setting"] == variable
        assert "429" in operation["responses"]
        assert variable in operation["description"]
    verify = paths["/api/v1/auth/mfa/verify"]["post"]
    assert verify["x-rate-limit"]["rules"] == "7/m/ip"


def test_sign_ins_document_both_answers():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path in ("/api/v1/auth/login", "/api/v1/auth/phone/verify", "/api/v1/auth/email/verify"):
        schema = paths[path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/SignInResult"}


def _request_schema(document: dict, path: str) -> dict:
    ref = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return document["components"]["schemas"][ref["schema"]["$ref"].rsplit("/", 1)[1]]


def _forbidden_codes(paths: dict, path: str, method: str) -> list[str]:
    response = paths[path][method]["responses"].get("403")
    if response is None:
        return []
    narrowed = response["content"]["application/problem+json"]["schema"]["allOf"][1]
    return narrowed["properties"]["code"]["enum"]


def test_the_policy_refusal_is_declared_where_the_policy_refuses():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert _forbidden_codes(paths, "/api/v1/me/sessions", "get") == ["mfa_enrollment_required"]
    for path in ("/api/v1/me/mfa/totp", "/api/v1/auth/reauthenticate"):
        assert "mfa_enrollment_required" not in _forbidden_codes(paths, path, "post")


def test_an_authenticator_code_is_declared_as_six_digits_whatever_the_code_length(settings):
    settings.KEYHOUSE_CODE_LENGTH = 8
    document = SchemaGenerator().get_schema(request=None, public=True)
    reauthenticate = _request_schema(document, "/api/v1/auth/reauthenticate")["properties"]
    assert reauthenticate["totp_code"]["pattern"] == "^[0-9]{6}$"
    assert reauthenticate["code"]["pattern"] == "^[0-9]{8}$"
    verify = _request_schema(document, "/api/v1/auth/mfa/verify")
    assert verify["properties"]["code"]["pattern"] == "^[0-9]{6}$"
    assert [branch["required"] for branch in verify["oneOf"]] == [
        ["factor_id", "code"],
        ["recovery_code"],
        ["passkey"],
    ]
