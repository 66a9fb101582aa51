from __future__ import annotations

from http import HTTPStatus

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.core.exceptions import problems
from keyhouse.core.http import client_info
from keyhouse.core.ratelimit import rate_limit
from keyhouse.mfa.selectors import PENDING_FACTOR_TTL, factor_list, recovery_codes_remaining
from keyhouse.mfa.serializers import (
    MfaChallengeOutputSerializer,
    MfaStatusOutputSerializer,
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
from keyhouse.mfa.services.recovery import MfaNotEnabled, recovery_codes_regenerate
from keyhouse.tokens.services import TokenPair
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
            "enabled": any(factor.confirmed_at for factor in factors),
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
