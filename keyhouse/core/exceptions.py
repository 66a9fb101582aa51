"""Domain errors. Services raise them; core.problems renders them, and nothing else does.

Each subclass carries a stable machine-readable ``code`` that clients may branch on,
an HTTP status and a translatable default message.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.utils.translation import gettext_lazy as _


class KeyhouseError(Exception):
    code: str = "error"
    status: HTTPStatus = HTTPStatus.BAD_REQUEST
    message: str = _("The request could not be completed.")

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: dict[str, list[Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if message is not None:
            self.message = message
        self.fields = fields or {}
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(str(self.message))


class ServiceUnavailable(KeyhouseError):
    code = "service_unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    message = _("A service Keyhouse depends on is unavailable. Try again shortly.")


class OAuthError(Exception):
    """An error of an OAuth endpoint, rendered as RFC 6749 section 5.2 says, not as a problem.

    Generic OAuth clients read ``error`` (``invalid_request``, ``invalid_grant``...) from
    the token and revocation endpoints; Keyhouse's own API keeps Problem Details.
    """

    def __init__(
        self, error: str, description: str, *, status: HTTPStatus = HTTPStatus.BAD_REQUEST
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
