"""The GoTrue API under /auth/v1/: what ``@supabase/auth-js`` calls, over Keyhouse's services.

Each view reads GoTrue's request, calls the Keyhouse service that owns the rule and
answers in GoTrue's shape; errors are reshaped by ``keyhouse.gotrue.errors``. The views
are left out of Keyhouse's OpenAPI document: their contract is GoTrue's, and
docs/supabase.md lists it.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.accounts.services.account import (
    email_change_confirm,
    email_change_request,
    password_change,
)
from keyhouse.accounts.services.email_signin import (
    email_code_answer,
    email_sign_in,
    email_sign_in_code_send,
)
from keyhouse.accounts.services.password_reset import password_forgot
from keyhouse.accounts.services.phone import (
    phone_change_confirm,
    phone_change_request,
    phone_sign_in,
    phone_sign_in_code_send,
)
from keyhouse.accounts.services.reauthentication import (
    reauthenticate,
    reauthentication_code_channel,
    reauthentication_code_send,
)
from keyhouse.accounts.services.signin import signin_second_factor, signin_with_password
from keyhouse.accounts.services.signup import email_verification_resend, email_verify, signup
from keyhouse.codes.models import Purpose
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import client_info
from keyhouse.core.ratelimit import ratelimit_request
from keyhouse.gotrue import errors, shapes
from keyhouse.gotrue.authentication import (
    GoTrueAuthentication,
    PendingSignInAllowed,
    PendingUser,
    SecondFactorPending,
)
from keyhouse.gotrue.common import (
    input_validated,
    session_response,
    signin_response,
)
from keyhouse.gotrue.serializers import (
    GoTrueFactorEnrolInputSerializer,
    GoTrueFactorVerifyInputSerializer,
    GoTrueOtpInputSerializer,
    GoTruePasswordGrantInputSerializer,
    GoTrueRecoverInputSerializer,
    GoTrueRefreshGrantInputSerializer,
    GoTrueResendInputSerializer,
    GoTrueSignupInputSerializer,
    GoTrueUserUpdateInputSerializer,
    GoTrueVerifyInputSerializer,
)
from keyhouse.gotrue.services import user_metadata_update
from keyhouse.mfa.permissions import mfa_policy_require
from keyhouse.mfa.selectors import factor_get_for_user
from keyhouse.mfa.services.challenges import mfa_challenge_abandon
from keyhouse.mfa.services.factors import (
    FactorNotFound,
    totp_factor_confirm,
    totp_factor_enrol,
    totp_factor_remove,
)
from keyhouse.tokens.keys import keyring_current
from keyhouse.tokens.services import (
    session_logout,
    session_refresh_token_renew,
    token_refresh,
)
from keyhouse.users.models import User
from keyhouse.users.phones import phone_normalize

# The algorithms auth-js verifies in getClaims; it asks GET /user about any other token.
JWKS_ALGORITHMS = ("RS256", "ES256")
CHALLENGE_SALT = "keyhouse.gotrue.mfa-challenge"
CHALLENGE_TTL = 5 * 60
LOGOUT_SCOPES = {"local": "current", "others": "others", "global": "all"}


class GoTrueRefused(KeyhouseError):
    """A GoTrue request Keyhouse does not serve, with GoTrue's code for it."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, code: str, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.code = code
        self.status = status


class GoTrueApi(APIView):
    """A view of the GoTrue API: its errors and every answer carry GoTrue's API version.

    Its callers authenticate with an access token, or with an MFA-pending token on the
    methods named in ``mfa_pending_allowed`` (see keyhouse.gotrue.authentication).
    """

    authentication_classes = (GoTrueAuthentication,)
    # The channel a code sent by this view goes by, for the rate-limit error code.
    code_channel: str | None = None
    # The HTTP methods an MFA-pending sign-in may call.
    mfa_pending_allowed: tuple[str, ...] = ()

    def get_permissions(self) -> list[Any]:
        return [PendingSignInAllowed(), *super().get_permissions()]

    def get_exception_handler(self) -> Any:
        return errors.exception_handler

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response[errors.API_VERSION_HEADER] = errors.API_VERSION
        return response


class PublicGoTrueApi(GoTrueApi):
    authentication_classes = ()
    permission_classes = (AllowAny,)


@extend_schema(exclude=True)
class SettingsApi(PublicGoTrueApi):
    def get(self, request: Request) -> Response:
        return Response(
            {
                "external": shapes.external_providers(),
                "disable_signup": False,
                "mailer_autoconfirm": False,
                "phone_autoconfirm": False,
                "sms_provider": settings.KEYHOUSE_SMS_CODES,
                "saml_enabled": False,
            }
        )


@extend_schema(exclude=True)
class JwksApi(PublicGoTrueApi):
    """The signing keys auth-js can verify with: RS256 and ES256, never EdDSA."""

    def get(self, request: Request) -> Response:
        keys = [key for key in keyring_current().jwks if key.get("alg") in JWKS_ALGORITHMS]
        return Response({"keys": keys}, headers={"Cache-Control": "public, max-age=300"})


@extend_schema(exclude=True)
class SignupApi(PublicGoTrueApi):
    code_channel = "email"

    def post(self, request: Request) -> Response:
        data = input_validated(GoTrueSignupInputSerializer, request)
        ratelimit_request(request=request, action="signup", target=data["email"])
        signup(
            email=data["email"],
            password=data["password"],
            display_name=data["display_name"],
            client=client_info(request),
        )
        return Response(shapes.pending_user_body(email=data["email"]))


@extend_schema(exclude=True)
class TokenApi(PublicGoTrueApi):
    def post(self, request: Request) -> Response:
        grant = request.query_params.get("grant_type")
        if grant == "password":
            return self._password(request)
        if grant == "refresh_token":
            ratelimit_request(request=request, action="token_refresh")
            data = input_validated(GoTrueRefreshGrantInputSerializer, request)
            pair = token_refresh(refresh_token=data["refresh_token"], client=client_info(request))
            return session_response(pair)
        raise GoTrueRefused("validation_failed", _("Unsupported grant_type."))

    def _password(self, request: Request) -> Response:
        data = input_validated(GoTruePasswordGrantInputSerializer, request)
        ratelimit_request(request=request, action="login", target=data["email"] or None)
        if not data["email"]:
            # A phone number has no password in Keyhouse: it signs in with a code.
            raise GoTrueRefused("invalid_credentials", _("Invalid login credentials"))
        result = signin_with_password(
            email=data["email"],
            password=data["password"],
            client=client_info(request),
            request=request,
        )
        return signin_response(result)


@extend_schema(exclude=True)
class OtpApi(PublicGoTrueApi):
    """Send a sign-in code by email or SMS; the same answer for any address or number."""

    def post(self, request: Request) -> Response:
        data = input_validated(GoTrueOtpInputSerializer, request)
        client = client_info(request)
        if "email" in data:
            self.code_channel = "email"
            ratelimit_request(request=request, action="email_send_code", target=data["email"])
            email_sign_in_code_send(email=data["email"], client=client)
            return Response({})
        self.code_channel = "sms"
        phone = phone_normalize(data["phone"])
        ratelimit_request(request=request, action="phone_send_code", target=phone)
        phone_sign_in_code_send(phone=phone, client=client)
        return Response({"message_id": None})


def _change_owner(request: Request) -> User:
    """The signed-in caller, whose own contact change a code confirms.

    Anyone may ask for a code to any address or number, and a newer request replaces
    the older code: the code alone cannot tell whose change it confirms, so the bearer
    session does, as on ``/api/v1/me/email/verify``. GoTrue's ``no_authorization``
    without one; an aal1 session under KEYHOUSE_MFA_POLICY is refused as there too.
    """
    found = GoTrueAuthentication().authenticate(request)
    if found is None:
        raise NotAuthenticated
    request.user, request.auth = found
    if isinstance(request.user, PendingUser):
        raise SecondFactorPending
    mfa_policy_require(request)
    return request.user.user


@extend_schema(exclude=True)
class VerifyApi(PublicGoTrueApi):
    def post(self, request: Request) -> Response:
        data = input_validated(GoTrueVerifyInputSerializer, request)
        client = client_info(request)
        kind, code = data["type"], data["token"]
        if kind in ("sms", "phone_change"):
            target = phone_normalize(data["phone"])
            ratelimit_request(request=request, action="phone_verify", target=target)
            if kind == "sms":
                return signin_response(phone_sign_in(phone=target, code=code, client=client))
            user = phone_change_confirm(user=_change_owner(request), code=code, client=client)
            return Response({"user": shapes.user_body(user)})
        email = data["email"]
        if kind == "recovery":
            ratelimit_request(request=request, action="password_reset", target=email)
            result = email_sign_in(
                email=email, code=code, client=client, purpose=Purpose.PASSWORD_RESET
            )
            return signin_response(result)
        ratelimit_request(request=request, action="email_verify", target=email)
        if kind == "signup":
            return signin_response(email_verify(email=email, code=code, client=client))
        if kind == "email":
            return signin_response(email_code_answer(email=email, code=code, client=client))
        user = email_change_confirm(user=_change_owner(request), code=code, client=client)
        return Response({"user": shapes.user_body(user)})


@extend_schema(exclude=True)
class ResendApi(PublicGoTrueApi):
    def post(self, request: Request) -> Response:
        data = input_validated(GoTrueResendInputSerializer, request)
        client = client_info(request)
        if data["type"] == "sms":
            self.code_channel = "sms"
            phone = phone_normalize(data["phone"])
            ratelimit_request(request=request, action="phone_send_code", target=phone)
            phone_sign_in_code_send(phone=phone, client=client)
            return Response({"message_id": None})
        self.code_channel = "email"
        ratelimit_request(request=request, action="email_resend", target=data["email"])
        email_verification_resend(email=data["email"], client=client)
        return Response({})


@extend_schema(exclude=True)
class RecoverApi(PublicGoTrueApi):
    code_channel = "email"

    def post(self, request: Request) -> Response:
        data = input_validated(GoTrueRecoverInputSerializer, request)
        ratelimit_request(request=request, action="password_forgot", target=data["email"])
        password_forgot(email=data["email"], client=client_info(request))
        return Response({})


@extend_schema(exclude=True)
class ReauthenticateApi(GoTrueApi):
    mfa_enrolment_allowed = True  # as its /api/v1/ twin, see keyhouse.mfa.permissions

    def get(self, request: Request) -> Response:
        ratelimit_request(request=request, action="reauthenticate")
        user = request.user.user
        channel = reauthentication_code_channel(user=user)
        self.code_channel = "sms" if channel and channel[0] == Purpose.PHONE_SIGN_IN else "email"
        reauthentication_code_send(user=user, client=client_info(request))
        return Response({})


@extend_schema(exclude=True)
class UserApi(GoTrueApi):
    # Reading the user and writing its metadata are open to an account enrolling, as
    # on /api/v1/me; a change of password, email or phone is not (see put).
    mfa_enrolment_allowed = True  # see keyhouse.mfa.permissions
    mfa_pending_allowed = ("GET",)

    def get(self, request: Request) -> Response:
        return Response(shapes.user_body(request.user.user))

    def put(self, request: Request) -> Response:
        data = input_validated(GoTrueUserUpdateInputSerializer, request)
        user, session_id, client = request.user.user, request.user.session_id, client_info(request)
        if data.keys() & {"password", "email", "phone"}:
            mfa_policy_require(request)
        if "nonce" in data:
            ratelimit_request(request=request, action="reauthenticate")
            reauthenticate(user=user, session_id=session_id, client=client, code=data["nonce"])
        if "password" in data:
            ratelimit_request(request=request, action="password_change")
            password_change(
                user=user,
                session_id=session_id,
                new_password=data["password"],
                current_password=data.get("current_password"),
                client=client,
                recent_authentication_suffices=True,
            )
        if "email" in data:
            self.code_channel = "email"
            ratelimit_request(request=request, action="email_change")
            email_change_request(
                user=user, session_id=session_id, new_email=data["email"], client=client
            )
        if "phone" in data:
            self.code_channel = "sms"
            ratelimit_request(request=request, action="phone_change")
            phone_change_request(
                user=user, session_id=session_id, phone=data["phone"], client=client
            )
        if "data" in data:
            user_metadata_update(user=user, data=data["data"], client=client)
        user.refresh_from_db()
        return Response(shapes.user_body(user))


@extend_schema(exclude=True)
class LogoutApi(GoTrueApi):
    """End sessions; an MFA-pending sign-in gives up its challenge only, in any scope
    (before its second factor it ends none of the account's sessions)."""

    mfa_enrolment_allowed = True  # as its /api/v1/ twin, see keyhouse.mfa.permissions
    mfa_pending_allowed = ("POST",)

    def post(self, request: Request) -> Response:
        scope = LOGOUT_SCOPES.get(request.query_params.get("scope", "global"))
        if scope is None:
            raise GoTrueRefused("validation_failed", _("scope must be global, local or others."))
        if isinstance(request.user, PendingUser):
            mfa_challenge_abandon(
                challenge_id=request.user.challenge_id,
                user_id=request.user.pk,
                client=client_info(request),
            )
            return Response(status=HTTPStatus.NO_CONTENT)
        session_logout(
            user_id=request.user.pk,
            session_id=request.user.session_id,
            scope=scope,
            client=client_info(request),
        )
        return Response(status=HTTPStatus.NO_CONTENT)


@extend_schema(exclude=True)
class FactorsApi(GoTrueApi):
    mfa_enrolment_allowed = True  # as its /api/v1/ twin, see keyhouse.mfa.permissions

    def post(self, request: Request) -> Response:
        ratelimit_request(request=request, action="mfa_enrol")
        data = input_validated(GoTrueFactorEnrolInputSerializer, request)
        if data["factor_type"] != "totp":
            raise GoTrueRefused(
                f"mfa_{data['factor_type']}_enroll_not_enabled",
                _("Keyhouse enrols authenticator apps (totp) here."),
                HTTPStatus.UNPROCESSABLE_ENTITY,
            )
        enrolment = totp_factor_enrol(
            user=request.user.user,
            session_id=request.user.session_id,
            name=data.get("friendly_name") or _("Authenticator app"),
            client=client_info(request),
        )
        return Response(
            {
                "id": str(enrolment.factor.pk),
                "type": "totp",
                "friendly_name": enrolment.factor.name,
                "totp": {
                    "qr_code": enrolment.qr_svg,
                    "secret": enrolment.secret,
                    "uri": enrolment.otpauth_uri,
                },
            }
        )


def _factor(request: Request, factor_id: uuid.UUID) -> Any:
    """The caller's factor; a pending sign-in can only prove a confirmed one."""
    factor = factor_get_for_user(user_id=request.user.pk, factor_id=factor_id)
    pending = isinstance(request.user, PendingUser)
    if factor is None or (pending and factor.confirmed_at is None):
        raise FactorNotFound
    return factor


def _challenge_value(request: Request, factor_id: uuid.UUID) -> str:
    """What a challenge binds: the factor, and the session or the pending sign-in."""
    if isinstance(request.user, PendingUser):
        return f"{factor_id}:mfa-challenge:{request.user.challenge_id}"
    return f"{factor_id}:{request.user.session_id}"


@extend_schema(exclude=True)
class FactorChallengeApi(GoTrueApi):
    """A challenge for a factor in this session or pending sign-in: a signed, 5-minute
    id that verify takes.

    Keyhouse checks an authenticator code against the factor itself (each code works
    once); the challenge only binds the verify to this factor and session. A pending
    sign-in's challenge ends with the sign-in's own.
    """

    mfa_enrolment_allowed = True  # as its /api/v1/ twin, see keyhouse.mfa.permissions
    mfa_pending_allowed = ("POST",)

    def post(self, request: Request, factor_id: uuid.UUID) -> Response:
        ratelimit_request(request=request, action="mfa_verify")
        factor = _factor(request, factor_id)
        challenge_id = signing.TimestampSigner(salt=CHALLENGE_SALT).sign(
            _challenge_value(request, factor.pk)
        )
        expires_at = int(timezone.now().timestamp()) + CHALLENGE_TTL
        if isinstance(request.user, PendingUser):
            expires_at = min(expires_at, request.auth["exp"])
        return Response({"id": challenge_id, "type": "totp", "expires_at": expires_at})


@extend_schema(exclude=True)
class FactorVerifyApi(GoTrueApi):
    """Prove a factor: an unconfirmed one is confirmed, a confirmed one steps the session
    up, and a pending sign-in answers its challenge (keyhouse.gotrue.pending).

    The session rises to aal2, or starts at aal2, and the client gets a pair saying so.
    The account's first factor comes with its ten recovery codes, ``recovery_codes``
    beside the session, as on /api/v1/: shown this once.
    """

    mfa_enrolment_allowed = True  # as its /api/v1/ twin, see keyhouse.mfa.permissions
    mfa_pending_allowed = ("POST",)

    def post(self, request: Request, factor_id: uuid.UUID) -> Response:
        pending = isinstance(request.user, PendingUser)
        # A pending sign-in's answer counts as its /api/v1/ twin's (POST auth/mfa/verify).
        ratelimit_request(request=request, action="mfa_verify" if pending else "mfa_confirm")
        data = input_validated(GoTrueFactorVerifyInputSerializer, request)
        factor = _factor(request, factor_id)
        try:
            value = signing.TimestampSigner(salt=CHALLENGE_SALT).unsign(
                data["challenge_id"], max_age=CHALLENGE_TTL
            )
        except signing.BadSignature as exc:
            raise GoTrueRefused(
                "mfa_challenge_expired", _("The challenge expired or is not this factor's.")
            ) from exc
        if value != _challenge_value(request, factor.pk):
            raise GoTrueRefused("mfa_challenge_expired", _("This challenge is another factor's."))
        client = client_info(request)
        if pending:
            pair = signin_second_factor(
                challenge_id=request.user.challenge_id,
                factor_id=factor.pk,
                code=data["code"],
                client=client,
            )
            return session_response(pair)
        user, session_id = request.user.user, request.user.session_id
        recovery_codes = None
        if factor.confirmed_at is None:
            recovery_codes = totp_factor_confirm(
                user=user,
                session_id=session_id,
                factor_id=factor.pk,
                code=data["code"],
                client=client,
            ).recovery_codes
        else:
            reauthenticate(
                user=user,
                session_id=session_id,
                client=client,
                totp_code=data["code"],
                factor_id=factor.pk,
            )
        body = shapes.session_body(session_refresh_token_renew(session_id=session_id))
        if recovery_codes:
            body["recovery_codes"] = recovery_codes
        return Response(body)


@extend_schema(exclude=True)
class FactorApi(GoTrueApi):
    mfa_enrolment_allowed = True  # as its /api/v1/ twin, see keyhouse.mfa.permissions

    def delete(self, request: Request, factor_id: uuid.UUID) -> Response:
        ratelimit_request(request=request, action="mfa_remove")
        totp_factor_remove(
            user=request.user.user,
            session_id=request.user.session_id,
            factor_id=factor_id,
            client=client_info(request),
        )
        return Response({"id": str(factor_id)})


@extend_schema(exclude=True)
class NotFoundApi(PublicGoTrueApi):
    """Any other path under /auth/v1/ (social sign-in and identities are not served yet)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        raise GoTrueRefused("not_found", _("Not found."), HTTPStatus.NOT_FOUND)
