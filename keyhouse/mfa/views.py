from __future__ import annotations

from http import HTTPStatus

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.core.exceptions import problems
from keyhouse.core.http import client_info
from keyhouse.core.ratelimit import rate_limit
from keyhouse.mfa.selectors import (
    PENDING_FACTOR_TTL,
    factor_confirmed_exists,
    factor_list,
    passkey_list,
    recovery_codes_remaining,
)
from keyhouse.mfa.serializers import (
    MfaChallengeOutputSerializer,
    MfaStatusOutputSerializer,
    PasskeyOptionsOutputSerializer,
    PasskeyOutputSerializer,
    PasskeyRegisterInputSerializer,
    PasskeyRegistrationOutputSerializer,
    PasskeySignInInputSerializer,
    PasskeyUpdateInputSerializer,
    RecoveryCodesOutputSerializer,
    TotpConfirmationOutputSerializer,
    TotpConfirmInputSerializer,
    TotpEnrolInputSerializer,
    TotpEnrolmentOutputSerializer,
)
from keyhouse.mfa.services.assurance import SENSITIVE_OPERATION_ERRORS
from keyhouse.mfa.services.challenges import MfaChallengeIssued
from keyhouse.mfa.services.factors import (
    FactorAlreadyConfirmed,
    FactorExpired,
    FactorLimitReached,
    FactorNotFound,
    TotpCodeInvalid,
    totp_factor_confirm,
    totp_factor_enrol,
    totp_factor_remove,
)
from keyhouse.mfa.services.passkeys import (
    ASSERTION_ERRORS,
    PasskeyAlreadyRegistered,
    PasskeyChallengeInvalid,
    PasskeyInvalid,
    PasskeyLimitReached,
    PasskeyNotFound,
    PasskeyOptions,
    passkey_authentication_begin,
    passkey_register,
    passkey_registration_begin,
    passkey_remove,
    passkey_update,
    signin_with_passkey,
)
from keyhouse.mfa.services.recovery import MfaNotEnabled, recovery_codes_regenerate
from keyhouse.tokens.serializers import TokenPairOutputSerializer
from keyhouse.tokens.services import SigningKeyMissing, TokenPair
from keyhouse.tokens.views import token_pair_response

ENROLMENT = (
    "Needs a recent re-authentication, and aal2 once the account has a factor "
    "(403 `reauthentication_required` or `aal2_required`)."
)


def signin_response(result: TokenPair | MfaChallengeIssued, *, transport: str | None) -> Response:
    """Render the end of a sign-in: the token pair, or the challenge for a second factor."""
    if isinstance(result, TokenPair):
        return token_pair_response(result, transport=transport)
    data = MfaChallengeOutputSerializer(
        {
            "mfa_required": True,
            "mfa_token": result.token,
            "expires_in": result.expires_in,
            "factors": result.factors,
            "recovery_code": True,
            "passkey": result.passkey,
        }
    ).data
    return Response(data, headers={"Cache-Control": "no-store"})


class MfaStatusApi(APIView):
    mfa_enrolment_allowed = True

    @extend_schema(
        responses=MfaStatusOutputSerializer,
        summary="The signed-in user's second factors and recovery codes left",
    )
    @rate_limit("mfa_list")
    def get(self, request: Request) -> Response:
        factors = list(factor_list(user_id=request.user.pk, now=timezone.now()))
        data = {
            "enabled": factor_confirmed_exists(user_id=request.user.pk),
            "factors": factors,
            "recovery_codes": {"remaining": recovery_codes_remaining(user_id=request.user.pk)},
        }
        return Response(MfaStatusOutputSerializer(data).data)


class TotpEnrolApi(APIView):
    mfa_enrolment_allowed = True

    @extend_schema(
        request=TotpEnrolInputSerializer,
        responses={201: TotpEnrolmentOutputSerializer},
        summary="Enrol an authenticator app (TOTP)",
        description="Returns the seed, the otpauth:// URI and a QR code, shown this once. "
        "The factor stays pending until confirmed with a code within 10 minutes. At most 5 "
        f"factors (409 `mfa_factor_limit`). {ENROLMENT}",
    )
    @problems(*SENSITIVE_OPERATION_ERRORS, FactorLimitReached)
    @rate_limit("mfa_enrol")
    def post(self, request: Request) -> Response:
        serializer = TotpEnrolInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enrolment = totp_factor_enrol(
            user=request.user.user,
            session_id=request.user.session_id,
            name=serializer.validated_data["name"],
            client=client_info(request),
        )
        data = TotpEnrolmentOutputSerializer(
            {
                "factor": enrolment.factor,
                "secret": enrolment.secret,
                "otpauth_uri": enrolment.otpauth_uri,
                "qr_svg": enrolment.qr_svg,
                "expires_in": PENDING_FACTOR_TTL,
            }
        ).data
        return Response(data, status=HTTPStatus.CREATED, headers={"Cache-Control": "no-store"})


class TotpConfirmApi(APIView):
    mfa_enrolment_allowed = True

    @extend_schema(
        request=TotpConfirmInputSerializer,
        responses={200: TotpConfirmationOutputSerializer},
        summary="Confirm an authenticator app with a first code",
        description="From now on sign-ins ask for a code. This session rises to aal2; with "
        "the account's first factor, every other session that proved one factor ends, and "
        "ten recovery codes are returned, this once. 400 `mfa_code_invalid`, 404 "
        "`mfa_factor_not_found`, 409 `mfa_factor_already_confirmed`, 410 `mfa_factor_expired`.",
    )
    @problems(FactorNotFound, FactorAlreadyConfirmed, FactorExpired, TotpCodeInvalid)
    @rate_limit("mfa_confirm")
    def post(self, request: Request, factor_id: str) -> Response:
        serializer = TotpConfirmInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        confirmation = totp_factor_confirm(
            user=request.user.user,
            session_id=request.user.session_id,
            factor_id=factor_id,
            code=serializer.validated_data["code"],
            client=client_info(request),
        )
        data = TotpConfirmationOutputSerializer(
            {"factor": confirmation.factor, "recovery_codes": confirmation.recovery_codes}
        ).data
        return Response(data, headers={"Cache-Control": "no-store"})


class MfaFactorRemoveApi(APIView):
    mfa_enrolment_allowed = True

    @extend_schema(
        responses={204: OpenApiResponse(description="Removed")},
        summary="Remove a second factor",
        description=f"{ENROLMENT} With the last factor go the recovery codes. 404 "
        "`mfa_factor_not_found`.",
    )
    @problems(FactorNotFound, *SENSITIVE_OPERATION_ERRORS)
    @rate_limit("mfa_remove")
    def delete(self, request: Request, factor_id: str) -> Response:
        totp_factor_remove(
            user=request.user.user,
            session_id=request.user.session_id,
            factor_id=factor_id,
            client=client_info(request),
        )
        return Response(status=HTTPStatus.NO_CONTENT)


class RecoveryCodesRegenerateApi(APIView):
    mfa_enrolment_allowed = True

    @extend_schema(
        request=None,
        responses={201: RecoveryCodesOutputSerializer},
        summary="Replace the recovery codes with ten new ones",
        description=f"The old codes stop working. {ENROLMENT} 409 `mfa_not_enabled` without "
        "a confirmed factor.",
    )
    @problems(MfaNotEnabled, *SENSITIVE_OPERATION_ERRORS)
    @rate_limit("mfa_recovery_codes")
    def post(self, request: Request) -> Response:
        codes = recovery_codes_regenerate(
            user=request.user.user,
            session_id=request.user.session_id,
            client=client_info(request),
        )
        return Response(
            {"recovery_codes": codes},
            status=HTTPStatus.CREATED,
            headers={"Cache-Control": "no-store"},
        )


def passkey_options_response(issued: PasskeyOptions) -> Response:
    data = PasskeyOptionsOutputSerializer(
        {
            "challenge_id": issued.challenge_id,
            "expires_in": issued.expires_in,
            "options": issued.options,
        }
    ).data
    return Response(data, headers={"Cache-Control": "no-store"})


class PasskeyRegistrationOptionsApi(APIView):
    mfa_enrolment_allowed = True

    @extend_schema(
        request=None,
        responses=PasskeyOptionsOutputSerializer,
        summary="Start registering a passkey: the options of navigator.credentials.create()",
        description="A discoverable credential (a passkey) is required, user verification "
        "preferred, no attestation; the account's passkeys are excluded. The challenge "
        f"lives 5 minutes and answers once. {ENROLMENT}",
    )
    @problems(*SENSITIVE_OPERATION_ERRORS)
    @rate_limit("passkey_register_options")
    def post(self, request: Request) -> Response:
        issued = passkey_registration_begin(
            user=request.user.user, session_id=request.user.session_id
        )
        return passkey_options_response(issued)


class PasskeyListApi(APIView):
    mfa_enrolment_allowed = True

    @extend_schema(responses=PasskeyOutputSerializer(many=True), summary="The user's passkeys")
    @rate_limit("passkey_list")
    def get(self, request: Request) -> Response:
        passkeys = passkey_list(user_id=request.user.pk)
        return Response(PasskeyOutputSerializer(passkeys, many=True).data)

    @extend_schema(
        request=PasskeyRegisterInputSerializer,
        responses={201: PasskeyRegistrationOutputSerializer},
        summary="Register a passkey: the answer of navigator.credentials.create()",
        description="Send the credential (its toJSON()) and a name. A passkey is a second "
        "factor: from now on password sign-ins ask for it (or an app's code), and this "
        "session rises to aal2; the account's first factor ends its other one-factor "
        "sessions and brings ten recovery codes, shown this once. At most 10 passkeys "
        "(409 `passkey_limit`); 409 `passkey_already_registered`; 400 `passkey_invalid` "
        "(wrong origin or RP ID, bad signature or format) or `passkey_challenge_invalid` "
        f"(unknown, expired or used: ask for new options). {ENROLMENT}",
    )
    @problems(
        *SENSITIVE_OPERATION_ERRORS,
        PasskeyInvalid,
        PasskeyChallengeInvalid,
        PasskeyLimitReached,
        PasskeyAlreadyRegistered,
    )
    @rate_limit("passkey_register")
    def post(self, request: Request) -> Response:
        serializer = PasskeyRegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        registration = passkey_register(
            user=request.user.user,
            session_id=request.user.session_id,
            credential=serializer.validated_data["credential"],
            name=serializer.validated_data["name"],
            client=client_info(request),
        )
        data = PasskeyRegistrationOutputSerializer(
            {"passkey": registration.passkey, "recovery_codes": registration.recovery_codes}
        ).data
        return Response(data, status=HTTPStatus.CREATED, headers={"Cache-Control": "no-store"})


class PasskeyDetailApi(APIView):
    mfa_enrolment_allowed = True

    @extend_schema(
        request=PasskeyUpdateInputSerializer,
        responses=PasskeyOutputSerializer,
        summary="Rename a passkey",
        description="404 `passkey_not_found`.",
    )
    @problems(PasskeyNotFound)
    @rate_limit("passkey_update")
    def patch(self, request: Request, passkey_id: str) -> Response:
        serializer = PasskeyUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        passkey = passkey_update(
            user=request.user.user, passkey_id=passkey_id, **serializer.validated_data
        )
        return Response(PasskeyOutputSerializer(passkey).data)

    @extend_schema(
        responses={204: OpenApiResponse(description="Removed")},
        summary="Remove a passkey",
        description=f"{ENROLMENT} With the account's last factor go the recovery codes. 404 "
        "`passkey_not_found`.",
    )
    @problems(PasskeyNotFound, *SENSITIVE_OPERATION_ERRORS)
    @rate_limit("passkey_remove")
    def delete(self, request: Request, passkey_id: str) -> Response:
        passkey_remove(
            user=request.user.user,
            session_id=request.user.session_id,
            passkey_id=passkey_id,
            client=client_info(request),
        )
        return Response(status=HTTPStatus.NO_CONTENT)


class PasskeySignInOptionsApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        request=None,
        responses=PasskeyOptionsOutputSerializer,
        summary="Start a passkey assertion: the options of navigator.credentials.get()",
        description="For a sign-in with a passkey alone, the answer to a sign-in challenge "
        "(POST /api/v1/auth/mfa/verify) and a re-authentication alike. The challenge is "
        "held by Keyhouse, not in a cookie: send `challenge_id` back with the answer, "
        "within 5 minutes, once.",
    )
    @rate_limit("passkey_options")
    def post(self, request: Request) -> Response:
        return passkey_options_response(passkey_authentication_begin())


class PasskeySignInApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        request=PasskeySignInInputSerializer,
        responses={200: TokenPairOutputSerializer},
        summary="Sign in with a passkey alone",
        description="Send the `challenge_id` of the options and the credential "
        "(navigator.credentials.get()'s answer, its toJSON()). The passkey names the "
        "account; the authenticator must have verified the user (400 "
        "`passkey_user_verification_required`), and the session is aal2 with `amr` "
        '`["hwk", "user"]`. 400 `passkey_invalid` for a passkey unknown, of a disabled '
        "account, or that fails the checks (origin, RP ID, signature); "
        "`passkey_sign_count_regressed` when its counter went back (a cloned "
        "authenticator); `passkey_challenge_invalid` when the challenge is unknown, expired "
        "or answered.",
    )
    @problems(*ASSERTION_ERRORS, SigningKeyMissing)
    @rate_limit("passkey_verify")
    def post(self, request: Request) -> Response:
        serializer = PasskeySignInInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = signin_with_passkey(
            challenge_id=serializer.validated_data["challenge_id"],
            credential=serializer.validated_data["credential"],
            client=client_info(request),
        )
        return token_pair_response(
            pair, transport=serializer.validated_data.get("refresh_token_transport")
        )
