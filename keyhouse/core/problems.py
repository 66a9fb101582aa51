"""Render every error as Problem Details (RFC 9457), the one error shape of the API.

A problem object has the standard members ``type``, ``title``, ``status`` and
``detail`` and two extensions: ``code``, a stable machine-readable string, and for
validation errors ``errors``, mapping each field (dotted for nested fields) to a list
of ``{"code", "message"}``. ``type`` is ``about:blank`` (RFC 9457 section 4.2.1), so
``title`` is the HTTP status phrase and ``code`` is what clients branch on.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from keyhouse.core.exceptions import VALIDATION_ERROR, KeyhouseError, OAuthError
from keyhouse.core.metrics import RATE_LIMITED
from keyhouse.core.parsers import PayloadTooLarge

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_body(
    *,
    status: int,
    code: str,
    detail: str,
    errors: dict[str, list[dict[str, str]]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def problem_json_response(
    *, status: int, code: str, detail: str, extra: dict[str, Any] | None = None
) -> JsonResponse:
    """Build a problem response outside DRF (URL handlers, health checks)."""
    return JsonResponse(
        problem_body(status=status, code=code, detail=detail, extra=extra),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def field_errors(detail: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """Flatten DRF's nested validation detail into ``{"field.sub": [{code, message}]}``."""
    if isinstance(detail, dict):
        errors: dict[str, list[dict[str, str]]] = {}
        for key, value in detail.items():
            name = "non_field_errors" if key == "non_field_errors" and not prefix else key
            errors.update(field_errors(value, f"{prefix}.{name}" if prefix else str(name)))
        return errors
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        errors = {}
        for index, item in enumerate(detail):
            errors.update(field_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return errors
    items = detail if isinstance(detail, list) else [detail]
    return {
        prefix or "non_field_errors": [
            {"code": getattr(item, "code", "invalid"), "message": str(item)} for item in items
        ]
    }


def _field_error(error: Any, default_code: str) -> dict[str, str]:
    """Render one field error: a message, or a Django ValidationError with its own code."""
    if isinstance(error, DjangoValidationError):
        return {"code": error.code or default_code, "message": " ".join(error.messages)}
    return {"code": default_code, "message": str(error)}


def problem_status_and_code(error: type[Exception]) -> tuple[int, str]:
    """The status and ``code`` the handler below renders an error class with.

    A DRF exception raised with another code than its default one (an
    AuthenticationFailed saying why) is declared by whoever raises it.
    """
    if issubclass(error, KeyhouseError):
        return error.status, error.code
    if issubclass(error, exceptions.ValidationError):
        return error.status_code, VALIDATION_ERROR
    if issubclass(error, exceptions.APIException):
        return error.status_code, error.default_code
    raise TypeError(f"{error.__name__} is not rendered as a problem of its own.")


def _as_api_exception(exc: Exception) -> exceptions.APIException | None:
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    return None


def _render_as_json(request: Request | None) -> None:
    """Have the view render its problem as JSON, whatever it negotiated for success.

    DRF's finalize_response hands every response the renderer negotiated for the
    request, and some views render only YAML (the schema) or HTML (the docs).
    """
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception raised in a view becomes a problem.

    OAuth errors are the exception: they keep the shape OAuth clients expect.
    """
    _render_as_json(context.get("request"))
    if isinstance(exc, OAuthError):
        set_rollback()
        return Response(
            {"error": exc.error, "error_description": exc.description},
            status=exc.status,
            headers={"Cache-Control": "no-store"},
        )
    if isinstance(exc, KeyhouseError):
        set_rollback()
        if exc.status == HTTPStatus.TOO_MANY_REQUESTS:
            RATE_LIMITED.labels(code=exc.code).inc()
        body = problem_body(
            status=exc.status,
            code=exc.code,
            detail=str(exc.message),
            errors={
                field: [_field_error(error, exc.code) for error in messages]
                for field, messages in exc.fields.items()
            },
            extra=exc.extra,
        )
        return Response(
            body, status=exc.status, headers=exc.headers, content_type=PROBLEM_CONTENT_TYPE
        )

    api_exc = _as_api_exception(exc)
    if api_exc is None:
        set_rollback()
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        body = problem_body(
            status=HTTPStatus.INTERNAL_SERVER_ERROR,
            code="server_error",
            detail=_("Something went wrong on our side. Try again later."),
        )
        return Response(
            body, status=HTTPStatus.INTERNAL_SERVER_ERROR, content_type=PROBLEM_CONTENT_TYPE
        )

    # DRF's handler adds WWW-Authenticate and Retry-After and rolls back; the body is ours.
    response = drf_exception_handler(api_exc, context)
    if isinstance(api_exc, exceptions.ValidationError):
        response.data = problem_body(
            status=api_exc.status_code,
            code=VALIDATION_ERROR,
            detail=_("The request has invalid fields."),
            errors=field_errors(api_exc.detail),
        )
    else:
        response.data = problem_body(
            status=api_exc.status_code,
            code=str(api_exc.get_codes()),
            detail=str(api_exc.detail),
        )
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A request Django refuses before any view: a Host not in ALLOWED_HOSTS, for one."""
    return problem_json_response(
        status=HTTPStatus.BAD_REQUEST, code="bad_request", detail=_("Bad request.")
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_json_response(
        status=HTTPStatus.NOT_FOUND, code="not_found", detail=_("Not found.")
    )


def handler500(request: HttpRequest) -> JsonResponse:
    return problem_json_response(
        status=HTTPStatus.INTERNAL_SERVER_ERROR,
        code="server_error",
        detail=_("Something went wrong on our side. Try again later."),
    )
