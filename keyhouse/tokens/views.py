from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import client_info
from keyhouse.core.ratelimit import rate_limit
from keyhouse.tokens.keys import ALGORITHMS, keyring_current
from keyhouse.tokens.selectors import session_get_for_user, session_list_live
from keyhouse.tokens.serializers import (
    JwksOutputSerializer,
    LogoutInputSerializer,
    SessionOutputSerializer,
    TokenPairOutputSerializer,
    TokenRefreshInputSerializer,
)
from keyhouse.tokens.services import (
    RefreshTokenInvalid,
    TokenPair,
    session_logout,
    session_revoke,
    token_refresh,
)
from keyhouse.users.serializers import user_output

# Browsers send the refresh cookie only with this header, which a cross-site form cannot
# add and a cross-site script cannot add without a CORS preflight Keyhouse refuses.
CLIENT_HEADER = "X-Keyhouse-Client"


class CookieHeaderMissing(KeyhouseError):
    code = "client_header_missing"
    status = HTTPStatus.FORBIDDEN
    message = _("A refresh from the cookie needs the X-Keyhouse-Client header.")


def _refresh_cookie_path() -> str:
    return reverse("v1:token-refresh")


def token_pair_response(
    pair: TokenPair, *, transport: str | None, status: int = HTTPStatus.OK
) -> Response:
    """Render a token pair, with the refresh token in the body or in an HttpOnly cookie."""
    transport = transport or settings.KEYHOUSE_REFRESH_TOKEN_TRANSPORT
    data = {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "user": user_output(pair.user),
    }
    if transport != "cookie":
        data["refresh_token"] = pair.refresh_token
    # RFC 6749 section 5.1: token responses must not be cached.
    response = Response(data, status=status, headers={"Cache-Control": "no-store"})
    if transport == "cookie":
        response.set_cookie(
            settings.KEYHOUSE_REFRESH_COOKIE_NAME,
            pair.refresh_token,
            max_age=int((pair.session.expires_at - timezone.now()).total_seconds()),
            path=_refresh_cookie_path(),
            secure=settings.KEYHOUSE_REFRESH_COOKIE_SECURE,
            httponly=True,
            samesite="Strict",
        )
    return response


class TokenRefreshApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        request=TokenRefreshInputSerializer,
        responses={200: TokenPairOutputSerializer},
        summary="Exchange a refresh token for a new token pair",
        description="The refresh token is rotated: use the new one next time. Presenting a "
        "rotated token again within a few seconds returns the same new pair (parallel tabs); "
        "later, it ends the session (`refresh_token_reused`). Browsers using the cookie send "
        "no `refresh_token` and add the `X-Keyhouse-Client` header.",
    )
    @rate_limit("token_refresh")
    def post(self, request: Request) -> Response:
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        transport = serializer.validated_data.get("refresh_token_transport")
        refresh_token = serializer.validated_data.get("refresh_token")
        if refresh_token is None:
            refresh_token = request.COOKIES.get(settings.KEYHOUSE_REFRESH_COOKIE_NAME)
            if refresh_token is None:
                raise RefreshTokenInvalid(_("No refresh token was sent."))
            if not request.headers.get(CLIENT_HEADER):
                raise CookieHeaderMissing
            transport = transport or "cookie"
        pair = token_refresh(refresh_token=refresh_token, client=client_info(request))
        return token_pair_response(pair, transport=transport)


class LogoutApi(APIView):
    @extend_schema(
        request=LogoutInputSerializer,
        responses={204: OpenApiResponse(description="Signed out")},
        summary="Sign out of this session, the others, or all",
    )
    def post(self, request: Request) -> Response:
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session_logout(
            user_id=request.user.pk,
            session_id=request.user.session_id,
            scope=serializer.validated_data["scope"],
            client=client_info(request),
        )
        response = Response(status=HTTPStatus.NO_CONTENT)
        response.delete_cookie(
            settings.KEYHOUSE_REFRESH_COOKIE_NAME, path=_refresh_cookie_path(), samesite="Strict"
        )
        return response


class SessionListApi(APIView):
    @extend_schema(
        responses=SessionOutputSerializer(many=True),
        summary="The signed-in user's live sessions",
    )
    def get(self, request: Request) -> Response:
        sessions = session_list_live(user_id=request.user.pk)
        serializer = SessionOutputSerializer(
            sessions, many=True, context={"current_session_id": request.user.session_id}
        )
        return Response(serializer.data)


class SessionRevokeApi(APIView):
    @extend_schema(
        responses={204: OpenApiResponse(description="Session ended")},
        summary="End one of the signed-in user's sessions",
    )
    def delete(self, request: Request, session_id: str) -> Response:
        session = session_get_for_user(user_id=request.user.pk, session_id=session_id)
        if session is None:
            raise NotFound(_("No such session."))
        session_revoke(session=session, reason="revoked_by_user", client=client_info(request))
        return Response(status=HTTPStatus.NO_CONTENT)


class JwksApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(responses=JwksOutputSerializer, summary="Public keys that sign access tokens")
    def get(self, request: Request) -> Response:
        return Response(
            {"keys": keyring_current().jwks}, headers={"Cache-Control": "public, max-age=300"}
        )


class OpenIdConfigurationApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(responses=dict, summary="Discovery document: issuer, keys, algorithms")
    def get(self, request: Request) -> Response:
        issuer = settings.KEYHOUSE_JWT_ISSUER.rstrip("/")
        return Response(
            {
                "issuer": settings.KEYHOUSE_JWT_ISSUER,
                "jwks_uri": f"{issuer}{reverse('jwks')}",
                "token_endpoint": f"{issuer}{reverse('v1:token-refresh')}",
                "grant_types_supported": ["refresh_token"],
                "access_token_signing_alg_values_supported": list(ALGORITHMS),
                "subject_types_supported": ["public"],
                "claims_supported": [
                    "iss",
                    "aud",
                    "sub",
                    "sid",
                    "iat",
                    "nbf",
                    "exp",
                    "jti",
                    "amr",
                    "email_verified",
                    "phone_verified",
                ],
            },
            headers={"Cache-Control": "public, max-age=3600"},
        )
