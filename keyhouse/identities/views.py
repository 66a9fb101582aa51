from __future__ import annotations

from http import HTTPStatus

from django.http import HttpResponseRedirect
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.accounts.services.signin import LoginThrottled
from keyhouse.accounts.views import MFA_NOTE, SIGN_IN_RESULT, accepted
from keyhouse.codes.services import CODE_CHECK_ERRORS, CODE_REQUEST_ERRORS
from keyhouse.core.exceptions import OAuthError, problems
from keyhouse.core.http import client_info
from keyhouse.core.parsers import FormParser
from keyhouse.core.ratelimit import rate_limit
from keyhouse.identities.clients import ID_TOKEN_ERRORS, ProviderUnavailable
from keyhouse.identities.flows import (
    CodeChallengeInvalid,
    OAuthCodeInvalid,
    OAuthStateInvalid,
    ProviderNotFound,
    RedirectNotAllowed,
    oauth_authorize_start,
    oauth_callback,
    provider_require,
)
from keyhouse.identities.providers import providers_configured
from keyhouse.identities.selectors import identity_list
from keyhouse.identities.serializers import (
    AuthorizationUrlOutputSerializer,
    IdentityAddInputSerializer,
    IdentityAuthorizeInputSerializer,
    IdentityOutputSerializer,
    IdTokenInputSerializer,
    LinkInputSerializer,
    LinkTokenInputSerializer,
    OAuthAuthorizeQuerySerializer,
    ProviderOutputSerializer,
)
from keyhouse.identities.services import (
    LINK_PROOF_ERRORS,
    SIGN_IN_ERRORS,
    IdentityNotFound,
    IdentityTaken,
    LastSignInMethod,
    LinkTokenInvalid,
    ProviderWithoutIdTokens,
    identity_add_with_code,
    identity_add_with_id_token,
    identity_link_code_send,
    identity_link_confirm,
    identity_remove,
    identity_sign_in_with_code,
    identity_sign_in_with_id_token,
)
from keyhouse.mfa.services.assurance import SENSITIVE_OPERATION_ERRORS, reauthentication_require
from keyhouse.mfa.views import signin_response
from keyhouse.tokens.oauth import oauth_params
from keyhouse.tokens.services import SigningKeyMissing
from keyhouse.tokens.views import cookie_client_check

PROVIDER = OpenApiParameter(
    "provider", str, OpenApiParameter.PATH, description="A configured provider's name."
)
LINK_NOTE = (
    " A new identity whose provider-verified email belongs to an account answers 409 "
    "`link_required` with a `link_token` (and `email`, `provider`, `proofs`, `expires_in`): "
    "prove the account at POST /api/v1/auth/oauth/link. An email the provider did not "
    "verify is never matched with accounts: such an identity makes an account without it."
)


class PublicApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)


class ProviderListApi(PublicApi):
    @extend_schema(
        responses=ProviderOutputSerializer(many=True),
        summary="The providers users can sign in with",
    )
    def get(self, request: Request) -> Response:
        providers = providers_configured().values()
        return Response(ProviderOutputSerializer(providers, many=True).data)


class OAuthAuthorizeApi(PublicApi):
    @extend_schema(
        parameters=[PROVIDER, OAuthAuthorizeQuerySerializer],
        responses={302: OpenApiResponse(description="To the provider's sign-in page")},
        summary="Start signing in with a provider (browser)",
        description="Navigate the browser here. Keyhouse keeps the sign-in's state for 10 "
        "minutes and sends the browser to the provider with PKCE; the provider sends it "
        "back to the callback, which sends it to `redirect_to` with `code` (and your "
        "`state`), or `error`. Redeem the code at POST /api/v1/auth/token/refresh with "
        "`grant_type=authorization_code`, `code` and `code_verifier`. `redirect_to` must be "
        "on an allowed origin (CORS_ALLOWED_ORIGINS), without user info or fragment, and "
        "one of KEYHOUSE_OAUTH_REDIRECT_URIS exactly when that is set.",
    )
    @problems(
        ValidationError,
        ProviderNotFound,
        RedirectNotAllowed,
        CodeChallengeInvalid,
        ProviderUnavailable,
    )
    @rate_limit("oauth_authorize")
    def get(self, request: Request, provider: str) -> HttpResponseRedirect:
        serializer = OAuthAuthorizeQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        url = oauth_authorize_start(
            provider=provider_require(provider),
            redirect_to=data["redirect_to"],
            code_challenge=data["code_challenge"],
            app_state=data.get("state", ""),
        )
        return HttpResponseRedirect(url, headers={"Cache-Control": "no-store"})


class OAuthCallbackApi(PublicApi):
    parser_classes = (FormParser,)

    @extend_schema(
        parameters=[PROVIDER],
        responses={302: OpenApiResponse(description="Back to the app")},
        summary="Where the provider sends the browser back (the registered redirect URI)",
        description="Not for apps to call. An unknown, used or expired `state` is refused "
        "(400 `oauth_state_invalid`); anything else goes back to the app.",
    )
    @problems(OAuthStateInvalid)
    @rate_limit("oauth_callback")
    def get(self, request: Request, provider: str) -> HttpResponseRedirect:
        return self._finish(request, provider, request.query_params)

    @extend_schema(
        parameters=[PROVIDER],
        request=None,
        responses={302: OpenApiResponse(description="Back to the app")},
        summary="The provider's answer posted back (Sign in with Apple's form_post)",
    )
    @problems(OAuthStateInvalid)
    @rate_limit("oauth_callback")
    def post(self, request: Request, provider: str) -> HttpResponseRedirect:
        return self._finish(request, provider, request.data)

    def _finish(self, request: Request, provider: str, params: object) -> HttpResponseRedirect:
        fields = ("state", "code", "error", "user")
        values = {name: params.get(name) for name in fields} if hasattr(params, "get") else {}
        url = oauth_callback(provider_name=provider, params=values, client=client_info(request))
        return HttpResponseRedirect(url, headers={"Cache-Control": "no-store"})


class OAuthIdTokenApi(PublicApi):
    @extend_schema(
        parameters=[PROVIDER],
        request=IdTokenInputSerializer,
        responses={200: SIGN_IN_RESULT},
        summary="Sign in with an ID token from a platform SDK (native apps)",
        description="Send the ID token that Google Sign-In or Sign in with Apple gave the "
        "app, and the raw `nonce` the app made. The token holds it in the one form the "
        "provider's SDK puts it: raw (Google) or as its SHA-256 in hex (Apple, or a "
        "provider with `nonce_hashed`); only that form matches. The token's "
        "audience must be one of the provider's accepted client ids. 401 "
        "`id_token_invalid`, `id_token_expired`, `id_token_issuer_invalid`, "
        "`id_token_audience_invalid`, `nonce_missing` or `nonce_mismatch` say what is "
        "wrong." + LINK_NOTE + MFA_NOTE,
    )
    @problems(
        ProviderNotFound,
        ProviderWithoutIdTokens,
        ProviderUnavailable,
        *ID_TOKEN_ERRORS,
        *SIGN_IN_ERRORS,
        SigningKeyMissing,
    )
    @rate_limit("oauth_id_token")
    def post(self, request: Request, provider: str) -> Response:
        serializer = IdTokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = identity_sign_in_with_id_token(
            provider_name=provider,
            id_token=data["id_token"],
            nonce=data.get("nonce") or None,
            client=client_info(request),
        )
        return signin_response(result, transport=data.get("refresh_token_transport"))


class OAuthLinkApi(PublicApi):
    @extend_schema(
        request=LinkInputSerializer,
        responses={200: SIGN_IN_RESULT},
        summary="Prove the existing account to link a provider identity to it, and sign in",
        description="Send the `link_token` of a 409 `link_required` with the account's "
        "`password`, or a `code` from POST /api/v1/auth/oauth/link/send-code. The identity "
        "joins the account and the answer is a sign-in's." + MFA_NOTE,
    )
    @problems(
        LinkTokenInvalid,
        *LINK_PROOF_ERRORS,
        LoginThrottled,
        *CODE_CHECK_ERRORS,
        IdentityTaken,
        SigningKeyMissing,
    )
    @rate_limit("oauth_link")
    def post(self, request: Request) -> Response:
        serializer = LinkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = identity_link_confirm(
            link_token=serializer.validated_data["link_token"],
            proof=serializer.proof(),
            client=client_info(request),
        )
        return signin_response(
            result, transport=serializer.validated_data.get("refresh_token_transport")
        )


class OAuthLinkCodeApi(PublicApi):
    @extend_schema(
        request=LinkTokenInputSerializer,
        responses={202: OpenApiResponse(description="A code is on its way")},
        summary="Email a code to the account a link token would join",
    )
    @problems(LinkTokenInvalid, *CODE_REQUEST_ERRORS)
    @rate_limit("oauth_link_code")
    def post(self, request: Request) -> Response:
        serializer = LinkTokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        identity_link_code_send(
            link_token=serializer.validated_data["link_token"], client=client_info(request)
        )
        return accepted(_("A code is on its way to the account's address."))


def oauth_code_grant(request: Request) -> Response:
    """The token endpoint's grant_type=authorization_code: redeem a sign-in's code.

    The refresh token goes in the HttpOnly cookie only for a request that passes the
    cookie's own checks (``cookie_client_check``): a plain form from another site would
    otherwise sign the victim's browser in to the account of the attacker's code.
    """
    params = oauth_params(request.data, required="grant_type")
    for name in ("code", "code_verifier"):
        if not params.get(name):
            raise OAuthError("invalid_request", _("The parameter %s is missing.") % name)
    transport = params.get("refresh_token_transport") or "body"
    if transport not in ("body", "cookie"):
        raise OAuthError("invalid_request", _("refresh_token_transport is body or cookie."))
    if transport == "cookie":
        cookie_client_check(request)
    try:
        result = identity_sign_in_with_code(
            code=params["code"],
            code_verifier=params["code_verifier"],
            redirect_uri=params.get("redirect_uri") or None,
            client=client_info(request),
        )
    except OAuthCodeInvalid as exc:
        raise OAuthError("invalid_grant", str(exc.message)) from exc
    return signin_response(result, transport=transport)


class IdentityListApi(APIView):
    @extend_schema(
        responses=IdentityOutputSerializer(many=True),
        summary="The signed-in user's provider identities",
    )
    def get(self, request: Request) -> Response:
        identities = identity_list(user_id=request.user.pk)
        return Response(IdentityOutputSerializer(identities, many=True).data)

    @extend_schema(
        request=IdentityAddInputSerializer,
        responses={201: IdentityOutputSerializer},
        summary="Add a provider identity to the signed-in account",
        description="With `provider`, `id_token` (and `nonce`) from a platform SDK, or with "
        "the `code` and `code_verifier` of a browser flow started at POST "
        "/api/v1/me/identities/authorize. Needs a recent re-authentication (403 "
        "`reauthentication_required`); 409 `identity_taken` if the identity already signs "
        "in to an account.",
    )
    @problems(
        *SENSITIVE_OPERATION_ERRORS,
        ProviderNotFound,
        ProviderWithoutIdTokens,
        ProviderUnavailable,
        *ID_TOKEN_ERRORS,
        OAuthCodeInvalid,
        IdentityTaken,
    )
    @rate_limit("identity_add")
    def post(self, request: Request) -> Response:
        serializer = IdentityAddInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {
            "user": request.user.user,
            "session_id": request.user.session_id,
            "client": client_info(request),
        }
        if "id_token" in data:
            identity = identity_add_with_id_token(
                provider_name=data["provider"],
                id_token=data["id_token"],
                nonce=data.get("nonce") or None,
                **common,
            )
        else:
            identity = identity_add_with_code(
                code=data["code"], code_verifier=data["code_verifier"], **common
            )
        return Response(IdentityOutputSerializer(identity).data, status=HTTPStatus.CREATED)


class IdentityAuthorizeApi(APIView):
    @extend_schema(
        request=IdentityAuthorizeInputSerializer,
        responses={200: AuthorizationUrlOutputSerializer},
        summary="Start adding a provider identity through the browser",
        description="Answers the provider's URL to send the browser to; the app gets a "
        "`code` back at `redirect_to` and finishes with POST /api/v1/me/identities. Needs "
        "a recent re-authentication.",
    )
    @problems(
        *SENSITIVE_OPERATION_ERRORS,
        ProviderNotFound,
        RedirectNotAllowed,
        CodeChallengeInvalid,
        ProviderUnavailable,
    )
    @rate_limit("identity_add")
    def post(self, request: Request) -> Response:
        serializer = IdentityAuthorizeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reauthentication_require(session_id=request.user.session_id)
        url = oauth_authorize_start(
            provider=provider_require(data["provider"]),
            redirect_to=data["redirect_to"],
            code_challenge=data["code_challenge"],
            app_state=data.get("state", ""),
            user=request.user.user,
        )
        return Response({"authorization_url": url}, headers={"Cache-Control": "no-store"})


class IdentityRemoveApi(APIView):
    @extend_schema(
        responses={204: OpenApiResponse(description="Removed")},
        summary="Remove a provider identity from the signed-in account",
        description="Not the account's last way to sign in (409 `last_sign_in_method`). "
        "Needs a recent re-authentication.",
    )
    @problems(*SENSITIVE_OPERATION_ERRORS, IdentityNotFound, LastSignInMethod)
    @rate_limit("identity_remove")
    def delete(self, request: Request, identity_id: str) -> Response:
        identity_remove(
            user=request.user.user,
            session_id=request.user.session_id,
            identity_id=identity_id,
            client=client_info(request),
        )
        return Response(status=HTTPStatus.NO_CONTENT)
