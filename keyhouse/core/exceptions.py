"""Domain errors. Services raise them; core.problems renders them, and nothing else does.

Each subclass carries a stable machine-readable ``code`` that clients may branch on,
an HTTP status and a translatable default message.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from django.utils.translation import gettext_lazy as _

# The code of every invalid request body or query, whichever field is wrong.
VALIDATION_ERROR = "validation_error"

View = TypeVar("View", bound=Callable[..., Any])


class KeyhouseError(Exception):
    code: str = "error"
    status: HTTPStatus = HTTPStatus.BAD_REQUEST
    message: str = _("The request could not be completed.")
    # Headers every response of this error carries, as the OpenAPI document declares them.
    header_names: tuple[str, ...] = ()

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


def problems(*errors: type[Exception]) -> Callable[[View], View]:
    """Declare the errors a view method answers with, for its OpenAPI description.

    Takes KeyhouseError classes and DRF exception classes. Decorators that add errors
    of their own (a rate limit) declare them the same way, and ``functools.wraps``
    carries the declarations of the methods they wrap.
    """

    def decorator(view: View) -> View:
        view.problems = (*getattr(view, "problems", ()), *errors)
        return view

    return decorator


class OAuthError(Exception):
    """An error of an OAuth endpoint, rendered as RFC 6749 section 5.2 says, not as a problem.

    Generic OAuth clients read ``error`` (``invalid_request``, ``invalid_grant``...) from
    the token and revocation endpoints; Keyhouse's own API keeps Problem Details.
    ``errors`` holds every ``error`` Keyhouse answers with, and nothing else can be
    raised, so the OpenAPI document declares them from here. Each is a 400, ``invalid_client``
    too: Keyhouse's clients are public and never authenticate, so none is owed the 401 of
    a failed client authentication (RFC 6749 section 5.2).
    """

    errors = (
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_scope",
    )
    status = HTTPStatus.BAD_REQUEST

    def __init__(self, error: str, description: str) -> None:
        if error not in self.errors:
            raise ValueError(f"{error} is not among OAuthError.errors.")
        super().__init__(description)
        self.error = error
        self.description = description
