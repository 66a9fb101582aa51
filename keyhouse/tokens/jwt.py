"""Encode and decode access tokens (RFC 9068 JWTs). Pure: no database, no cache.

Decoding trusts nothing in the token before the signature is checked: the ``kid``
picks one of our keys, and that key's own algorithm is the only one accepted, which
rules out ``alg: none`` and HS256-with-the-public-key confusion (RFC 8725 section 3.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt

from keyhouse.tokens.keys import Signer, VerifyKey

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type (RFC 9068), not a secret
REQUIRED_CLAIMS = ["iss", "aud", "sub", "sid", "iat", "exp", "jti"]


class TokenError(Exception):
    """A token that must be refused; ``code`` says why, in the API's error vocabulary."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def encode(claims: dict[str, Any], *, signer: Signer, typ: str = ACCESS_TOKEN_TYPE) -> str:
    """Sign ``claims``; ``typ`` names another kind of token than an access token."""
    return jwt.encode(
        claims,
        signer.private_key,
        algorithm=signer.algorithm,
        headers={"kid": signer.kid, "typ": typ},
    )


def decode(
    token: str,
    *,
    find_key: Callable[[str], VerifyKey | None],
    issuer: str,
    audience: str,
    leeway: int,
    typ: str = ACCESS_TOKEN_TYPE,
    required: list[str] = REQUIRED_CLAIMS,
) -> tuple[str, dict[str, Any]]:
    """Verify an access token (or a token of type ``typ`` with the ``required`` claims)
    and return the id of its key and its claims, or raise TokenError."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise TokenError("token_invalid", "The access token is malformed.") from exc
    kid = header.get("kid")
    key = find_key(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenError("token_invalid", "The access token was not signed by a known key.")
    if header.get("typ") != typ:
        raise TokenError("token_invalid", "This is not an access token.")
    try:
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=[key.algorithm],
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token_expired", "The access token has expired.") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenError("token_not_yet_valid", "The access token is not valid yet.") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("token_invalid", "The access token is invalid.") from exc
    return kid, claims
