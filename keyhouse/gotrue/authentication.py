"""Who calls the GoTrue API: an access token's session, or an MFA-pending sign-in.

An MFA-pending token (keyhouse.gotrue.pending) authenticates only here, and only on
the methods a view names in ``mfa_pending_allowed``; every other one refuses it with GoTrue's
``insufficient_aal``. It stops working once its challenge is answered, given up,
out of tries or expired.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from keyhouse.core import context
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.gotrue.pending import CHALLENGE_CLAIM, is_pending_token, pending_token_claims
from keyhouse.mfa.selectors import mfa_challenge_live
from keyhouse.tokens import jwt
from keyhouse.tokens.authentication import BearerAuthentication, TokenUser


class SecondFactorPending(KeyhouseError):
    code = "insufficient_aal"
    status = HTTPStatus.FORBIDDEN
    message = _(
        "This sign-in waits for its second factor: answer it with POST "
        "/factors/{id}/challenge and /factors/{id}/verify first."
    )


class PendingUser(TokenUser):
    """The user of an MFA-pending sign-in: no session yet, only its challenge."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.id = self.pk = uuid.UUID(claims["sub"])
        self.session_id = None
        self.claims = claims

    @property
    def challenge_id(self) -> int:
        return int(self.claims[CHALLENGE_CLAIM])


class GoTrueAuthentication(BearerAuthentication):
    """Keyhouse's bearer authentication, plus the GoTrue layer's MFA-pending tokens."""

    def authenticate(self, request: Request) -> tuple[TokenUser, dict[str, Any]] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword:
            return super().authenticate(request)
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return super().authenticate(request)
        if not is_pending_token(token):
            return super().authenticate(request)
        try:
            claims = pending_token_claims(token)
        except jwt.TokenError as exc:
            raise AuthenticationFailed(exc.message, code=exc.code) from exc
        user = PendingUser(claims)
        if not mfa_challenge_live(challenge_id=user.challenge_id, user_id=user.pk):
            raise AuthenticationFailed(
                _("This sign-in was completed, given up or expired. Sign in again."),
                code="session_revoked",
            )
        context.user_id.set(claims["sub"])
        return user, claims


class PendingSignInAllowed(BasePermission):
    """Refuse an MFA-pending sign-in on methods that do not take one (insufficient_aal)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        allowed = getattr(view, "mfa_pending_allowed", ())
        if isinstance(request.user, PendingUser) and request.method not in allowed:
            raise SecondFactorPending
        return True
