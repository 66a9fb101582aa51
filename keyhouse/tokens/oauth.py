"""The OAuth face of Keyhouse: form-encoded token requests and authorization server metadata.

Generic OAuth clients refresh (RFC 6749 section 6) and revoke (RFC 7009) with
form-encoded requests and read errors as RFC 6749 section 5.2 spells them; they find
the endpoints in the metadata (RFC 8414). Keyhouse's apps are public clients (no
secret), all under one client id until clients can be registered.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework.request import Request

from keyhouse.core.exceptions import OAuthError

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Parameters a client may send to the token and revocation endpoints.
PARAMETERS = ("grant_type", "refresh_token", "scope", "client_id", "token", "token_type_hint")


def is_form_request(request: Request) -> bool:
    return request.content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE


def _params(data: QueryDict | dict, *, required: str) -> dict[str, str]:
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


def oauth_refresh_token(data: QueryDict) -> str:
    """The refresh token of a ``grant_type=refresh_token`` request (RFC 6749 section 6)."""
    params = _params(data, required="grant_type")
    if params["grant_type"] != "refresh_token":
        raise OAuthError(
            "unsupported_grant_type", _("This endpoint grants only grant_type=refresh_token.")
        )
    if not params.get("refresh_token"):
        raise OAuthError("invalid_request", _("The parameter refresh_token is missing."))
    if params.get("scope"):
        # Keyhouse's tokens carry no scope, so any asked for was never granted.
        raise OAuthError("invalid_scope", _("Keyhouse tokens carry no scope."))
    return params["refresh_token"]


def oauth_revoked_token(data: QueryDict) -> str:
    """The token a revocation request names (RFC 7009 section 2.1); the hint is optional."""
    return _params(data, required="token")["token"]


def authorization_server_metadata() -> dict[str, Any]:
    """Describe Keyhouse as an OAuth authorization server (RFC 8414), saying only what holds.

    The issuer is the access tokens' ``iss``. Tokens come from Keyhouse's own sign-in API,
    not from an authorization endpoint, so there is none and ``response_types_supported``
    (required) is empty; the token endpoint grants only refresh_token, to public clients
    (``none``). Nothing of OpenID Connect's own is claimed: Keyhouse issues no ID tokens.
    """
    issuer = settings.KEYHOUSE_JWT_ISSUER
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}{reverse('v1:token-refresh')}",
        "jwks_uri": f"{base}{reverse('jwks')}",
        "revocation_endpoint": f"{base}{reverse('v1:token-revoke')}",
        "grant_types_supported": ["refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "service_documentation": f"{base}{reverse('docs')}",
    }
