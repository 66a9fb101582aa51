"""The MFA-pending token: how a GoTrue sign-in that needs a second factor answers.

auth-js expects a sign-in to answer with a session, then raises it to aal2 with
``mfa.challenge`` and ``mfa.verify``. Keyhouse starts no session before the second
factor: a sign-in yields a single-use, short-lived challenge (keyhouse.mfa). The
GoTrue API answers with a GoTrue session whose access token stands for that
challenge: a JWT signed with Keyhouse's key, of its own type (``typ``) and audience,
so that Keyhouse's bearer authentication and any service that checks ``aud`` refuse
it. It names the user (``sub``), says ``aal1`` and carries the challenge's id; it
lives as long as the challenge. Its refresh token is a random value stored nowhere,
which the refresh grant refuses as it refuses any unknown token.

Only the GoTrue views' methods named in ``mfa_pending_allowed`` accept it (see
``keyhouse.gotrue.authentication``); verify answers the challenge through
``signin_second_factor`` and returns the real session.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone

from keyhouse.core.crypto import random_secret
from keyhouse.gotrue import shapes
from keyhouse.mfa.services.challenges import MfaChallengeIssued
from keyhouse.tokens import jwt as tokens_jwt
from keyhouse.tokens.authentication import key_published_require
from keyhouse.tokens.keys import keyring_current, keyring_find
from keyhouse.tokens.services import signer_current

PENDING_TOKEN_TYPE = "mfa-pending+jwt"  # noqa: S105 - a media type, not a secret
CHALLENGE_CLAIM = "mfa_challenge"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", CHALLENGE_CLAIM]


def pending_audience() -> str:
    """The audience of MFA-pending tokens: never KEYHOUSE_JWT_AUDIENCE, by construction."""
    return f"{settings.KEYHOUSE_JWT_AUDIENCE}:mfa-pending"


def is_pending_token(token: str) -> bool:
    """Whether ``token`` says it is an MFA-pending token (nothing verified yet)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return False
    return header.get("typ") == PENDING_TOKEN_TYPE


def pending_token_claims(token: str) -> dict[str, Any]:
    """Verify an MFA-pending token and return its claims, or raise TokenError.

    As for access tokens, a key no longer published (withdrawn after a leak) is refused.
    """
    kid, claims = tokens_jwt.decode(
        token,
        find_key=keyring_find,
        issuer=settings.KEYHOUSE_JWT_ISSUER,
        audience=pending_audience(),
        leeway=settings.KEYHOUSE_JWT_LEEWAY,
        typ=PENDING_TOKEN_TYPE,
        required=REQUIRED_CLAIMS,
    )
    key_published_require(kid, ring=keyring_current())
    return claims


def pending_session_body(issued: MfaChallengeIssued) -> dict:
    """A GoTrue session at aal1 whose access token stands for the sign-in's challenge."""
    signer = signer_current()
    challenge = issued.challenge
    user = shapes.user_body(challenge.user)
    issued_at = int(challenge.created_at.timestamp())
    expires_at = int(challenge.expires_at.timestamp())
    claims = {
        "iss": settings.KEYHOUSE_JWT_ISSUER,
        "aud": pending_audience(),
        "sub": user["id"],
        "iat": issued_at,
        "nbf": issued_at,
        "exp": expires_at,
        "jti": uuid.uuid4().hex,
        CHALLENGE_CLAIM: str(challenge.pk),
        "aal": "aal1",
        "amr": shapes.amr_claim(challenge.amr, challenge.created_at),
        "email": user["email"],
        "phone": user["phone"],
        "is_anonymous": False,
    }
    return {
        "access_token": tokens_jwt.encode(claims, signer=signer, typ=PENDING_TOKEN_TYPE),
        "token_type": "bearer",
        "expires_in": expires_at - int(timezone.now().timestamp()),
        "expires_at": expires_at,
        "refresh_token": random_secret(),
        "user": user,
    }
