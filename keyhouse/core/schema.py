"""The OpenAPI document answers as the API does: errors included, generated from their classes.

Every operation declares the Problem Details (RFC 9457) it can answer with, one
response per status, whose ``code`` lists the stable codes of that status. They come
from where the errors are raised, not from a list per view:

- a request body: 400 ``parse_error``, 413 and 415, and ``validation_error`` unless the
  body can only be a form;
- a form body, which only the OAuth endpoints take: the errors of ``OAuthError``, in
  their RFC 6749 section 5.2 shape (``application/json``) beside the problems of the
  same status;
- authentication required: 401 with ``WWW-Authenticate``, with the codes the
  authentication classes give (``failure_codes``) and their own ``problems``, and
  what the permission classes refuse the view with (``problems_for(view)``);
- the errors the view method declares with ``@problems(...)``, which decorators such
  as ``rate_limit`` add to (429 with ``Retry-After``, 503).

A rate-limited operation also states its rules in force (from KEYHOUSE_RATE_LIMITS, so
the served document says what this server does) and the variable that sets them, in
its description and in ``x-rate-limit``.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, is_basic_serializer
from rest_framework import exceptions
from rest_framework.permissions import AllowAny

from keyhouse.core.exceptions import OAuthError
from keyhouse.core.parsers import FormParser, PayloadTooLarge
from keyhouse.core.problems import PROBLEM_CONTENT_TYPE, problem_status_and_code

BODY_METHODS = ("POST", "PUT", "PATCH")
BODY_PROBLEMS = (
    exceptions.ParseError,
    PayloadTooLarge,
    exceptions.UnsupportedMediaType,
)
WWW_AUTHENTICATE = "WWW-Authenticate"
HEADERS = {
    "Retry-After": {
        "description": "Seconds to wait before trying again (RFC 9110 section 10.2.3).",
        "schema": {"type": "integer", "minimum": 1},
    },
    WWW_AUTHENTICATE: {
        "description": "The scheme to authenticate with (RFC 6750 section 3).",
        "schema": {"type": "string"},
    },
}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "Every error of the API: Problem Details (RFC 9457). Clients branch on "
    "`code`, which is stable; `detail` is for people and may change.",
    "properties": {
        "type": {"type": "string", "enum": ["about:blank"]},
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "The invalid fields (dotted when nested), each with its errors.",
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["code", "message"],
                },
            },
        },
        "retry_after": {"type": "integer", "description": "With 429: as Retry-After."},
        "tries_left": {
            "type": "integer",
            "description": "With `code_invalid` for a signed-in user's code: wrong tries left.",
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}


OAUTH_CONTENT_TYPE = "application/json"
OAUTH_ERROR_SCHEMA = {
    "type": "object",
    "description": "The error of an OAuth form request (RFC 6749 section 5.2), in the shape "
    "OAuth clients read, not a problem. Clients branch on `error`; `error_description` is "
    "for people and may change.",
    "properties": {
        "error": {"type": "string", "enum": list(OAuthError.errors)},
        "error_description": {"type": "string"},
    },
    "required": ["error", "error_description"],
}


@dataclass(frozen=True)
class ProblemKind:
    """One answer an operation can give: a status, a code, the headers it always carries."""

    status: int
    code: str
    headers: tuple[str, ...] = ()


def problem_kind(error: type[Exception]) -> ProblemKind:
    status, code = problem_status_and_code(error)
    return ProblemKind(status=status, code=code, headers=getattr(error, "header_names", ()))


def problem_responses(kinds: list[ProblemKind], problem_ref: dict[str, str]) -> dict[str, Any]:
    """One response per status: the Problem schema narrowed to its codes, and its headers.

    A header is required when every kind of the status carries it.
    """
    by_status: dict[int, list[ProblemKind]] = defaultdict(list)
    for kind in kinds:
        by_status[kind.status].append(kind)
    responses = {}
    for status, group in sorted(by_status.items()):
        codes = sorted({kind.code for kind in group})
        names = sorted({name for kind in group for name in kind.headers})
        response: dict[str, Any] = {
            "description": f"{HTTPStatus(status).phrase}: {', '.join(f'`{c}`' for c in codes)}.",
            "content": {
                PROBLEM_CONTENT_TYPE: {
                    "schema": {
                        "allOf": [
                            problem_ref,
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "integer", "enum": [status]},
                                    "code": {"type": "string", "enum": codes},
                                },
                            },
                        ]
                    }
                }
            },
        }
        if names:
            response["headers"] = {
                name: {**HEADERS[name], "required": all(name in kind.headers for kind in group)}
                for name in names
            }
        responses[str(status)] = response
    return responses


def add_oauth_error_response(responses: dict[str, Any], oauth_error_ref: dict[str, str]) -> None:
    """Declare the OAuth errors under their status, beside any problems of that status."""
    status = OAuthError.status
    response = responses.setdefault(
        str(status), {"description": f"{status.phrase}.", "content": {}}
    )
    codes = ", ".join(f"`{error}`" for error in OAuthError.errors)
    response["description"] += f" To an OAuth form request: {codes}."
    response["content"][OAUTH_CONTENT_TYPE] = {"schema": oauth_error_ref}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, with each operation's problems beside its success."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        handler = getattr(self.view, self.method.lower(), None)
        action = getattr(handler, "rate_limit_action", None)
        if operation is None or action is None:
            return operation
        rules = settings.KEYHOUSE_RATE_LIMITS.get(action, "") or "none"
        variable = f"KEYHOUSE_RATE_LIMIT_{action.upper()}"
        operation["x-rate-limit"] = {"rules": rules, "setting": variable}
        note = f"Rate limit: {rules} (`{variable}`)."
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\n{note}" if description else note
        return operation

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        problem_ref = self._component("Problem", PROBLEM_SCHEMA)
        responses = {**responses, **problem_responses(self.problem_kinds(), problem_ref)}
        if self._takes_body() and FormParser.media_type in self.map_parsers():
            add_oauth_error_response(responses, self._component("OAuthError", OAUTH_ERROR_SCHEMA))
        return responses

    def _component(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        """Register a schema component of the document, once, and return its reference.

        The enum hook moves each ``enum`` into a component of its own in place, so each
        document gets a copy: from a shared dict, the second document would lack them.
        """
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=copy.deepcopy(schema)
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> Any:
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if not required and is_basic_serializer(serializer):
            # A body that must hold one of several fields (oneOf) cannot be left out.
            required = "oneOf" in self.resolve_serializer(serializer, direction).schema
        return schema, required

    def _get_serializer_field_meta(self, field: Any, direction: str) -> dict[str, Any]:
        meta = super()._get_serializer_field_meta(field, direction)
        if OpenApiSerializerFieldExtension.get_match(field) is not None:
            # The extension states the field's length itself (a password's minimum).
            meta.pop("minLength", None)
        return meta

    def problem_kinds(self) -> list[ProblemKind]:
        errors: list[type[Exception]] = []
        if self._takes_body():
            errors += BODY_PROBLEMS
            if set(self.map_parsers()) - {FormParser.media_type}:
                # A form is refused with an OAuth error instead.
                errors.append(exceptions.ValidationError)
        handler = getattr(self.view, self.method.lower(), None)
        errors += getattr(handler, "problems", ())
        return self._authentication_problem_kinds() + [problem_kind(error) for error in errors]

    def _takes_body(self) -> bool:
        return self.method in BODY_METHODS and self.get_request_serializer() is not None

    def _authentication_problem_kinds(self) -> list[ProblemKind]:
        authenticators = self.view.get_authenticators()
        permissions = self.view.get_permissions()
        if not authenticators or any(isinstance(p, AllowAny) for p in permissions):
            return []
        codes = [exceptions.NotAuthenticated.default_code]
        errors: list[type[Exception]] = []
        for authenticator in authenticators:
            codes += getattr(authenticator, "failure_codes", ())
            errors += getattr(authenticator, "problems", ())
        for permission in permissions:
            if hasattr(permission, "problems_for"):
                errors += permission.problems_for(self.view)
        refused = [
            ProblemKind(status=HTTPStatus.UNAUTHORIZED, code=code, headers=(WWW_AUTHENTICATE,))
            for code in codes
        ]
        return refused + [problem_kind(error) for error in errors]


class OneTimeCodeFieldExtension(OpenApiSerializerFieldExtension):
    """A code's digits: the field's own length (an authenticator's 6), or the setting's."""

    target_class = "keyhouse.core.fields.OneTimeCodeField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        length = self.target.length or settings.KEYHOUSE_CODE_LENGTH
        return {
            **schema,
            "pattern": f"^[0-9]{{{length}}}$",
            "description": f"The {length}-digit code; spaces between the digits are ignored.",
        }
