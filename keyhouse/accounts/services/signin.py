from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.core.ratelimit import RateLimited, parse_rate, ratelimit_hit, ratelimit_reset
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair, session_start
from keyhouse.users.managers import normalize_email
from keyhouse.users.selectors import user_get_by_email


class InvalidCredentials(KeyhouseError):
    code = "invalid_credentials"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The email address or password is incorrect.")


class LoginThrottled(RateLimited):
    code = "login_throttled"
    message = _(
        "Too many failed sign-ins for this account. Try again later, or reset the password."
    )


class EmailNotVerified(KeyhouseError):
    code = "email_not_verified"
    status = HTTPStatus.FORBIDDEN
    message = _("Verify your email address before signing in with a password.")


def _password_throttles(*, account: str, ip: str | None) -> list[tuple[str, str, str]]:
    """The failure counters a password check passes: (scope, key, rate).

    Per account and client IP first, so one attacker is stopped after a few tries
    without locking the owner out from elsewhere; then a higher per-account threshold
    that catches guessing spread over many addresses. Both windows end on their own.
    """
    throttles = [("login_failures.account", account, settings.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT)]
    if ip:
        throttles.insert(
            0,
            (
                "login_failures.account_ip",
                f"{account}|{ip}",
                settings.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP,
            ),
        )
    return throttles


def password_attempt_count(*, account: str, ip: str | None) -> list[tuple[str, str, str]]:
    """Count a password attempt for ``account`` (an email) before checking it.

    Counting first means concurrent guesses cannot slip past a threshold. Raises
    LoginThrottled over either threshold; returns the counters for
    ``password_attempts_clear`` after a correct password. Sign-in and every later
    password check (re-authentication, password change) share the same counters, so
    a stolen session cannot guess the password faster than a sign-in form can.
    """
    throttles = _password_throttles(account=normalize_email(account).lower(), ip=ip)
    for scope, key, rate in throttles:
        result = ratelimit_hit(scope=scope, key=key, rate=parse_rate(rate))
        if not result.allowed:
            raise LoginThrottled(retry_after=result.retry_after)
    return throttles


def password_attempts_clear(throttles: list[tuple[str, str, str]]) -> None:
    for scope, key, rate in throttles:
        ratelimit_reset(scope=scope, key=key, rate=parse_rate(rate))


def signin_with_password(
    *, email: str, password: str, client: ClientInfo, request: HttpRequest | None = None
) -> TokenPair:
    """Sign in with email and password and start a session.

    Unknown address, wrong password and inactive account all fail the same way after
    the same work: Django's ModelBackend hashes the password even when no user
    matches, so response times do not tell them apart. Whether the address is verified
    is told only to someone who has just proved the password.

    Failures are throttled per account (see ``password_attempt_count``); the counters
    exist for any address, registered or not, and so tell nothing either.
    """
    try:
        throttles = password_attempt_count(account=email, ip=client.ip)
    except LoginThrottled:
        audit_record(
            type=AuditEvent.Type.LOGIN_FAILED,
            client=client,
            detail={"email": email, "reason": "throttled"},
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
            detail={"email": email},
        )
        SIGN_INS.labels(method="password", outcome="failure").inc()
        raise InvalidCredentials
    password_attempts_clear(throttles)
    if settings.KEYHOUSE_LOGIN_REQUIRES_VERIFIED_EMAIL and user.email_verified_at is None:
        raise EmailNotVerified
    pair = session_start(user=user, amr=[LoginSession.Method.PASSWORD], client=client)
    SIGN_INS.labels(method="password", outcome="success").inc()
    audit_record(
        type=AuditEvent.Type.LOGIN_SUCCEEDED,
        user_id=user.pk,
        client=client,
        detail={"method": "password", "session": str(pair.session.pk)},
    )
    return pair
