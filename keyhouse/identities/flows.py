"""The browser flow: to the provider with state and PKCE, back with a one-time Keyhouse code.

``oauth_authorize_start`` keeps the sign-in's state server-side (only its keyed hash, 10
minutes, single use) and sends the browser to the provider; ``oauth_callback`` spends the
state, exchanges the provider's code, and sends the browser back to the app with a
Keyhouse code of its own, which the app redeems with its PKCE verifier (RFC 7636). No
token ever travels in a URL.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.crypto import decrypt, encrypt, keyed_hash, random_secret
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.identities.clients import (
    Profile,
    ProviderRefused,
    authorization_url,
    code_exchange,
)
from keyhouse.identities.models import OAuthCode, OAuthState
from keyhouse.identities.providers import Provider, provider_get
from keyhouse.users.models import User

STATE_TTL = 10 * 60
CODE_TTL = 2 * 60
STATE_SALT = "keyhouse.identities.state"
CODE_SALT = "keyhouse.identities.code"
VERIFIER_PURPOSE = "keyhouse.identities.verifier"
# RFC 7636 section 4.1: 43 to 128 unreserved characters; a S256 challenge is 43.
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
# What a provider's error parameter may carry back to the app.
ERROR_CODE = re.compile(r"[a-z_]{1,64}")
# What a redirect_to may not hold: C0 controls, space, DEL and the backslash.
UNSAFE_URL_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


class ProviderNotFound(KeyhouseError):
    code = "provider_not_found"
    status = HTTPStatus.NOT_FOUND
    message = _("No such sign-in provider is configured.")


class RedirectNotAllowed(KeyhouseError):
    code = "redirect_not_allowed"
    status = HTTPStatus.BAD_REQUEST
    message = _(
        "redirect_to must be an http(s) URL without user info or fragment, on an allowed "
        "origin, and one of the allowed redirect URIs when Keyhouse lists them."
    )


class CodeChallengeInvalid(KeyhouseError):
    code = "code_challenge_invalid"
    status = HTTPStatus.BAD_REQUEST
    message = _("code_challenge must be an S256 challenge: 43 base64url characters.")


class OAuthStateInvalid(KeyhouseError):
    code = "oauth_state_invalid"
    status = HTTPStatus.BAD_REQUEST
    message = _("This sign-in is unknown, expired or already finished. Start again from the app.")


class OAuthCodeInvalid(KeyhouseError):
    code = "oauth_code_invalid"
    status = HTTPStatus.BAD_REQUEST
    message = _("The code is unknown, expired, used, or its verifier does not match.")


def provider_require(name: str) -> Provider:
    provider = provider_get(name)
    if provider is None:
        raise ProviderNotFound
    return provider


def redirect_check(redirect_to: str) -> None:
    """Refuse to send a code anywhere but to an exactly allowed place (RFC 9700 4.1.3).

    ``redirect_to`` is an absolute http(s) URL without user info or fragment, whose
    origin is one of CORS_ALLOWED_ORIGINS as written (a family of
    CORS_ALLOWED_ORIGIN_REGEXES receives no code); with KEYHOUSE_OAUTH_REDIRECT_URIS
    set, it is one of those URLs, character for character. Whitespace, controls and
    backslashes are refused outright: browsers and Python's parser read them apart.
    """
    exact = settings.KEYHOUSE_OAUTH_REDIRECT_URIS
    if (exact and redirect_to not in exact) or UNSAFE_URL_CHARACTERS.search(redirect_to):
        raise RedirectNotAllowed
    try:
        url = urlsplit(redirect_to)
    except ValueError as exc:
        raise RedirectNotAllowed from exc
    if url.scheme not in ("http", "https") or "@" in url.netloc or "#" in redirect_to:
        raise RedirectNotAllowed
    if f"{url.scheme}://{url.netloc}" not in settings.CORS_ALLOWED_ORIGINS:
        raise RedirectNotAllowed


def callback_uri(provider: Provider) -> str:
    """The redirect URI registered at the provider: under Keyhouse's public address."""
    path = reverse("v1:oauth-callback", kwargs={"provider": provider.name})
    return f"{settings.KEYHOUSE_JWT_ISSUER.rstrip('/')}{path}"


def pkce_challenge_check(code_challenge: str) -> None:
    if not PKCE_CHALLENGE.fullmatch(code_challenge):
        raise CodeChallengeInvalid


def oauth_authorize_start(
    *,
    provider: Provider,
    redirect_to: str,
    code_challenge: str,
    app_state: str = "",
    user: User | None = None,
    add_signs_in: bool = False,
) -> str:
    """Start a browser sign-in (or, with ``user``, the adding of an identity, which with
    ``add_signs_in`` ends in a sign-in); return the provider's URL to send the browser to."""
    redirect_check(redirect_to)
    pkce_challenge_check(code_challenge)
    state, verifier, nonce = random_secret(), random_secret(48), random_secret(16)
    url = authorization_url(
        provider,
        redirect_uri=callback_uri(provider),
        state=state,
        nonce=nonce,
        code_verifier=verifier,
    )
    OAuthState.objects.create(
        state_hash=keyed_hash(state, salt=STATE_SALT),
        provider=provider.name,
        redirect_to=redirect_to,
        app_state=app_state,
        code_challenge=code_challenge,
        code_verifier=encrypt(verifier.encode(), purpose=VERIFIER_PURPOSE),
        nonce=nonce,
        user=user,
        add_signs_in=add_signs_in,
        expires_at=timezone.now() + timedelta(seconds=STATE_TTL),
    )
    return url


def _state_spend(*, provider_name: str, state: str) -> OAuthState:
    """Mark a live state used, once: a replayed, expired or foreign state is refused."""
    now = timezone.now()
    states = OAuthState.objects.filter(
        state_hash=keyed_hash(state, salt=STATE_SALT), provider=provider_name
    )
    if not states.filter(used_at__isnull=True, expires_at__gt=now).update(used_at=now):
        raise OAuthStateInvalid
    return states.get()


def _back_to_app(flow: OAuthState, **params: str) -> str:
    if flow.app_state:
        params["state"] = flow.app_state
    return add_params_to_uri(flow.redirect_to, params)


def _apple_name(user_param: str) -> str:
    """The name Apple posts back, on the first sign-in only, as JSON in ``user``."""
    try:
        name = json.loads(user_param).get("name", {})
        return f"{name.get('firstName', '')} {name.get('lastName', '')}".strip()[:150]
    except (ValueError, AttributeError, TypeError):
        return ""


def oauth_callback(*, provider_name: str, params: dict[str, Any], client: ClientInfo) -> str:
    """Finish at Keyhouse what the provider answered; return where to send the browser.

    A state that is unknown, used or expired is refused outright (there is no trusted
    place to go back to). Anything else goes back to the app: a Keyhouse code, or
    ``error`` with the reason (the provider's own, or Keyhouse's error code).
    """
    flow = _state_spend(provider_name=provider_name, state=str(params.get("state") or ""))
    error = str(params.get("error") or "")
    provider = provider_get(provider_name)
    if error or provider is None or not params.get("code"):
        reason = error if ERROR_CODE.fullmatch(error) else "provider_error"
        reason = ProviderNotFound.code if provider is None else reason
        _failed(provider_name, reason, client)
        return _back_to_app(flow, error=reason)
    try:
        verifier = decrypt(flow.code_verifier, purpose=VERIFIER_PURPOSE).decode()
    except InvalidToken:  # SECRET_KEY changed, without the old one as a fallback
        _failed(provider_name, OAuthStateInvalid.code, client)
        return _back_to_app(flow, error=OAuthStateInvalid.code)
    try:
        profile = code_exchange(
            provider,
            code=str(params["code"]),
            redirect_uri=callback_uri(provider),
            code_verifier=verifier,
            nonce=flow.nonce,
        )
    except (KeyhouseError, ProviderRefused) as exc:
        _failed(provider_name, exc.code, client)
        return _back_to_app(flow, error=exc.code)
    code = random_secret()
    OAuthCode.objects.create(
        code_hash=keyed_hash(code, salt=CODE_SALT),
        code_challenge=flow.code_challenge,
        redirect_to=flow.redirect_to,
        provider=profile.provider,
        subject=profile.subject,
        email=profile.email,
        email_verified=profile.email_verified,
        name=profile.name or _apple_name(str(params.get("user") or "")),
        user=flow.user,
        add_signs_in=flow.add_signs_in,
        expires_at=timezone.now() + timedelta(seconds=CODE_TTL),
    )
    return _back_to_app(flow, code=code)


def _failed(provider_name: str, reason: str, client: ClientInfo) -> None:
    audit_record(
        type=AuditEvent.Type.LOGIN_FAILED,
        client=client,
        detail={"method": "fed", "provider": provider_name, "reason": reason},
    )


def oauth_code_redeem(
    *, code: str, code_verifier: str, redirect_uri: str | None, user_id: Any = None
) -> Profile:
    """Spend a Keyhouse code with its PKCE verifier; return the profile it holds.

    The code is spent by the first try, right or wrong, so a stolen code buys one guess
    at the verifier. ``user_id`` is the signed-in user finishing the adding of an
    identity; a sign-in's code (no user) is redeemed without one.
    """
    now = timezone.now()
    with transaction.atomic():
        record = (
            OAuthCode.objects.select_for_update()
            .filter(code_hash=keyed_hash(code, salt=CODE_SALT), used_at__isnull=True)
            .first()
        )
        if record is None:
            raise OAuthCodeInvalid
        record.used_at = now
        record.save(update_fields=["used_at"])
    verifier_ok = PKCE_VERIFIER.fullmatch(code_verifier) and secrets.compare_digest(
        create_s256_code_challenge(code_verifier), record.code_challenge
    )
    if (
        record.expires_at <= now
        or not verifier_ok
        or (redirect_uri and redirect_uri != record.redirect_to)
        or record.user_id != user_id
    ):
        raise OAuthCodeInvalid
    return Profile(
        provider=record.provider,
        subject=record.subject,
        email=record.email,
        email_verified=record.email_verified,
        name=record.name,
    )


def oauth_code_owner(*, code: str) -> Any:
    """The id of the signed-in user who started the live code's adding of an identity
    that ends in a sign-in, or None for any other code."""
    return (
        OAuthCode.objects.filter(
            code_hash=keyed_hash(code, salt=CODE_SALT),
            add_signs_in=True,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .values_list("user_id", flat=True)
        .first()
    )


def oauth_purge_expired(*, now: Any) -> int:
    """Delete states and codes past their end; return how many."""
    states, _by_model = OAuthState.objects.filter(expires_at__lt=now).delete()
    codes, _by_model = OAuthCode.objects.filter(expires_at__lt=now).delete()
    return states + codes
