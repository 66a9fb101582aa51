"""Errors in GoTrue's shape: ``{"code": "<error code>", "msg": "..."}`` with the API version.

Keyhouse's own handler (``core.problems``) decides every error's status and code, so
no failure becomes a 500 here either; this module only reshapes its problem into what
``@supabase/auth-js`` reads. auth-js takes ``code`` as the error code when the response
carries ``X-Supabase-Api-Version`` (2024-01-01 or later), and branches on a few codes:
``weak_password`` (with ``weak_password.reasons``) and ``session_not_found``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from rest_framework.response import Response

from keyhouse.core.problems import exception_handler as problem_handler

API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION = "2024-01-01"

# Keyhouse's code -> GoTrue's code, and the status GoTrue answers it with (None: Keyhouse's).
CODES: dict[str, tuple[str, int | None]] = {
    "validation_error": ("validation_failed", None),
    "parse_error": ("bad_json", None),
    "invalid_credentials": ("invalid_credentials", HTTPStatus.BAD_REQUEST),
    "invalid_password": ("invalid_credentials", HTTPStatus.BAD_REQUEST),
    "login_throttled": ("over_request_rate_limit", None),
    "rate_limited": ("over_request_rate_limit", None),
    "code_cooldown": ("over_request_rate_limit", None),
    "code_invalid": ("otp_expired", HTTPStatus.FORBIDDEN),
    "code_expired": ("otp_expired", HTTPStatus.FORBIDDEN),
    "code_attempts_exceeded": ("otp_expired", HTTPStatus.FORBIDDEN),
    "refresh_token_invalid": ("refresh_token_not_found", HTTPStatus.BAD_REQUEST),
    "refresh_token_reused": ("refresh_token_already_used", HTTPStatus.BAD_REQUEST),
    "session_expired": ("session_expired", HTTPStatus.FORBIDDEN),
    "session_revoked": ("session_not_found", HTTPStatus.FORBIDDEN),
    "token_invalid": ("bad_jwt", HTTPStatus.FORBIDDEN),
    "token_expired": ("bad_jwt", HTTPStatus.FORBIDDEN),
    "token_not_yet_valid": ("bad_jwt", HTTPStatus.FORBIDDEN),
    "not_authenticated": ("no_authorization", HTTPStatus.UNAUTHORIZED),
    "reauthentication_required": ("reauthentication_needed", None),
    "aal2_required": ("insufficient_aal", None),
    "mfa_enrollment_required": ("insufficient_aal", None),
    "mfa_code_invalid": ("mfa_verification_failed", None),
    "mfa_factor_not_found": ("mfa_factor_not_found", None),
    "mfa_factor_limit": ("too_many_enrolled_mfa_factors", None),
    "mfa_factor_expired": ("mfa_challenge_expired", None),
    "email_taken": ("email_exists", HTTPStatus.UNPROCESSABLE_ENTITY),
    "phone_taken": ("phone_exists", HTTPStatus.UNPROCESSABLE_ENTITY),
    "no_verified_phone": ("reauthentication_not_valid", None),
    "not_found": ("not_found", None),
    "method_not_allowed": ("method_not_allowed", None),
    # Social sign-in (keyhouse.gotrue.social). GoTrue links an identity to the account of
    # its email by itself; Keyhouse asks for proof, so its link_required (with the
    # link_token) is the nearest GoTrue answer: the address already has an account.
    "link_required": ("email_exists", HTTPStatus.UNPROCESSABLE_ENTITY),
    "identity_taken": ("identity_already_exists", HTTPStatus.UNPROCESSABLE_ENTITY),
    "identity_not_found": ("identity_not_found", None),
    "last_sign_in_method": ("single_identity_not_deletable", HTTPStatus.UNPROCESSABLE_ENTITY),
    "oauth_signup_disabled": ("signup_disabled", HTTPStatus.UNPROCESSABLE_ENTITY),
    "account_disabled": ("user_banned", None),
    "provider_not_found": ("provider_disabled", HTTPStatus.BAD_REQUEST),
    "oauth_code_invalid": ("flow_state_not_found", HTTPStatus.NOT_FOUND),
    "code_challenge_invalid": ("validation_failed", None),
}
# What a problem carries beside its code and detail that GoTrue's body keeps.
EXTRA_FIELDS = (
    *("attempts_left", "retry_after"),
    *("link_token", "provider", "email", "proofs", "expires_in"),  # link_required's
)
# Keyhouse's password policy codes, as the reasons GoTrue gives for a weak password.
WEAK_PASSWORD_REASONS = {
    "password_too_short": "length",
    "password_too_common": "pwned",
    "password_too_similar": "characters",
    "password_entirely_numeric": "characters",
}
# Rate limits on requests that send a code, per channel (a view's ``code_channel``).
SEND_LIMIT_CODES = {"email": "over_email_send_rate_limit", "sms": "over_sms_send_rate_limit"}


def _weak_password_reasons(errors: dict[str, list[dict[str, str]]]) -> list[str]:
    codes = [error["code"] for field in errors.values() for error in field]
    return list(
        dict.fromkeys(WEAK_PASSWORD_REASONS[c] for c in codes if c in WEAK_PASSWORD_REASONS)
    )


def gotrue_error_body(problem: dict[str, Any], *, code_channel: str | None) -> tuple[int, dict]:
    """Turn a problem (RFC 9457) into GoTrue's status and body."""
    status = problem["status"]
    code, gotrue_status = CODES.get(problem["code"], (problem["code"], None))
    body: dict[str, Any] = {"code": code, "msg": problem["detail"]}
    errors = problem.get("errors") or {}
    if reasons := _weak_password_reasons(errors):
        code, gotrue_status = "weak_password", HTTPStatus.UNPROCESSABLE_ENTITY
        messages = [error["message"] for field in errors.values() for error in field]
        body = {"code": code, "msg": " ".join(messages), "weak_password": {"reasons": reasons}}
    elif errors:
        body["msg"] = " ".join(
            f"{field}: {error['message']}" for field, items in errors.items() for error in items
        )
    if status == HTTPStatus.TOO_MANY_REQUESTS and code_channel in SEND_LIMIT_CODES:
        body["code"] = SEND_LIMIT_CODES[code_channel]
    for name in EXTRA_FIELDS:
        if name in problem:
            body[name] = problem[name]
    return int(gotrue_status or status), body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The GoTrue views' EXCEPTION_HANDLER: Keyhouse's problem, reshaped."""
    response = problem_handler(exc, context)
    view = context.get("view")
    status, body = gotrue_error_body(
        response.data, code_channel=getattr(view, "code_channel", None)
    )
    response.status_code = status
    response.data = body
    response.content_type = "application/json"
    response[API_VERSION_HEADER] = API_VERSION
    return response
