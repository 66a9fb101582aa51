from __future__ import annotations

from http import HTTPStatus

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.accounts.serializers import (
    AcceptedOutputSerializer,
    CodeInputSerializer,
    EmailInputSerializer,
    EmailVerifyInputSerializer,
    LoginInputSerializer,
    PasswordChangeInputSerializer,
    PasswordResetInputSerializer,
    PhoneInputSerializer,
    PhoneVerifyInputSerializer,
    ProfileUpdateInputSerializer,
    ReauthenticateInputSerializer,
    SignupInputSerializer,
)
from keyhouse.accounts.services.account import (
    EmailUnchanged,
    account_delete,
    email_change_confirm,
    email_change_request,
    password_change,
    profile_update,
)
from keyhouse.accounts.services.password_reset import password_forgot, password_reset
from keyhouse.accounts.services.phone import (
    PhoneTaken,
    PhoneUnchanged,
    phone_change_confirm,
    phone_change_request,
    phone_sign_in,
    phone_sign_in_code_send,
)
from keyhouse.accounts.services.reauthentication import (
    NoCodeChannel,
    WrongPassword,
    reauthenticate,
)
from keyhouse.accounts.services.signin import (
    InvalidCredentials,
    LoginThrottled,
    signin_second_factor,
    signin_with_password,
)
from keyhouse.accounts.services.signup import email_verification_resend, email_verify, signup
from keyhouse.codes.services import CODE_CHECK_ERRORS, CODE_REQUEST_ERRORS, CodeInvalid
from keyhouse.core.exceptions import ServiceUnavailable, problems
from keyhouse.core.http import client_info
from keyhouse.core.ratelimit import rate_limit, ratelimit_target
from keyhouse.mfa.serializers import MfaChallengeOutputSerializer, MfaVerifyInputSerializer
from keyhouse.mfa.services.assurance import SENSITIVE_OPERATION_ERRORS
from keyhouse.mfa.services.challenges import CHALLENGE_ANSWER_ERRORS
from keyhouse.mfa.services.factors import TotpCodeInvalid
from keyhouse.mfa.services.passkeys import ASSERTION_ERRORS
from keyhouse.mfa.services.recovery import MfaNotEnabled
from keyhouse.mfa.views import signin_response
from keyhouse.tokens.serializers import TokenPairOutputSerializer
from keyhouse.tokens.services import SigningKeyMissing
from keyhouse.tokens.views import token_pair_response
from keyhouse.users.phones import InvalidPhone, PhoneNotAllowed, phone_normalize
from keyhouse.users.serializers import UserOutputSerializer, user_output
from keyhouse.users.services import EmailTaken


class PublicApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)


def accepted(detail: str) -> Response:
    return Response({"detail": detail}, status=HTTPStatus.ACCEPTED)


SIGN_IN_RESULT = PolymorphicProxySerializer(
    component_name="SignInResult",
    serializers=[TokenPairOutputSerializer, MfaChallengeOutputSerializer],
    resource_type_field_name=None,
)
MFA_NOTE = (
    " An account with a second factor gets no tokens but `mfa_required: true` and an "
    "`mfa_token` to answer at POST /api/v1/auth/mfa/verify."
)


class LoginApi(PublicApi):
    @extend_schema(
        request=LoginInputSerializer,
        responses={200: SIGN_IN_RESULT},
        summary="Sign in with email and password",
        description="Unknown email, wrong password and inactive account all answer 401 "
        "`invalid_credentials`." + MFA_NOTE,
    )
    @problems(InvalidCredentials, LoginThrottled, SigningKeyMissing)
    @rate_limit("login")
    def post(self, request: Request) -> Response:
        serializer = LoginInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ratelimit_target(action="login", target=serializer.validated_data["email"])
        result = signin_with_password(
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
            client=client_info(request),
            request=request,
        )
        return signin_response(
            result, transport=serializer.validated_data.get("refresh_token_transport")
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
    @problems(*CODE_REQUEST_ERRORS)
    @rate_limit("signup")
    def post(self, request: Request) -> Response:
        serializer = SignupInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ratelimit_target(action="signup", target=serializer.validated_data["email"])
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
    @problems(*CODE_REQUEST_ERRORS)
    @rate_limit("email_resend")
    def post(self, request: Request) -> Response:
        serializer = EmailInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ratelimit_target(action="email_resend", target=serializer.validated_data["email"])
        email_verification_resend(
            email=serializer.validated_data["email"], client=client_info(request)
        )
        return accepted(_("If the address is waiting for verification, a new code is on its way."))


class EmailVerifyApi(PublicApi):
    @extend_schema(
        request=EmailVerifyInputSerializer,
        responses={200: SIGN_IN_RESULT},
        summary="Verify the email with its code and sign in",
        description="Creates the account the sign-up asked for and signs it in. A wrong, "
        "expired, used or replaced code answers 400 `code_invalid`, and so does the code "
        "of an address that has an account by then. The answer has the shape of every "
        "sign-in's: tokens, or a challenge for an account with a second factor (an "
        "account made here has none yet).",
    )
    @problems(CodeInvalid, SigningKeyMissing)
    @rate_limit("email_verify")
    def post(self, request: Request) -> Response:
        serializer = EmailVerifyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ratelimit_target(action="email_verify", target=serializer.validated_data["email"])
        result = email_verify(
            email=serializer.validated_data["email"],
            code=serializer.validated_data["code"],
            client=client_info(request),
        )
        return signin_response(
            result, transport=serializer.validated_data.get("refresh_token_transport")
        )


class PasswordForgotApi(PublicApi):
    @extend_schema(
        request=EmailInputSerializer,
        responses={202: AcceptedOutputSerializer},
        summary="Ask for a password reset code by email",
        description="Always 202 with the same body, whether or not the address is "
        "registered; 429 when asked too soon or too often.",
    )
    @problems(*CODE_REQUEST_ERRORS)
    @rate_limit("password_forgot")
    def post(self, request: Request) -> Response:
        serializer = EmailInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ratelimit_target(action="password_forgot", target=serializer.validated_data["email"])
        password_forgot(email=serializer.validated_data["email"], client=client_info(request))
        return accepted(_("If the address has an account, a reset code is on its way."))


class PasswordResetApi(PublicApi):
    @extend_schema(
        request=PasswordResetInputSerializer,
        responses={200: AcceptedOutputSerializer},
        summary="Set a new password with a reset code",
        description="Every session of the account ends; sign in again with the new "
        "password. A wrong, expired or used code answers 400 `code_invalid`.",
    )
    @problems(CodeInvalid)
    @rate_limit("password_reset")
    def post(self, request: Request) -> Response:
        serializer = PasswordResetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ratelimit_target(action="password_reset", target=serializer.validated_data["email"])
        password_reset(**serializer.validated_data, client=client_info(request))
        return Response({"detail": _("Your password was changed. Sign in with it.")})


class MfaVerifyApi(PublicApi):
    @extend_schema(
        request=MfaVerifyInputSerializer,
        responses={200: TokenPairOutputSerializer},
        summary="Answer a sign-in challenge with a second factor",
        description="Send the `mfa_token` of the sign-in with `factor_id` and the `code` "
        "the app shows, with a `recovery_code`, or with a `passkey` assertion "
        "(`{challenge_id, credential}`, options from POST /api/v1/auth/passkey/options); the "
        "answer is the token pair of an aal2 session. A wrong code answers 400 "
        "`mfa_code_invalid` or `recovery_code_invalid`, a passkey that fails "
        "`passkey_invalid` (or `passkey_challenge_invalid`, `passkey_sign_count_regressed`), "
        "with `attempts_left`, a factor not the account's 404 `mfa_factor_not_found`; after "
        "5 tries, 401 `mfa_attempts_exhausted`. 401 `mfa_token_invalid`, `mfa_token_used` "
        "or `mfa_token_expired` (5 minutes): sign in again. Tries count on the account's "
        "failed sign-ins (429 `login_throttled`).",
    )
    @problems(*CHALLENGE_ANSWER_ERRORS, LoginThrottled, SigningKeyMissing)
    @rate_limit("mfa_verify")
    def post(self, request: Request) -> Response:
        serializer = MfaVerifyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pair = signin_second_factor(
            mfa_token=data["mfa_token"],
            client=client_info(request),
            factor_id=data.get("factor_id"),
            code=data.get("code"),
            recovery_code=data.get("recovery_code"),
            passkey=data.get("passkey"),
        )
        return token_pair_response(pair, transport=data.get("refresh_token_transport"))


class ReauthenticateApi(APIView):
    mfa_enrolment_allowed = True  # see keyhouse.mfa.permissions

    @extend_schema(
        request=ReauthenticateInputSerializer,
        responses={204: OpenApiResponse(description="Re-authenticated")},
        summary="Confirm the password, a phone code, an authenticator code or a passkey",
        description="Changing the email, deleting the account and other sensitive "
        "operations answer 403 `reauthentication_required` unless the session proved a "
        "password or code within the last 10 minutes. A code is a phone sign-in code "
        "(POST /api/v1/auth/phone/send-code to the account's verified phone). A "
        "`totp_code` from an authenticator app also raises the session to aal2 (step-up), "
        "which those operations need on an account with a second factor (403 "
        "`aal2_required`); refresh to get an access token that says so. So does a `passkey` "
        "assertion of the account (`{challenge_id, credential}`, options from "
        "POST /api/v1/auth/passkey/options).",
    )
    @problems(
        WrongPassword,
        LoginThrottled,
        NoCodeChannel,
        *CODE_CHECK_ERRORS,
        ServiceUnavailable,
        TotpCodeInvalid,
        MfaNotEnabled,
        *ASSERTION_ERRORS,
    )
    @rate_limit("reauthenticate")
    def post(self, request: Request) -> Response:
        serializer = ReauthenticateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reauthenticate(
            user=request.user.user,
            session_id=request.user.session_id,
            client=client_info(request),
            **serializer.validated_data,
        )
        return Response(status=HTTPStatus.NO_CONTENT)


class MeApi(APIView):
    mfa_enrolment_allowed = True  # see keyhouse.mfa.permissions

    @extend_schema(responses=UserOutputSerializer, summary="The signed-in user")
    def get(self, request: Request) -> Response:
        return Response(user_output(request.user.user))

    @extend_schema(
        request=ProfileUpdateInputSerializer,
        responses=UserOutputSerializer,
        summary="Update the profile",
    )
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = profile_update(
            user=request.user.user, client=client_info(request), **serializer.validated_data
        )
        return Response(user_output(user))

    @extend_schema(
        responses={204: OpenApiResponse(description="Deleted")},
        summary="Delete the account (needs a recent re-authentication)",
    )
    @problems(*SENSITIVE_OPERATION_ERRORS)
    def delete(self, request: Request) -> Response:
        account_delete(
            user=request.user.user,
            session_id=request.user.session_id,
            client=client_info(request),
        )
        return Response(status=HTTPStatus.NO_CONTENT)


class PasswordChangeApi(APIView):
    @extend_schema(
        request=PasswordChangeInputSerializer,
        responses={204: OpenApiResponse(description="Changed")},
        summary="Change the password",
        description="Other sessions end; this one stays. `current_password` is required "
        "when the account has a password, otherwise a recent re-authentication.",
    )
    @problems(WrongPassword, LoginThrottled, *SENSITIVE_OPERATION_ERRORS)
    @rate_limit("password_change")
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        password_change(
            user=request.user.user,
            session_id=request.user.session_id,
            client=client_info(request),
            **serializer.validated_data,
        )
        return Response(status=HTTPStatus.NO_CONTENT)


class EmailChangeApi(APIView):
    @extend_schema(
        request=EmailInputSerializer,
        responses={202: AcceptedOutputSerializer},
        summary="Start changing the email: a code goes to the new address",
        description="Needs a recent re-authentication (403 `reauthentication_required`).",
    )
    @problems(*SENSITIVE_OPERATION_ERRORS, EmailUnchanged, *CODE_REQUEST_ERRORS)
    @rate_limit("email_change")
    def post(self, request: Request) -> Response:
        serializer = EmailInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email_change_request(
            user=request.user.user,
            session_id=request.user.session_id,
            new_email=serializer.validated_data["email"],
            client=client_info(request),
        )
        return accepted(_("A code is on its way to the new address."))


class EmailChangeVerifyApi(APIView):
    @extend_schema(
        request=CodeInputSerializer,
        responses=UserOutputSerializer,
        summary="Finish changing the email with the code sent to the new address",
        description="409 `email_taken` if another account took the address meanwhile.",
    )
    @problems(*CODE_CHECK_ERRORS, EmailTaken)
    def post(self, request: Request) -> Response:
        serializer = CodeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = email_change_confirm(
            user=request.user.user,
            code=serializer.validated_data["code"],
            client=client_info(request),
        )
        return Response(user_output(user))


class PhoneSendCodeApi(PublicApi):
    @extend_schema(
        request=PhoneInputSerializer,
        responses={202: AcceptedOutputSerializer},
        summary="Text a sign-in code to a phone number",
        description="The same 202 whether or not the number is registered. 400 "
        "`invalid_phone` or `phone_country_not_allowed` before any SMS is sent; 429 when "
        "asked too soon or too often.",
    )
    @problems(InvalidPhone, PhoneNotAllowed, *CODE_REQUEST_ERRORS)
    @rate_limit("phone_send_code")
    def post(self, request: Request) -> Response:
        serializer = PhoneInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        phone = phone_normalize(serializer.validated_data["phone"])
        ratelimit_target(action="phone_send_code", target=phone)
        phone_sign_in_code_send(phone=phone, client=client_info(request))
        return accepted(_("If the number can sign in, a code is on its way."))


class PhoneVerifyApi(PublicApi):
    @extend_schema(
        request=PhoneVerifyInputSerializer,
        responses={200: SIGN_IN_RESULT},
        summary="Sign in with the phone number and its code",
        description="A new number creates an account with a verified phone (unless "
        "KEYHOUSE_PHONE_SIGNUP_ENABLED is off). A wrong, expired or used code answers 400 "
        "`code_invalid`." + MFA_NOTE,
    )
    @problems(InvalidPhone, PhoneNotAllowed, CodeInvalid, ServiceUnavailable, SigningKeyMissing)
    @rate_limit("phone_verify")
    def post(self, request: Request) -> Response:
        serializer = PhoneVerifyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        phone = phone_normalize(serializer.validated_data["phone"])
        ratelimit_target(action="phone_verify", target=phone)
        result = phone_sign_in(
            phone=phone,
            code=serializer.validated_data["code"],
            client=client_info(request),
        )
        return signin_response(
            result, transport=serializer.validated_data.get("refresh_token_transport")
        )


class PhoneChangeApi(APIView):
    @extend_schema(
        request=PhoneInputSerializer,
        responses={202: AcceptedOutputSerializer},
        summary="Start adding or changing the phone: a code goes to the number",
        description="Needs a recent re-authentication (403 `reauthentication_required`).",
    )
    @problems(
        *SENSITIVE_OPERATION_ERRORS,
        InvalidPhone,
        PhoneNotAllowed,
        PhoneUnchanged,
        *CODE_REQUEST_ERRORS,
    )
    @rate_limit("phone_change")
    def post(self, request: Request) -> Response:
        serializer = PhoneInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        phone_change_request(
            user=request.user.user,
            session_id=request.user.session_id,
            phone=serializer.validated_data["phone"],
            client=client_info(request),
        )
        return accepted(_("A code is on its way to the number."))


class PhoneChangeVerifyApi(APIView):
    @extend_schema(
        request=CodeInputSerializer,
        responses=UserOutputSerializer,
        summary="Finish adding or changing the phone with the code sent to it",
        description="409 `phone_taken` if another account has the number.",
    )
    @problems(*CODE_CHECK_ERRORS, ServiceUnavailable, PhoneTaken)
    def post(self, request: Request) -> Response:
        serializer = CodeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = phone_change_confirm(
            user=request.user.user,
            code=serializer.validated_data["code"],
            client=client_info(request),
        )
        return Response(user_output(user))
