"""GoTrue's social sign-in under /auth/v1/, over ``keyhouse.identities``.

``GET /authorize`` starts Keyhouse's browser flow (PKCE only), whose callback sends the
browser back to ``redirect_to`` with ``?code=``; ``POST /token?grant_type=pkce`` redeems
that code with the app's verifier, and ``grant_type=id_token`` is the native flow. The
identities of a signed-in user are added through ``GET /user/identities/authorize`` and
removed through ``DELETE /user/identities/{id}``. Every rule (allowed redirects, linking
with proof, the last way to sign in, recent authentication) is the identities app's.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from keyhouse.core.fields import StrictCharField
from keyhouse.core.http import client_info
from keyhouse.core.ratelimit import ratelimit_request
from keyhouse.gotrue.common import input_validated, signin_response
from keyhouse.gotrue.views import GoTrueApi, GoTrueRefused, PublicGoTrueApi
from keyhouse.gotrue.views import TokenApi as BaseTokenApi
from keyhouse.identities.flows import oauth_authorize_start, provider_require
from keyhouse.identities.serializers import ID_TOKEN_MAX_LENGTH
from keyhouse.identities.services import (
    identity_add_with_code_and_sign_in,
    identity_remove,
    identity_sign_in_with_code,
    identity_sign_in_with_id_token,
)
from keyhouse.mfa.services.assurance import reauthentication_require
from keyhouse.users.models import User

PKCE_ONLY = _(
    "Keyhouse serves the PKCE flow only (no tokens in URLs): create the client with "
    "flowType: 'pkce'."
)


class GoTrueAuthorizeQuerySerializer(serializers.Serializer):
    """What auth-js's signInWithOAuth and linkIdentity put in the URL (flowType 'pkce')."""

    provider = StrictCharField(max_length=32)
    redirect_to = StrictCharField(max_length=2048)
    code_challenge = serializers.CharField(max_length=128, required=False)
    code_challenge_method = serializers.CharField(max_length=16, required=False)
    skip_http_redirect = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        method = attrs.get("code_challenge_method", "s256").lower()
        if "code_challenge" not in attrs or method != "s256":
            raise serializers.ValidationError({"code_challenge": [PKCE_ONLY]})
        return attrs


class GoTruePkceGrantInputSerializer(serializers.Serializer):
    auth_code = StrictCharField(max_length=256)
    code_verifier = StrictCharField(max_length=128)


class GoTrueIdTokenGrantInputSerializer(serializers.Serializer):
    provider = StrictCharField(max_length=32)
    id_token = StrictCharField(max_length=ID_TOKEN_MAX_LENGTH)
    nonce = StrictCharField(max_length=512, required=False, allow_blank=True, allow_null=True)
    link_identity = serializers.BooleanField(default=False)


def _authorize(data: dict[str, Any], user: User | None = None) -> Any:
    """The provider's URL: as a redirect, or as JSON when auth-js asks for it (linkIdentity)."""
    url = oauth_authorize_start(
        provider=provider_require(data["provider"]),
        redirect_to=data["redirect_to"],
        code_challenge=data["code_challenge"],
        user=user,
        add_signs_in=user is not None,
    )
    if data["skip_http_redirect"]:
        return Response({"url": url}, headers={"Cache-Control": "no-store"})
    return HttpResponseRedirect(url, headers={"Cache-Control": "no-store"})


def _query(request: Request) -> dict[str, Any]:
    serializer = GoTrueAuthorizeQuerySerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(exclude=True)
class AuthorizeApi(PublicGoTrueApi):
    """Where signInWithOAuth sends the browser: on to the provider."""

    def get(self, request: Request) -> Any:
        ratelimit_request(request=request, action="oauth_authorize")
        return _authorize(_query(request))


@extend_schema(exclude=True)
class TokenApi(BaseTokenApi):
    """The token endpoint, with the grants that finish a social sign-in."""

    def post(self, request: Request) -> Response:
        grant = request.query_params.get("grant_type")
        if grant == "pkce":
            return self._pkce(request)
        if grant == "id_token":
            return self._id_token(request)
        return super().post(request)

    def _pkce(self, request: Request) -> Response:
        ratelimit_request(request=request, action="token_refresh")
        data = input_validated(GoTruePkceGrantInputSerializer, request)
        code, verifier, client = data["auth_code"], data["code_verifier"], client_info(request)
        result = identity_add_with_code_and_sign_in(
            code=code, code_verifier=verifier, client=client
        ) or identity_sign_in_with_code(
            code=code, code_verifier=verifier, redirect_uri=None, client=client
        )
        return signin_response(result)

    def _id_token(self, request: Request) -> Response:
        ratelimit_request(request=request, action="oauth_id_token")
        data = input_validated(GoTrueIdTokenGrantInputSerializer, request)
        if data["link_identity"]:
            raise GoTrueRefused(
                "manual_linking_disabled",
                _(
                    "Keyhouse adds an identity from an ID token at POST /api/v1/me/identities; "
                    "through this API, link with linkIdentity({provider}) in the browser."
                ),
                HTTPStatus.UNPROCESSABLE_ENTITY,
            )
        result = identity_sign_in_with_id_token(
            provider_name=data["provider"],
            id_token=data["id_token"],
            nonce=data.get("nonce") or None,
            client=client_info(request),
        )
        return signin_response(result)


@extend_schema(exclude=True)
class IdentityAuthorizeApi(GoTrueApi):
    """linkIdentity: the provider's URL (as JSON) to add an identity to this account."""

    def get(self, request: Request) -> Any:
        ratelimit_request(request=request, action="identity_add")
        data = _query(request)
        reauthentication_require(session_id=request.user.session_id)
        return _authorize(data, user=request.user.user)


@extend_schema(exclude=True)
class IdentityApi(GoTrueApi):
    """unlinkIdentity: remove one of this account's provider identities."""

    def delete(self, request: Request, identity_id: str) -> Response:
        ratelimit_request(request=request, action="identity_remove")
        identity_remove(
            user=request.user.user,
            session_id=request.user.session_id,
            identity_id=identity_id,
            client=client_info(request),
        )
        return Response({})
