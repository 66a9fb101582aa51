"""The providers Keyhouse signs in with, read from the settings when asked for.

Google, Apple and GitHub have settings of their own; any other OpenID Connect provider
is named in KEYHOUSE_OIDC_PROVIDERS by its issuer. A provider is a frozen value, so the
Authlib client made for it (which caches the discovery document and the keys) is kept
per process and made anew when the settings change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
APPLE_ISSUER = "https://appleid.apple.com"
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"  # noqa: S105 - a URL
GITHUB_API_URL = "https://api.github.com/"
NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
# Names a provider may not take: the paths beside /auth/oauth/{provider}/, and the
# RFC 8176 values that share an access token's amr with the provider's name.
RESERVED_NAMES = frozenset(
    {"link", "providers", "fed", "pwd", "otp", "sms", "mfa", "hwk", "swk", "pin", "tel"}
    | {"user", "face", "fpt", "geo", "iris", "kba", "mca", "pop", "rba", "retina", "sc"}
    | {"vbm", "wia"}
)
GENERIC_OPTIONS = frozenset(
    {"issuer", "client_id", "client_secret", "scopes", "audiences", "display_name"}
    | {"nonce_required", "nonce_hashed", "token_endpoint_auth_method"}
)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


@dataclass(frozen=True)
class Provider:
    """One provider's settings. ``kind`` is "oidc" (ID tokens) or "github" (its API)."""

    name: str
    display_name: str
    kind: str
    client_id: str
    client_secret: str = ""
    issuer: str = ""
    # The iss values its ID tokens may carry: the issuer, and an alias Google still uses.
    issuers: tuple[str, ...] = ()
    scopes: str = ""
    # Client ids whose ID tokens the native flow accepts: the web one first.
    audiences: tuple[str, ...] = ()
    nonce_required: bool = False
    # Whether its native SDK puts the SHA-256 (hex) of the app's raw nonce in the ID token,
    # as Sign in with Apple does, rather than the raw nonce, as Google Sign-In does.
    nonce_hashed: bool = False
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105 - a method's name
    authorize_params: tuple[tuple[str, str], ...] = ()
    # Apple's client secret is a JWT signed with this key: (team id, key id, key file).
    apple_key: tuple[str, str, str] | None = field(default=None)

    @property
    def id_tokens(self) -> bool:
        """Whether the provider issues ID tokens, which the native flow needs."""
        return self.kind == "oidc"


def _google() -> Provider | None:
    client_id = settings.KEYHOUSE_GOOGLE_CLIENT_ID
    if not client_id:
        return None
    return Provider(
        name="google",
        display_name="Google",
        kind="oidc",
        client_id=client_id,
        client_secret=settings.KEYHOUSE_GOOGLE_CLIENT_SECRET,
        issuer=GOOGLE_ISSUERS[0],
        issuers=GOOGLE_ISSUERS,
        scopes=settings.KEYHOUSE_GOOGLE_SCOPES,
        audiences=(client_id, *settings.KEYHOUSE_GOOGLE_AUDIENCES),
    )


def _apple() -> Provider | None:
    client_id = settings.KEYHOUSE_APPLE_CLIENT_ID
    if not client_id:
        return None
    key = (
        settings.KEYHOUSE_APPLE_TEAM_ID,
        settings.KEYHOUSE_APPLE_KEY_ID,
        settings.KEYHOUSE_APPLE_PRIVATE_KEY_FILE,
    )
    if not all(key):
        raise ImproperlyConfigured(
            "KEYHOUSE_APPLE_CLIENT_ID needs KEYHOUSE_APPLE_TEAM_ID, KEYHOUSE_APPLE_KEY_ID "
            "and KEYHOUSE_APPLE_PRIVATE_KEY_FILE: Apple's client secret is signed with that key."
        )
    return Provider(
        name="apple",
        display_name="Apple",
        kind="oidc",
        client_id=client_id,
        issuer=APPLE_ISSUER,
        issuers=(APPLE_ISSUER,),
        scopes=settings.KEYHOUSE_APPLE_SCOPES,
        audiences=(client_id, *settings.KEYHOUSE_APPLE_AUDIENCES),
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method's name
        # Apple posts the answer back when the name or email is asked for.
        authorize_params=(("response_mode", "form_post"),),
        apple_key=key,
        nonce_hashed=True,
    )


def _github() -> Provider | None:
    client_id = settings.KEYHOUSE_GITHUB_CLIENT_ID
    if not client_id:
        return None
    return Provider(
        name="github",
        display_name="GitHub",
        kind="github",
        client_id=client_id,
        client_secret=settings.KEYHOUSE_GITHUB_CLIENT_SECRET,
        scopes=settings.KEYHOUSE_GITHUB_SCOPES,
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method's name
    )


def _generic(name: str, options: Any) -> Provider:
    where = f"KEYHOUSE_OIDC_PROVIDERS[{name!r}]"
    if not NAME.fullmatch(name) or name in RESERVED_NAMES or name in ("google", "apple", "github"):
        raise ImproperlyConfigured(
            f"{where}: a name is lowercase letters, digits and '-', at most 32, starting "
            "with a letter, and not google, apple, github or a reserved word."
        )
    if not isinstance(options, dict) or not options.get("issuer") or not options.get("client_id"):
        raise ImproperlyConfigured(f"{where} needs at least an issuer and a client_id.")
    unknown = set(options) - GENERIC_OPTIONS
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown options: {', '.join(sorted(unknown))}.")
    method = options.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise ImproperlyConfigured(f"{where}: token_endpoint_auth_method is one of {AUTH_METHODS}.")
    audiences = options.get("audiences", [])
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise ImproperlyConfigured(f"{where}: audiences is a list of client ids.")
    issuer = str(options["issuer"])
    return Provider(
        name=name,
        display_name=str(options.get("display_name") or name),
        kind="oidc",
        client_id=str(options["client_id"]),
        client_secret=str(options.get("client_secret", "")),
        issuer=issuer,
        issuers=(issuer,),
        scopes=str(options.get("scopes") or "openid email profile"),
        audiences=(str(options["client_id"]), *audiences),
        nonce_required=bool(options.get("nonce_required", False)),
        nonce_hashed=bool(options.get("nonce_hashed", False)),
        token_endpoint_auth_method=method,
    )


def providers_configured() -> dict[str, Provider]:
    """Every provider the settings turn on, by name; ImproperlyConfigured if one is wrong."""
    providers = {
        provider.name: provider for provider in (_google(), _apple(), _github()) if provider
    }
    generic = settings.KEYHOUSE_OIDC_PROVIDERS
    if not isinstance(generic, dict):
        raise ImproperlyConfigured("KEYHOUSE_OIDC_PROVIDERS is a JSON object of providers by name.")
    for name, options in generic.items():
        providers[name] = _generic(name, options)
    return providers


def provider_get(name: str) -> Provider | None:
    return providers_configured().get(name)
