"""The OAuth face of Keyhouse: form-encoded token requests and authorization server metadata.

Generic OAuth clients refresh (RFC 6749 section 6) and revoke (RFC 7009) with
form-encoded requests and read errors as RFC 6749 section 5.2 spells them; they find
the endpoints in the metadata (RFC 8414). Keyhouse's apps are public clients (no
secret), all under one client id until clients can be registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework.request import Request
from rest_framework.response import Response

from keyhouse.core.exceptions import OAuthError

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Parameters a client may send to the token and revocation endpoints.
PARAMETERS = (
    "grant_type",
    "refresh_token",
    "scope",
    "client_id",
    "token",
    "token_type_hint",
    "code",
    "code_verifier",
    "redirect_uri",
    "refresh_token_transport",
)
# Grants that other apps add to the token endpoint, by grant_type: each reads the form
# with ``oauth_params`` and answers the request. refresh_token is the endpoint's own.
GRANT_HANDLERS: dict[str, Callable[[Request], Response]] = {}


def is_form_request(request: Request) -> bool:
    return request.content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE


def oauth_params(data: QueryDict | dict, *, required: str) -> dict[str, str]:
    """Read an OAuth form: each parameter at most once (RFC 6749 section 3.2), ``required``
    present, and ``client_id``, when sent, a client Keyhouse knows."""
    if not isinstance(data, QueryDict):
        data = QueryDict()  # an empty body, which DRF parses to {}
    for name in PARAMETERS:
        if len(data.getlist(name)) > 1:
            raise OAuthError("invalid_request", _("The parameter %s is repeated.") % name)
    if not data.get(required):
        raise OAuthError("invalid_request", _("The parameter %s is missing.") % required)
    client_id = data.get("client_id")
    if client_id and client_id != settings.KEYHOUSE_DEFAULT_CLIENT_ID:
        raise OAuthError("invalid_client", _("The client is not known."))
    return {name: data[name] for name in PARAMETERS if name in data}


def oauth_grant_type(data: QueryDict) -> str:
    """The grant_type of a token request, one the endpoint grants."""
    grant_type = oauth_params(data, required="grant_type")["grant_type"]
    if grant_type != "refresh_token" and grant_type not in GRANT_HANDLERS:
        granted = ", ".join(grant_types_supported())
        raise OAuthError(
            "unsupported_grant_type", _("This endpoint grants only grant_type %s.") % granted
        )
    return grant_type


def grant_types_supported() -> list[str]:
    return [*GRANT_HANDLERS, "refresh_token"]


def oauth_refresh_token(data: QueryDict) -> str:
    """The refresh token of a ``grant_type=refresh_token`` request (RFC 6749 section 6)."""
    params = oauth_params(data, required="grant_type")
    if not params.get("refresh_token"):
        raise OAuthError("invalid_request", _("The parameter refresh_token is missing."))
    if params.get("scope"):
        # Keyhouse's tokens carry no scope, so any asked for was never granted.
        raise OAuthError("invalid_scope", _("Keyhouse tokens carry no scope."))
    return params["refresh_token"]


def oauth_revoked_token(data: QueryDict) -> str:
    """The token a revocation request names (RFC 7009 section 2.1); the hint is optional."""
    return oauth_params(data, required="token")["token"]


def authorization_server_metadata() -> dict[str, Any]:
    """Describe Keyhouse as an OAuth authorization server (RFC 8414), saying only what holds.

    The issuer is the access tokens' ``iss``. Tokens come from Keyhouse's own sign-in API,
    not from an authorization endpoint, so there is none and ``response_types_supported``
    (required) is empty; the token endpoint grants refresh_token and the grants other apps
    add (authorization_code, for the one-time codes of sign-in with a provider, always
    with PKCE S256), to public clients (``none``). Nothing of OpenID Connect's own is
    claimed: Keyhouse issues no ID tokens.
    """
    issuer = settings.KEYHOUSE_JWT_ISSUER
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}{reverse('v1:token-refresh')}",
        "jwks_uri": f"{base}{reverse('jwks')}",
        "revocation_endpoint": f"{base}{reverse('v1:token-revoke')}",
        "grant_types_supported": grant_types_supported(),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        **(
            {"code_challenge_methods_supported": ["S256"]}
            if "authorization_code" in GRANT_HANDLERS
            else {}
        ),
        "service_documentation": f"{base}{reverse('docs')}",
    }
