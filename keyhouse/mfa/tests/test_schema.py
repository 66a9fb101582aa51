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
