from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.core.ratelimit import (
    Rate,
    RateLimited,
    parse_rate,
    ratelimit_generation,
    ratelimit_generation_renew,
    ratelimit_hit,
)
from keyhouse.mfa.selectors import factor_confirmed_exists
from keyhouse.mfa.services.assurance import mfa_policy_covers
from keyhouse.mfa.services.challenges import (
    MfaChallengeIssued,
    mfa_challenge_answer,
    mfa_challenge_user,
    signin_complete,
)
from keyhouse.mfa.services.factors import TotpCodeInvalid, second_factor_accept
from keyhouse.mfa.services.recovery import MfaNotEnabled, RecoveryCodeInvalid
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair, amr_merge, session_start
from keyhouse.users.emails import email_canonical
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email


class InvalidCredentials(KeyhouseError):
    code = "invalid_credentials"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The email address or password is incorrect.")


class AdminSignInRefused(Exception):
    """Why the admin's login form refuses a right password.

    Only that form shows it, as a form error; no API view answers with it, so it is no
    KeyhouseError (every one of those is declared in the OpenAPI document).
    """

    code: str
    message: str


class AdminCodeRequired(AdminSignInRefused):
    code = "mfa_required"
    message = _("Enter the code from your authenticator app, or a recovery code.")


class AdminMfaEnrollmentRequired(AdminSignInRefused):
    code = "mfa_enrollment_required"
    message = _(
        "Staff accounts need a second factor: enrol an authenticator app through the API "
        "(POST /api/v1/me/mfa/totp) before you sign in to the admin."
    )


class LoginThrottled(RateLimited):
    code = "login_throttled"
    message = _(
        "Too many failed sign-ins for this account. Try again later, or reset the password."
    )


_FAILURES = "login_failures"


def throttle_account(user: User) -> str:
    """What a user's failure counters are keyed on: the email, or the id of an account
    without one."""
    return user.email or str(user.pk)


def _failure_rates() -> tuple[Rate, Rate]:
    """The failure thresholds: per account and client IP, then per account."""
    return (
        parse_rate(settings.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP),
        parse_rate(settings.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT),
    )


def _longest_failure_rate() -> Rate:
    return max(_failure_rates(), key=lambda rate: rate.period)


def _password_throttles(*, account: str, ip: str | None) -> list[tuple[str, str, Rate]]:
    """The failure counters a password check passes: (scope, key, rate).

    Per account and client IP first, so one attacker is stopped after a few tries
    without locking the owner out from elsewhere; then a higher per-account threshold
    that catches guessing spread over many addresses. Both windows end on their own,
    and both are keyed under the account's generation, so that
    ``password_failures_clear`` forgets them for every IP at once.
    """
    generation = ratelimit_generation(scope=_FAILURES, key=account, longest=_longest_failure_rate())
    per_account_ip, per_account = _failure_rates()
    throttles = [(f"{_FAILURES}.account", f"{account}|{generation}", per_account)]
    if ip:
        throttles.insert(
            0, (f"{_FAILURES}.account_ip", f"{account}|{generation}|{ip}", per_account_ip)
        )
    return throttles


def password_attempt_count(*, account: str, ip: str | None) -> None:
    """Count a password attempt for ``account`` (an email) before checking it.

    Counting first means concurrent guesses cannot slip past a threshold. Raises
    LoginThrottled over either threshold. Sign-in and every later password check
    (re-authentication, password change) share the same counters, so a stolen session
    cannot guess the password faster than a sign-in form can.
    """
    for scope, key, rate in _password_throttles(account=email_canonical(account), ip=ip):
        result = ratelimit_hit(scope=scope, key=key, rate=rate)
        if not result.allowed:
            raise LoginThrottled(retry_after=result.retry_after)


def password_failures_clear(*, account: str) -> None:
    """Forget the failed password attempts on ``account`` (an email), from every IP.

    Called after a correct password and after a password reset, so that whoever
    proves the password or the mailbox can sign in at once, wherever the failures
    came from.
    """
    ratelimit_generation_renew(
        scope=_FAILURES, key=email_canonical(account), longest=_longest_failure_rate()
    )


def password_authenticate(
    *,
    email: str,
    password: str,
    client: ClientInfo,
    request: HttpRequest | None = None,
    clear_failures: bool = True,
) -> User:
    """Check an email and password under the failure throttle; return the active user.

    Unknown address, wrong password and inactive account all raise InvalidCredentials
    after the same work: Django's ModelBackend hashes the password even when no user
    matches, so response times do not tell them apart. The failure counters (see
    ``password_attempt_count``) exist for any address, registered or not, and so tell
    nothing either. Every failure is recorded; a correct password clears the counters,
    unless ``clear_failures`` is off (a second factor is still to come).
    """
    try:
        password_attempt_count(account=email, ip=client.ip)
    except LoginThrottled:
        audit_record(
            type=AuditEvent.Type.LOGIN_FAILED,
            client=client,
            detail={"email": email_canonical(email), "reason": "throttled"},
        )
        SIGN_INS.labels(method="password", outcome="throttled").inc()
        raise
    user = authenticate(request, email=email, password=password)
    if user is None:
        known = user_get_by_email(email=email)
        audit_record(
            type=AuditEvent.Type.LOGIN_FAILED,
            user_id=known.pk if known else None,
            client=client,
            detail={"email": email_canonical(email)},
        )
        SIGN_INS.labels(method="password", outcome="failure").inc()
        raise InvalidCredentials
    if clear_failures:
        password_failures_clear(account=email)
    return user


def signin_with_password(
    *, email: str, password: str, client: ClientInfo, request: HttpRequest | None = None
) -> TokenPair | MfaChallengeIssued:
    """Sign in with email and password: start a session, or challenge for a second factor.

    See ``password_authenticate`` for how failures look and are throttled. Failed
    sign-ins are forgotten only once the sign-in is complete: wrong second-factor codes
    count on the same counters, and a right password does not reset them.
    """
    user = password_authenticate(
        email=email, password=password, client=client, request=request, clear_failures=False
    )
    result = signin_complete(user=user, amr=[LoginSession.Method.PASSWORD], client=client)
    if isinstance(result, MfaChallengeIssued):
        SIGN_INS.labels(method="password", outcome="mfa_required").inc()
        return result
    password_failures_clear(account=email)
    SIGN_INS.labels(method="password", outcome="success").inc()
    audit_record(
        type=AuditEvent.Type.LOGIN_SUCCEEDED,
        user_id=user.pk,
        client=client,
        detail={"method": "password", "session": str(result.session.pk)},
    )
    return result


def _second_factor_attempt_count(*, user: User, client: ClientInfo) -> None:
    """Count a second-factor code on the account's failed sign-in counters, as a password."""
    try:
        password_attempt_count(account=throttle_account(user), ip=client.ip)
    except LoginThrottled:
        audit_record(
            type=AuditEvent.Type.LOGIN_FAILED,
            user_id=user.pk,
            client=client,
            detail={"reason": "throttled", "step": "mfa"},
        )
        SIGN_INS.labels(method="mfa", outcome="throttled").inc()
        raise


def signin_second_factor(
    *,
    client: ClientInfo,
    mfa_token: str | None = None,
    challenge_id: int | None = None,
    factor_id: object = None,
    code: str | None = None,
    recovery_code: str | None = None,
    passkey: dict[str, Any] | None = None,
) -> TokenPair:
    """Answer a sign-in challenge and start an aal2 session.

    The challenge is named by its ``mfa_token`` or its ``challenge_id`` (see
    ``mfa_challenge_answer``). Each answer counts on the account's failed sign-in
    counters, as a password does, so a stolen password does not buy unlimited guesses
    at the code.
    """
    user = mfa_challenge_user(token=mfa_token, challenge_id=challenge_id)
    if user is not None:
        _second_factor_attempt_count(user=user, client=client)
    challenge, second = mfa_challenge_answer(
        token=mfa_token,
        challenge_id=challenge_id,
        client=client,
        factor_id=factor_id,
        code=code,
        recovery_code=recovery_code,
        passkey=passkey,
    )
    password_failures_clear(account=throttle_account(challenge.user))
    pair = session_start(
        user=challenge.user,
        amr=amr_merge(challenge.amr, second),
        client=client,
        aal=LoginSession.Level.AAL2,
    )
    SIGN_INS.labels(method="mfa", outcome="success").inc()
    audit_record(
        type=AuditEvent.Type.LOGIN_SUCCEEDED,
        user_id=challenge.user_id,
        client=client,
        detail={"method": "+".join(pair.session.amr), "session": str(pair.session.pk)},
    )
    return pair


def _admin_refused(*, user: User, email: str, client: ClientInfo, reason: str) -> None:
    audit_record(
        type=AuditEvent.Type.LOGIN_FAILED,
        user_id=user.pk,
        client=client,
        detail={"email": email_canonical(email), "reason": reason, "site": "admin"},
    )
    SIGN_INS.labels(method="password", outcome="failure").inc()


def signin_admin(
    *,
    email: str,
    password: str,
    client: ClientInfo,
    code: str = "",
    request: HttpRequest | None = None,
) -> User:
    """Check a staff member's password and second factor for the admin site; return the user.

    The same failure throttle and audit trail as API sign-in apply; Django's login view
    then starts the browser session. A correct password for an account without staff
    access fails like a wrong one. An account with an authenticator app also gives a
    code from it, or a recovery code, which counts on the failure throttle and is spent
    as in the API's challenge; a wrong one fails like a wrong password. Under
    KEYHOUSE_MFA_POLICY, a staff account it covers without a factor is refused. The
    failure counters are cleared only once every check has passed.
    """
    user = password_authenticate(
        email=email, password=password, client=client, request=request, clear_failures=False
    )
    if not user.is_staff:
        _admin_refused(user=user, email=email, client=client, reason="not_staff")
        raise InvalidCredentials
    method = "password"
    if factor_confirmed_exists(user_id=user.pk):
        if not code:
            audit_record(
                type=AuditEvent.Type.MFA_CHALLENGE_ISSUED,
                user_id=user.pk,
                client=client,
                detail={"amr": [LoginSession.Method.PASSWORD], "site": "admin"},
            )
            SIGN_INS.labels(method="password", outcome="mfa_required").inc()
            raise AdminCodeRequired
        _second_factor_attempt_count(user=user, client=client)
        try:
            second = second_factor_accept(user=user, code=code, client=client, during="admin")
        except (TotpCodeInvalid, RecoveryCodeInvalid, MfaNotEnabled) as exc:
            raise InvalidCredentials from exc
        method = "+".join(amr_merge([LoginSession.Method.PASSWORD], second))
    elif mfa_policy_covers(user=user):
        _admin_refused(user=user, email=email, client=client, reason="mfa_enrollment_required")
        raise AdminMfaEnrollmentRequired
    password_failures_clear(account=email)
    SIGN_INS.labels(method="password", outcome="success").inc()
    audit_record(
        type=AuditEvent.Type.LOGIN_SUCCEEDED,
        user_id=user.pk,
        client=client,
        detail={"method": method, "site": "admin"},
    )
    return user
