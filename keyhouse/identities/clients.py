"""Talk to providers through Authlib: authorization URLs, code exchange, ID tokens, GitHub.

Authlib finds the endpoints by OpenID discovery, sends PKCE (S256), fetches the keys
and checks an ID token's signature and claims (iss, aud, exp, iat, azp, at_hash);
Keyhouse adds the nonce form each provider's platform SDK uses and precise errors. Every failure
to reach a provider is a 503 ``provider_unavailable``, never a 500.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jwt as pyjwt
import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from authlib.oidc.core import CodeIDToken
from django.conf import settings
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _
from joserfc import jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from keyhouse.core.exceptions import KeyhouseError, ServiceUnavailable
from keyhouse.identities.providers import (
    APPLE_ISSUER,
    GITHUB_API_URL,
    GITHUB_AUTHORIZE_URL,
    GITHUB_TOKEN_URL,
    Provider,
)

# Discovery documents and keys are fetched again after this long (and keys at once
# when a token names a key id not among them).
METADATA_TTL = 3600
# Clocks of Keyhouse and the provider may differ by this much.
ID_TOKEN_LEEWAY = 60
APPLE_SECRET_LIFETIME = 600
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class ProviderUnavailable(ServiceUnavailable):
    code = "provider_unavailable"
    message = _("The sign-in provider could not be reached. Try again shortly.")


class ProviderRefused(Exception):
    """The provider refused to exchange its code. Only the callback meets it, and sends
    the browser back to the app with its ``code`` as the error: no view answers with it."""

    code = "provider_refused"


class IdTokenInvalid(KeyhouseError):
    code = "id_token_invalid"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The ID token is malformed or its signature does not verify.")


class IdTokenExpired(IdTokenInvalid):
    code = "id_token_expired"
    message = _("The ID token has expired: sign in with the provider again.")


class IdTokenIssuerInvalid(IdTokenInvalid):
    code = "id_token_issuer_invalid"
    message = _("The ID token was issued by another issuer than this provider.")


class IdTokenAudienceInvalid(IdTokenInvalid):
    code = "id_token_audience_invalid"
    message = _("The ID token was issued to a client id Keyhouse does not accept.")


class NonceMissing(IdTokenInvalid):
    code = "nonce_missing"
    message = _("A nonce is needed: send the one given to the provider's SDK.")


class NonceMismatch(IdTokenInvalid):
    code = "nonce_mismatch"
    message = _("The nonce does not match the ID token's.")


ID_TOKEN_ERRORS = (
    IdTokenInvalid,
    IdTokenExpired,
    IdTokenIssuerInvalid,
    IdTokenAudienceInvalid,
    NonceMissing,
    NonceMismatch,
)


@dataclass(frozen=True)
class Profile:
    """What a provider vouches for about a person."""

    provider: str
    subject: str
    email: str
    email_verified: bool
    name: str = ""


_clients: dict[Provider, tuple[float, DjangoOAuth2App]] = {}


def _client(provider: Provider) -> DjangoOAuth2App:
    """The provider's Authlib client, which caches discovery and keys for METADATA_TTL."""
    made_at, client = _clients.get(provider, (0.0, None))
    if client is None or time.monotonic() - made_at > METADATA_TTL:
        urls: dict[str, str] = {}
        if provider.kind == "github":
            urls = {
                "authorize_url": GITHUB_AUTHORIZE_URL,
                "access_token_url": GITHUB_TOKEN_URL,
                "api_base_url": GITHUB_API_URL,
            }
        else:
            discovery = f"{provider.issuer.rstrip('/')}/.well-known/openid-configuration"
            urls = {"server_metadata_url": discovery}
        client = DjangoOAuth2App(
            DjangoIntegration(provider.name),
            name=provider.name,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            authorize_params=dict(provider.authorize_params),
            client_kwargs={
                "scope": provider.scopes,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": provider.token_endpoint_auth_method,
                "default_timeout": settings.KEYHOUSE_OAUTH_HTTP_TIMEOUT,
            },
            **urls,
        )
        _clients[provider] = (time.monotonic(), client)
    return client


def _reaching(provider: Provider, action: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an Authlib call that talks to the provider; turn its failures into Keyhouse's."""
    try:
        return action(*args, **kwargs)
    except AuthlibBaseError as exc:
        raise ProviderRefused(exc.description or exc.error) from exc
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as exc:
        _clients.pop(provider, None)
        raise ProviderUnavailable from exc


def authorization_url(
    provider: Provider, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
) -> str:
    """The provider's authorization URL for this sign-in, with PKCE S256 and the nonce."""
    extra = {"nonce": nonce} if provider.id_tokens else {}
    created = _reaching(
        provider,
        _client(provider).create_authorization_url,
        redirect_uri,
        state=state,
        code_verifier=code_verifier,
        **extra,
    )
    return created["url"]


def apple_client_secret(provider: Provider) -> str:
    """Apple's client secret: a short-lived ES256 JWT signed with the developer's key file."""
    team_id, key_id, key_file = provider.apple_key
    now = int(time.time())
    claims = {
        "iss": team_id,
        "iat": now,
        "exp": now + APPLE_SECRET_LIFETIME,
        "aud": APPLE_ISSUER,
        "sub": provider.client_id,
    }
    key = Path(key_file).read_text()
    return pyjwt.encode(claims, key, algorithm="ES256", headers={"kid": key_id})


def code_exchange(
    provider: Provider, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
) -> Profile:
    """Exchange the provider's code at its token endpoint; return who signed in.

    An OpenID provider's ID token is checked against the nonce sent; GitHub, which has
    none, is asked for the user and its verified addresses.
    """
    client = _client(provider)
    if provider.apple_key:
        client.client_secret = apple_client_secret(provider)
    token = _reaching(
        provider,
        client.fetch_access_token,
        redirect_uri=redirect_uri,
        code=code,
        code_verifier=code_verifier,
    )
    if provider.kind == "github":
        return _github_profile(provider, token)
    if "id_token" not in token:
        raise ProviderRefused("The provider sent no ID token: is 'openid' among the scopes?")
    claims = id_token_verify(
        provider,
        id_token=token["id_token"],
        nonce=nonce,
        access_token=token.get("access_token"),
    )
    return _profile(provider, claims)


_key_sets: dict[Provider, tuple[dict[str, Any], KeySet]] = {}


def _jwks(provider: Provider, *, force: bool = False) -> KeySet:
    """The provider's keys, imported again only when Authlib fetched a new set."""
    jwk_set = _reaching(provider, _client(provider).fetch_jwk_set, force=force)
    fetched, key_set = _key_sets.get(provider, (None, None))
    if fetched is not jwk_set or key_set is None:
        key_set = KeySet.import_key_set(jwk_set)
        _key_sets[provider] = (jwk_set, key_set)
    return key_set


def _nonce_check(
    provider: Provider, claims: dict[str, Any], nonce: str | None, *, hashed: bool
) -> None:
    """Match the sent nonce with the token's, in the one form the token holds it.

    Sign in with Apple's SDK puts the SHA-256 (hex) of the app's raw nonce in the
    request, so the ID token holds the hash and the app sends the raw value; Google's
    SDKs pass the nonce through as it is. Only that form is accepted (``hashed``): were
    the claim itself accepted too, anyone holding a hashed-nonce token could replay it
    with the nonce it shows.
    """
    in_token = claims.get("nonce")
    if not nonce:
        if in_token or provider.nonce_required:
            raise NonceMissing
        return
    if not isinstance(in_token, str):
        raise NonceMismatch(_("The ID token carries no nonce, but one was sent."))
    if not hashed:
        if not constant_time_compare(in_token, nonce):
            raise NonceMismatch
        return
    if not constant_time_compare(in_token, hashlib.sha256(nonce.encode()).hexdigest()):
        raise NonceMismatch(
            _("The nonce's SHA-256 does not match the ID token's: send the raw nonce.")
        )


def id_token_verify(
    provider: Provider,
    *,
    id_token: str,
    nonce: str | None,
    nonce_hashed: bool = False,
    access_token: str | None = None,
) -> dict[str, Any]:
    """Verify an ID token's signature with the provider's keys and its claims; return them.

    The audience is any of the provider's accepted client ids (web, iOS, Android). With
    ``access_token`` (the browser flow) its ``at_hash`` is checked, and ``azp`` must be
    Keyhouse's client id. ``nonce_hashed`` says the token holds the SHA-256 of ``nonce``.
    """
    registry = JWSRegistry(algorithms=ID_TOKEN_ALGORITHMS)
    try:
        try:
            token = jwt.decode(id_token, key=_jwks(provider), registry=registry)
        except InvalidKeyIdError:  # the provider rotated its keys since they were fetched
            token = jwt.decode(id_token, key=_jwks(provider, force=True), registry=registry)
    except (JoseError, ValueError, TypeError) as exc:
        raise IdTokenInvalid from exc
    params: dict[str, Any] = {}
    if access_token:
        params = {"access_token": access_token, "client_id": provider.client_id}
    options = {
        "iss": {"essential": True, "values": list(provider.issuers)},
        "aud": {"essential": True, "values": list(provider.audiences)},
    }
    claims = CodeIDToken(token.claims, token.header, options, params)
    try:
        claims.validate(leeway=ID_TOKEN_LEEWAY)
    except ExpiredTokenError as exc:
        raise IdTokenExpired from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        error = {"iss": IdTokenIssuerInvalid, "aud": IdTokenAudienceInvalid}.get(
            exc.claim, IdTokenInvalid
        )
        raise error(
            None
            if error is not IdTokenInvalid
            else _("The ID token's %s claim is wrong.") % exc.claim
        ) from exc
    except JoseError as exc:
        raise IdTokenInvalid from exc
    _nonce_check(provider, claims, nonce, hashed=nonce_hashed)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdTokenInvalid(_("The ID token names no subject."))
    return dict(claims)


def _truthy(value: Any) -> bool:
    """An ``email_verified`` claim: true, or "true" as Apple writes it."""
    return value is True or value == "true"


def _profile(provider: Provider, claims: dict[str, Any]) -> Profile:
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    name = claims.get("name") if isinstance(claims.get("name"), str) else ""
    return Profile(
        provider=provider.name,
        subject=claims["sub"],
        email=email[:254],
        email_verified=bool(email) and _truthy(claims.get("email_verified")),
        name=name[:150],
    )


def id_token_profile(provider: Provider, *, id_token: str, nonce: str | None) -> Profile:
    """Who an ID token from a platform SDK (the native flow) says signed in: the nonce
    in the form the provider's SDK puts it in the token. (The browser flow's nonce is
    Keyhouse's own, sent raw in the authorization request and compared raw.)"""
    claims = id_token_verify(
        provider, id_token=id_token, nonce=nonce, nonce_hashed=provider.nonce_hashed
    )
    return _profile(provider, claims)


def _github_profile(provider: Provider, token: dict[str, Any]) -> Profile:
    """GitHub's user and its primary address, verified only if GitHub says so.

    GitHub is OAuth 2.0 without OpenID Connect: its API is the only source, and the
    address on the profile may be unverified or hidden, so /user/emails decides.
    """
    client = _client(provider)

    def get(path: str) -> Any:
        response = client.get(path, token=token)
        response.raise_for_status()
        return response.json()

    user = _reaching(provider, get, "user")
    emails = _reaching(provider, get, "user/emails")
    if not isinstance(user, dict) or "id" not in user or not isinstance(emails, list):
        raise ProviderUnavailable
    primary = next(
        (entry for entry in emails if isinstance(entry, dict) and entry.get("primary")), {}
    )
    email = str(primary.get("email") or "")
    return Profile(
        provider=provider.name,
        subject=str(user["id"]),
        email=email[:254],
        email_verified=bool(email) and primary.get("verified") is True,
        name=str(user.get("name") or user.get("login") or "")[:150],
    )
