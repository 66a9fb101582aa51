"""What every GoTrue view does: read its input, answer with a session or a sign-in."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from keyhouse.gotrue import shapes
from keyhouse.gotrue.pending import pending_session_body
from keyhouse.mfa.services.challenges import MfaChallengeIssued
from keyhouse.tokens.services import TokenPair


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
