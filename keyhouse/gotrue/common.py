"""What every GoTrue view does: count a rate limit, read its input, answer a sign-in."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from keyhouse.core.ratelimit import ratelimit_request
from keyhouse.gotrue import shapes
from keyhouse.gotrue.pending import pending_session_body
from keyhouse.mfa.services.challenges import MfaChallengeIssued
from keyhouse.tokens.services import TokenPair


def rate_limit_count(request: Request, action: str, target: str | None = None) -> None:
    """Count the request once against each of ``action``'s limits, as Keyhouse's own
    views do; ``target`` is the canonical address or number, once the input is valid."""
    ratelimit_request(request=request, action=action, target=target)


def input_validated(serializer_class: type, request: Request) -> dict[str, Any]:
    """The request's body as ``serializer_class`` validates it; invalid, a ValidationError."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def session_response(pair: TokenPair) -> Response:
    return Response(shapes.session_body(pair))


def signin_response(result: TokenPair | MfaChallengeIssued) -> Response:
    """The end of a sign-in: its session, or an MFA-pending one for its challenge."""
    if isinstance(result, MfaChallengeIssued):
        return Response(pending_session_body(result))
    return session_response(result)
