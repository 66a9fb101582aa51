from __future__ import annotations

from http import HTTPStatus

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.accounts.serializers import (
    AcceptedOutputSerializer,
    EmailInputSerializer,
    EmailVerifyInputSerializer,
    LoginInputSerializer,
    SignupInputSerializer,
)
from keyhouse.accounts.services.signin import signin_with_password
from keyhouse.accounts.services.signup import email_verification_resend, email_verify, signup
from keyhouse.core.http import client_info
from keyhouse.tokens.serializers import TokenPairOutputSerializer
from keyhouse.tokens.views import token_pair_response


class PublicApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)


def accepted(detail: str) -> Response:
    return Response({"detail": detail}, status=HTTPStatus.ACCEPTED)


class LoginApi(PublicApi):
    @extend_schema(
        request=LoginInputSerializer,
        responses={200: TokenPairOutputSerializer},
        summary="Sign in with email and password",
        description="Unknown email, wrong password and inactive account all answer 401 "
        "`invalid_credentials`. A correct password for an unverified email answers 403 "
        "`email_not_verified`.",
    )
    def post(self, request: Request) -> Response:
        serializer = LoginInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = signin_with_password(
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
            client=client_info(request),
            request=request,
        )
        return token_pair_response(
            pair, transport=serializer.validated_data.get("refresh_token_transport")
        )


class SignupApi(PublicApi):
    @extend_schema(
        request=SignupInputSerializer,
        responses={202: AcceptedOutputSerializer},
        summary="Sign up with email and password",
        description="Sends a 6-digit code to the address. The answer is the same whether "
        "or not the address is registered; a registered address gets a notice instead of "
        "a code. Passwords need at least 8 characters and must not be common or close to "
        "the email or name.",
    )
    def post(self, request: Request) -> Response:
        serializer = SignupInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        signup(**serializer.validated_data, client=client_info(request))
        return accepted(_("Check your email to finish signing up."))


class EmailResendApi(PublicApi):
    @extend_schema(
        request=EmailInputSerializer,
        responses={202: AcceptedOutputSerializer},
        summary="Send a new email verification code",
        description="Always 202, unless asked again too soon (429 `code_cooldown`) or too "
        "often (429 `rate_limited`), with `Retry-After`.",
    )
    def post(self, request: Request) -> Response:
        serializer = EmailInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email_verification_resend(
            email=serializer.validated_data["email"], client=client_info(request)
        )
        return accepted(_("If the address is waiting for verification, a new code is on its way."))


class EmailVerifyApi(PublicApi):
    @extend_schema(
        request=EmailVerifyInputSerializer,
        responses={200: TokenPairOutputSerializer},
        summary="Verify the email with its code and sign in",
        description="A wrong, expired, used or replaced code answers 400 `code_invalid`.",
    )
    def post(self, request: Request) -> Response:
        serializer = EmailVerifyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = email_verify(
            email=serializer.validated_data["email"],
            code=serializer.validated_data["code"],
            client=client_info(request),
        )
        return token_pair_response(
            pair, transport=serializer.validated_data.get("refresh_token_transport")
        )
