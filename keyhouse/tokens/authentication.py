"""Bearer authentication for DRF: verify the access token without a database query."""

from __future__ import annotations

import time
import uuid
from functools import cached_property, lru_cache
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from keyhouse.core import context
from keyhouse.core.exceptions import ServiceUnavailable
from keyhouse.tokens import jwt
from keyhouse.tokens.keys import Keyring, keyring, keyring_find
from keyhouse.tokens.services import access_state_read
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_active

# Access tokens verified lately, per process: a client sends one token with every
# request for its whole lifetime, and its signature need not be checked each time.
VERIFIED_TOKENS_CACHED = 4096


@lru_cache(maxsize=VERIFIED_TOKENS_CACHED)
def _verified(token: str, issuer: str, audience: str, leeway: int) -> tuple[str, dict[str, Any]]:
    """Verify ``token`` once and remember its key id and claims (errors are not kept)."""
    return jwt.decode(token, find_key=keyring_find, issuer=issuer, audience=audience, leeway=leeway)


def key_published_require(kid: str, *, ring: Keyring) -> None:
    """Refuse a token whose key ``ring`` no longer publishes: a key withdrawn after a leak
    vouches for nothing, not even for the tokens it signed before."""
    if kid not in ring.verify_keys:
        raise jwt.TokenError("token_invalid", "The access token was not signed by a known key.")


def access_token_claims(token: str) -> dict[str, Any]:
    """Verify an access token, or recall it verified, and return its claims.

    A remembered token is still refused once it expires, once its key is no longer
    published (a key withdrawn after a leak) and once its session is ended. One cache
    round trip reads both the revocation list and the keyring generation, so a key
    rotated or withdrawn by any process counts from the next request on.
    """
    leeway = settings.KEYHOUSE_JWT_LEEWAY
    kid, claims = _verified(
        token, settings.KEYHOUSE_JWT_ISSUER, settings.KEYHOUSE_JWT_AUDIENCE, leeway
    )
    if claims["exp"] <= time.time() - leeway:
        raise jwt.TokenError("token_expired", "The access token has expired.")
    state = access_state_read(
        session_id=claims["sid"] if settings.KEYHOUSE_JWT_CHECK_REVOCATION else None
    )
    key_published_require(kid, ring=keyring(generation=state.keyring_generation))
    if state.session_revoked:
        raise jwt.TokenError("session_revoked", _("The session has been signed out."))
    return dict(claims)


class TokenUser:
    """The caller named by a verified access token.

    ``id``, ``pk`` and ``session_id`` come from the token; any other attribute loads the
    user from the database on first use, so views that need only the id cost no query.
    """

    is_authenticated = True
    is_anonymous = False

    def __init__(self, claims: dict[str, Any]) -> None:
        self.id = self.pk = uuid.UUID(claims["sub"])
        self.session_id = uuid.UUID(claims["sid"])
        self.claims = claims

    @cached_property
    def user(self) -> User:
        user = user_get_active(user_id=self.pk)
        if user is None:
            raise AuthenticationFailed(
                _("The account of this token no longer exists."), code="token_invalid"
            )
        return user

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.user, name)

    def __str__(self) -> str:
        return str(self.pk)


class BearerAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>`` (RFC 6750)."""

    keyword = b"bearer"
    # How a refused token answers (401), and what else authenticating can answer: the
    # revocation list unreadable (503). The OpenAPI document declares them.
    failure_codes = ("token_invalid", "token_expired", "token_not_yet_valid", "session_revoked")
    problems = (ServiceUnavailable,)

    def authenticate(self, request: Request) -> tuple[TokenUser, dict[str, Any]] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                _("The Authorization header must be 'Bearer <token>'."), code="token_invalid"
            )
        try:
            claims = access_token_claims(parts[1].decode("ascii"))
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(
                _("The access token is malformed."), "token_invalid"
            ) from exc
        except jwt.TokenError as exc:
            raise AuthenticationFailed(exc.message, code=exc.code) from exc
        context.user_id.set(claims["sub"])
        return TokenUser(claims), claims

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="keyhouse"'
