from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.core.cors import origin_allowed
from keyhouse.core.exceptions import KeyhouseError, OAuthError, problems
from keyhouse.core.http import client_info
from keyhouse.core.parsers import FormParser, JSONParser
from keyhouse.core.ratelimit import rate_limit
from keyhouse.tokens.keys import keyring_current
from keyhouse.tokens.oauth import (
    FORM_CONTENT_TYPE,
    GRANT_HANDLERS,
    authorization_server_metadata,
    is_form_request,
    oauth_grant_type,
    oauth_refresh_token,
    oauth_revoked_token,
)
from keyhouse.tokens.selectors import session_get_for_user, session_list_live
from keyhouse.tokens.serializers import (
    JwksOutputSerializer,
    LogoutInputSerializer,
    OAuthCodeInputSerializer,
    OAuthRefreshInputSerializer,
    OAuthRevokeInputSerializer,
    SessionOutputSerializer,
    TokenPairOutputSerializer,
    TokenRefreshInputSerializer,
    token_refresh_input,
)
from keyhouse.tokens.services import (
    REFRESH_REFUSED,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionExpired,
    SessionRevoked,
    SigningKeyMissing,
    TokenPair,
    session_logout,
    session_revoke,
    token_refresh,
    token_revoke,
)
from keyhouse.users.serializers import user_output

# Keyhouse reads or sets the refresh cookie only for requests with this header, which a
# cross-site form cannot add and a cross-site script cannot add without a CORS preflight
# Keyhouse refuses.
CLIENT_HEADER = "X-Keyhouse-Client"


class CookieHeaderMissing(KeyhouseError):
    code = "client_header_missing"
    status = HTTPStatus.FORBIDDEN
    message = _("The refresh cookie is read or set only with the X-Keyhouse-Client header.")


class OriginNotAllowed(KeyhouseError):
    code = "origin_not_allowed"
    status = HTTPStatus.FORBIDDEN
    message = _("The refresh cookie is read or set only from an allowed origin.")


def _refresh_cookie_scope() -> dict[str, str | None]:
    """Where the refresh cookie lives: the same for setting and for clearing it."""
    return {
        "path": settings.KEYHOUSE_REFRESH_COOKIE_PATH or reverse("v1:token-refresh"),
        "domain": settings.KEYHOUSE_REFRESH_COOKIE_DOMAIN,
        "samesite": settings.KEYHOUSE_REFRESH_COOKIE_SAMESITE,
    }


def _check_cookie_origin(request: Request) -> None:
    """With SameSite=None the browser sends the cookie from any site: ask the Origin.

    The X-Keyhouse-Client header already makes a cross-site script go through a CORS
    preflight; this refuses the refresh itself from any other origin than Keyhouse's own
    and the allowed ones, whatever a browser or proxy let through.
    """
    if settings.KEYHOUSE_REFRESH_COOKIE_SAMESITE != "None":
        return
    origin = request.headers.get("Origin", "")
    if origin != f"{request.scheme}://{request.get_host()}" and not origin_allowed(origin):
        raise OriginNotAllowed


def cookie_client_check(request: Request) -> None:
    """Refuse to read or set the refresh cookie for a request another site could make.

    A cross-site form that could set the cookie would sign the victim's browser in to
    the attacker's account (login CSRF), as one that could read it would refresh theirs.
    """
    if not request.headers.get(CLIENT_HEADER):
        raise CookieHeaderMissing
    _check_cookie_origin(request)


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
            secure=settings.KEYHOUSE_REFRESH_COOKIE_SECURE,
            httponly=True,
            **_refresh_cookie_scope(),
        )
    return response


class TokenRefreshApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes = (JSONParser, FormParser)

    @extend_schema(
        request={
            "application/json": TokenRefreshInputSerializer,
            FORM_CONTENT_TYPE: PolymorphicProxySerializer(
                component_name="OAuthTokenRequest",
                serializers=[OAuthRefreshInputSerializer, OAuthCodeInputSerializer],
                resource_type_field_name=None,
            ),
        },
        responses={200: TokenPairOutputSerializer},
        summary="Exchange a refresh token for a new token pair",
        description="The refresh token is rotated: use the new one next time. Presenting a "
        "rotated token again within a few seconds returns the same new pair (parallel tabs); "
        "later, it ends the session (`refresh_token_reused`). Browsers using the cookie send "
        "no `refresh_token` and add the `X-Keyhouse-Client` header. OAuth clients may send "
        "the standard form-encoded `grant_type=refresh_token` request (RFC 6749 section 6) "
        "instead, and then get OAuth errors (`invalid_grant`...) rather than problems. "
        "The same form with `grant_type=authorization_code`, `code` and `code_verifier` "
        "redeems the one-time code of a sign-in with a provider (RFC 7636): its answer is "
        "that of any sign-in (tokens, or a second-factor challenge), or 409 `link_required` "
        "(see POST /api/v1/auth/oauth/{provider}/token).",
    )
    @problems(
        RefreshTokenInvalid,
        RefreshTokenReused,
        SessionExpired,
        SessionRevoked,
        CookieHeaderMissing,
        OriginNotAllowed,
        SigningKeyMissing,
    )
    @rate_limit("token_refresh")
    def post(self, request: Request) -> Response:
        if is_form_request(request):
            return self._oauth_refresh(request)
        data = token_refresh_input(request.data)
        transport = data.get("refresh_token_transport")
        refresh_token = data.get("refresh_token")
        if refresh_token is None:
            refresh_token = request.COOKIES.get(settings.KEYHOUSE_REFRESH_COOKIE_NAME)
            if refresh_token is None:
                raise RefreshTokenInvalid(_("No refresh token was sent."))
            cookie_client_check(request)
            transport = transport or "cookie"
        pair = token_refresh(refresh_token=refresh_token, client=client_info(request))
        return token_pair_response(pair, transport=transport)

    def _oauth_refresh(self, request: Request) -> Response:
        """The OAuth request: the token in the form, never from the cookie, back in the body.

        Another grant_type goes to the app that added it (see ``GRANT_HANDLERS``).
        """
        grant_type = oauth_grant_type(request.data)
        if grant_type != "refresh_token":
            return GRANT_HANDLERS[grant_type](request)
        refresh_token = oauth_refresh_token(request.data)
        try:
            pair = token_refresh(refresh_token=refresh_token, client=client_info(request))
        except REFRESH_REFUSED as exc:
            raise OAuthError("invalid_grant", str(exc.message)) from exc
        return token_pair_response(pair, transport="body")


class TokenRevokeApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes = (FormParser,)

    @extend_schema(
        request={FORM_CONTENT_TYPE: OAuthRevokeInputSerializer},
        responses={200: OpenApiResponse(description="The token no longer works")},
        summary="Revoke a refresh token, ending its session (RFC 7009)",
        description="Answers 200 whether or not the token was known or still live. The "
        "session's access tokens are refused from then on too.",
    )
    @rate_limit("token_revoke")
    def post(self, request: Request) -> Response:
        token_revoke(token=oauth_revoked_token(request.data), client=client_info(request))
        return Response(status=HTTPStatus.OK, headers={"Cache-Control": "no-store"})


class LogoutApi(APIView):
    mfa_enrolment_allowed = True  # see keyhouse.mfa.permissions

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
        response.delete_cookie(settings.KEYHOUSE_REFRESH_COOKIE_NAME, **_refresh_cookie_scope())
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
    @problems(NotFound)
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


class AuthorizationServerMetadataApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(responses=dict, summary="OAuth authorization server metadata (RFC 8414)")
    def get(self, request: Request) -> Response:
        return Response(
            authorization_server_metadata(), headers={"Cache-Control": "public, max-age=3600"}
        )


class OpenIdConfigurationApi(AuthorizationServerMetadataApi):
    """The same metadata where OpenID Connect clients look for it (RFC 8414 section 5)."""

    @extend_schema(responses=dict, summary="The metadata at the OpenID Connect discovery path")
    def get(self, request: Request) -> Response:
        return super().get(request)
