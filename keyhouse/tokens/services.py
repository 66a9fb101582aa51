"""Login sessions, refresh-token rotation, access tokens and signing-key rotation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.crypto import keyed_hash, random_secret
from keyhouse.core.exceptions import KeyhouseError, ServiceUnavailable
from keyhouse.core.http import ClientInfo
from keyhouse.tokens import jwt, keys
from keyhouse.tokens.models import LoginSession, RefreshToken, SigningKey
from keyhouse.tokens.selectors import refresh_token_locked

REFRESH_HASH_SALT = "keyhouse.tokens.refresh.hash"
REFRESH_SUCCESSOR_SALT = "keyhouse.tokens.refresh.successor"
REVOKED_SESSION_KEY = "keyhouse:revoked-session:{}"


class RefreshTokenInvalid(KeyhouseError):
    code = "refresh_token_invalid"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The refresh token is not valid.")


class RefreshTokenReused(KeyhouseError):
    code = "refresh_token_reused"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The refresh token was already used; the session has been ended for safety.")


class SessionExpired(KeyhouseError):
    code = "session_expired"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The session has expired. Sign in again.")


class SessionRevoked(KeyhouseError):
    code = "session_revoked"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The session has been signed out. Sign in again.")


# A refresh that a token cannot make: the grant is invalid (RFC 6749 section 5.2).
REFRESH_REFUSED = (RefreshTokenInvalid, RefreshTokenReused, SessionExpired, SessionRevoked)


class SigningKeyMissing(ServiceUnavailable):
    code = "signing_key_missing"
    message = _("No signing key is configured. Run 'manage.py rotate_signing_key'.")


@dataclass(frozen=True)
class TokenPair:
    """A session's new tokens. The access token is signed when first read, with ``claims``
    added, so that an API shaped like another product's (keyhouse.gotrue) adds its own
    claims with ``with_claims`` and the token is still signed once."""

    expires_in: int
    refresh_token: str
    session: LoginSession
    issued_at: datetime
    signer: keys.Signer
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> Any:
        return self.session.user

    @cached_property
    def access_token(self) -> str:
        return access_token_sign(
            session=self.session, issued_at=self.issued_at, signer=self.signer, claims=self.claims
        )

    def with_claims(self, claims: dict[str, Any]) -> TokenPair:
        """This pair, its access token to carry ``claims`` too (see ``access_token_sign``)."""
        return replace(self, claims={**self.claims, **claims})


def _refresh_hash(secret: str) -> str:
    return keyed_hash(secret, salt=REFRESH_HASH_SALT)


def _refresh_successor(secret: str) -> str:
    """Derive the token that replaces ``secret``.

    Deriving it (instead of drawing a fresh random one) lets a request that presents an
    already-rotated token within the grace window get the very same successor back
    without the successor being stored anywhere in clear.
    """
    return keyed_hash(secret, salt=REFRESH_SUCCESSOR_SALT)


def signer_current() -> keys.Signer:
    """The key that signs access tokens now, or SigningKeyMissing."""
    signer = keys.keyring_current().signer
    if signer is None:
        raise SigningKeyMissing
    return signer


def access_token_sign(
    *,
    session: LoginSession,
    issued_at: datetime,
    signer: keys.Signer,
    claims: dict[str, Any] | None = None,
) -> str:
    """Sign an access token for a session (RFC 9068 claims plus verification status).

    ``claims`` adds claims or replaces some, for an API shaped like another product's
    (keyhouse.gotrue); the registered claims that the bearer check reads stay as made here.
    """
    user = session.user
    issued = int(issued_at.timestamp())
    payload = {
        "iss": settings.KEYHOUSE_JWT_ISSUER,
        "aud": settings.KEYHOUSE_JWT_AUDIENCE,
        "sub": str(user.pk),
        "sid": str(session.pk),
        "iat": issued,
        "nbf": issued,
        "exp": issued + settings.KEYHOUSE_ACCESS_TOKEN_LIFETIME,
        "jti": uuid.uuid4().hex,
        "client_id": settings.KEYHOUSE_DEFAULT_CLIENT_ID,
        "amr": session.amr,
        "aal": session.aal,
        "auth_time": int(session.authenticated_at.timestamp()),
        "email_verified": user.email_verified_at is not None,
        "phone_verified": user.phone_verified_at is not None,
    }
    protected = {name: payload[name] for name in jwt.REQUIRED_CLAIMS}
    return jwt.encode({**payload, **(claims or {}), **protected}, signer=signer)


def _token_pair(session: LoginSession, refresh_token: str, now: datetime) -> TokenPair:
    # The signing key is picked here, inside the service's transaction: without one the
    # service fails and its session is rolled back; the token is signed when read.
    return TokenPair(
        expires_in=settings.KEYHOUSE_ACCESS_TOKEN_LIFETIME,
        refresh_token=refresh_token,
        session=session,
        issued_at=now,
        signer=signer_current(),
    )


@transaction.atomic
def session_start(
    *,
    user: Any,
    amr: list[str],
    client: ClientInfo,
    aal: LoginSession.Level = LoginSession.Level.AAL1,
) -> TokenPair:
    """Open a session for a user who just proved who they are, and issue its tokens.

    ``aal`` is aal2 only when a second factor was proven (see keyhouse.mfa).
    """
    now = timezone.now()
    session = LoginSession.objects.create(
        user=user,
        amr=amr,
        aal=aal,
        last_refreshed_at=now,
        authenticated_at=now,
        ip=client.ip,
        user_agent=client.user_agent,
        expires_at=now + timedelta(seconds=settings.KEYHOUSE_SESSION_ABSOLUTE_LIFETIME),
    )
    secret = random_secret()
    RefreshToken.objects.create(session=session, token_hash=_refresh_hash(secret))
    get_user_model().objects.filter(pk=user.pk).update(last_login=now)
    return _token_pair(session, secret, now)


def session_authenticated(*, session_id: uuid.UUID, second_factor: list[str] | None = None) -> None:
    """Record that the user just proved a password or code again in this session.

    A ``second_factor`` proof (its RFC 8176 ``amr`` values) raises the session to aal2
    and adds the values to its ``amr``; the next access token says so.
    """
    now = timezone.now()
    if second_factor is None:
        LoginSession.objects.filter(pk=session_id).update(authenticated_at=now)
        return
    with transaction.atomic():
        session = LoginSession.objects.select_for_update().get(pk=session_id)
        session.amr = amr_merge(session.amr, second_factor)
        session.aal = LoginSession.Level.AAL2
        session.authenticated_at = now
        session.save(update_fields=["amr", "aal", "authenticated_at"])


def amr_merge(first: list[str], second: list[str]) -> list[str]:
    """Join two lists of RFC 8176 values in order, each once, with "mfa" when both count."""
    merged = list(dict.fromkeys([*first, *second]))
    if first and second and "mfa" not in merged:
        merged.append("mfa")
    return merged


def token_refresh(*, refresh_token: str, client: ClientInfo) -> TokenPair:
    """Exchange a refresh token for a new pair, rotating it.

    The token row is locked, so of two concurrent refreshes one rotates and the other
    then sees a token rotated within the grace window and gets the same successor:
    a session never forks. A token retired without a derived successor (a renewal)
    is refused in that window, the session left alone. A rotated token presented
    after the window is a replay, and ends the session (reuse detection, RFC 9700
    section 4.14.2).
    """
    now = timezone.now()
    with transaction.atomic():
        token = refresh_token_locked(token_hash=_refresh_hash(refresh_token))
        if token is None:
            raise RefreshTokenInvalid
        session = token.session
        if session.revoked_at is not None or not session.user.is_active:
            raise SessionRevoked
        if not session.is_live(now):
            raise SessionExpired
        successor = _refresh_successor(refresh_token)
        grace = timedelta(seconds=settings.KEYHOUSE_REFRESH_GRACE_PERIOD)
        replayed = token.rotated_at is not None and now - token.rotated_at > grace
        if replayed:
            session_revoke(session=session, reason="refresh_reused", client=client)
            audit_record(
                type=AuditEvent.Type.REFRESH_REUSED,
                user_id=session.user_id,
                client=client,
                detail={"session": str(session.pk)},
            )
        elif token.rotated_at is None:
            RefreshToken.objects.filter(pk=token.pk).update(rotated_at=now)
            RefreshToken.objects.create(session_id=session.pk, token_hash=_refresh_hash(successor))
            seen = {"last_refreshed_at": now, "ip": client.ip, "user_agent": client.user_agent}
            LoginSession.objects.filter(pk=session.pk).update(**seen)
            vars(session).update(seen)
        elif not RefreshToken.objects.filter(token_hash=_refresh_hash(successor)).exists():
            # A token retired by ``session_refresh_token_renew`` has no derived successor
            # and is refused in the grace window, but is no replay: its client just got
            # its new pair.
            raise RefreshTokenInvalid
        # The signing key is picked here, so that without one the rotation is rolled back;
        # the access token is signed when read, after the commit, outside the lock.
        pair = None if replayed else _token_pair(session, successor, now)
    if pair is None:
        raise RefreshTokenReused
    return pair


@transaction.atomic
def session_refresh_token_renew(*, session_id: uuid.UUID) -> TokenPair:
    """Give a live session a new refresh token, retiring its current one, and a new pair.

    For a client that gets a fresh pair after a step-up without sending its refresh
    token (GoTrue's MFA verify): the retired token then counts as rotated, so presenting
    it again after the grace window is a replay and ends the session.
    """
    now = timezone.now()
    session = LoginSession.objects.select_for_update().select_related("user").get(pk=session_id)
    if session.revoked_at is not None or not session.user.is_active:
        raise SessionRevoked
    if not session.is_live(now):
        raise SessionExpired
    RefreshToken.objects.filter(session=session, rotated_at__isnull=True).update(rotated_at=now)
    secret = random_secret()
    RefreshToken.objects.create(session=session, token_hash=_refresh_hash(secret))
    return _token_pair(session, secret, now)


def token_revoke(*, token: str, client: ClientInfo) -> int:
    """End the session of a refresh token, current or rotated (RFC 7009); return 1 or 0.

    An unknown token, or a session already ended, changes nothing: the client's aim,
    that the token no longer works, holds either way.
    """
    session = (
        LoginSession.objects.filter(refresh_tokens__token_hash=_refresh_hash(token))
        .only("pk", "user_id")
        .first()
    )
    if session is None:
        return 0
    return session_revoke(session=session, reason="token_revoked", client=client)


def _revocation_list_add(session_ids: list[uuid.UUID]) -> None:
    # An access token lives at most this long, so the entry may expire with it.
    timeout = settings.KEYHOUSE_ACCESS_TOKEN_LIFETIME + settings.KEYHOUSE_JWT_LEEWAY
    try:
        cache.set_many({REVOKED_SESSION_KEY.format(sid): 1 for sid in session_ids}, timeout)
    except Exception as exc:
        # Without the list, the sessions' access tokens would live on: end nothing.
        raise ServiceUnavailable from exc


@dataclass(frozen=True)
class AccessState:
    """What the bearer check reads from the cache: whether the token's session was ended,
    and the keyring generation to verify it against (see ``keys.keyring``)."""

    session_revoked: bool
    keyring_generation: str | keys.Generation | None


def access_state_read(*, session_id: str | None) -> AccessState:
    """Read the revocation list for ``session_id`` (None: not checked) and the keyring
    generation, in one cache round trip.

    A cache that cannot answer refuses the token when the revocation list was asked:
    an ended session's tokens must not live on. Otherwise the keyring is used as loaded.
    """
    revoked_key = REVOKED_SESSION_KEY.format(session_id)
    wanted = [keys.KEYRING_GENERATION_KEY] + ([revoked_key] if session_id else [])
    try:
        found = cache.get_many(wanted)
    except Exception as exc:
        if session_id:
            raise ServiceUnavailable from exc
        return AccessState(session_revoked=False, keyring_generation=keys.Generation.UNKNOWN)
    return AccessState(
        session_revoked=bool(session_id) and revoked_key in found,
        keyring_generation=found.get(keys.KEYRING_GENERATION_KEY),
    )


def _revoke(
    sessions: QuerySet[LoginSession],
    *,
    user_id: uuid.UUID,
    reason: str,
    client: ClientInfo | None,
    by: uuid.UUID | None = None,
) -> int:
    """End the live sessions among ``sessions``: refresh tokens stop, access tokens are refused.

    ``by`` is the admin who ended them, recorded in the audit event.
    """
    session_ids = list(
        sessions.select_for_update().filter(revoked_at__isnull=True).values_list("pk", flat=True)
    )
    if not session_ids:
        return 0
    LoginSession.objects.filter(pk__in=session_ids).update(
        revoked_at=timezone.now(), revoke_reason=reason
    )
    _revocation_list_add(session_ids)
    audit_record(
        type=AuditEvent.Type.SESSION_REVOKED,
        user_id=user_id,
        client=client,
        detail={"sessions": [str(sid) for sid in session_ids], "reason": reason},
        by=by,
    )
    return len(session_ids)


@transaction.atomic
def session_revoke(
    *,
    session: LoginSession,
    reason: str,
    client: ClientInfo | None = None,
    by: uuid.UUID | None = None,
) -> int:
    """End one session; return 1, or 0 if it had already ended."""
    return _revoke(
        LoginSession.objects.filter(pk=session.pk),
        user_id=session.user_id,
        reason=reason,
        client=client,
        by=by,
    )


@transaction.atomic
def session_revoke_all(
    *,
    user_id: uuid.UUID,
    reason: str,
    client: ClientInfo | None = None,
    keep_session_id: uuid.UUID | None = None,
    by: uuid.UUID | None = None,
    aal: LoginSession.Level | None = None,
) -> int:
    """End every live session of a user, except ``keep_session_id``; return how many.

    With ``aal``, only the sessions at that assurance level end.
    """
    sessions = LoginSession.objects.filter(user_id=user_id)
    if aal is not None:
        sessions = sessions.filter(aal=aal)
    if keep_session_id is not None:
        sessions = sessions.exclude(pk=keep_session_id)
    return _revoke(sessions, user_id=user_id, reason=reason, client=client, by=by)


def session_purge_ended(*, now: datetime) -> int:
    """Delete sessions (with their refresh tokens) that ended over a retention ago.

    Returns how many sessions went.

    A session that ended recently is kept so that its owner and admins can still see
    it, and so that a replayed refresh token still finds it and is refused precisely.
    """
    cutoff = now - timedelta(days=settings.KEYHOUSE_SESSION_RETENTION_DAYS)
    idle_cutoff = cutoff - timedelta(seconds=settings.KEYHOUSE_SESSION_IDLE_TIMEOUT)
    _total, by_model = LoginSession.objects.filter(
        Q(revoked_at__lt=cutoff) | Q(expires_at__lt=cutoff) | Q(last_refreshed_at__lt=idle_cutoff)
    ).delete()
    return by_model.get(LoginSession._meta.label, 0)


@transaction.atomic
def session_logout(
    *, user_id: uuid.UUID, session_id: uuid.UUID, scope: str, client: ClientInfo
) -> int:
    """Sign out of this session, of every other one, or of all; return how many ended."""
    if scope == "current":
        ended = _revoke(
            LoginSession.objects.filter(pk=session_id, user_id=user_id),
            user_id=user_id,
            reason="logout",
            client=client,
        )
    else:
        ended = session_revoke_all(
            user_id=user_id,
            reason=f"logout_{scope}",
            client=client,
            keep_session_id=session_id if scope == "others" else None,
        )
    audit_record(
        type=AuditEvent.Type.LOGOUT,
        user_id=user_id,
        client=client,
        detail={"scope": scope, "ended": ended},
    )
    return ended


@transaction.atomic
def signing_key_rotate(
    *,
    algorithm: str | None = None,
    pem: bytes | None = None,
    immediately: bool = False,
    withdraw: bool = False,
) -> SigningKey:
    """Add a signing key; it takes over from the current one after the activation delay.

    Until then the new key is only published, so that Keyhouse's other processes
    and the services caching the JWKS learn it before it signs anything; the old key
    stays published until every token it signed has expired. ``immediately`` skips
    the delay (a leaked key); the first key always starts at once. With ``pem`` the
    operator's own private key is imported, otherwise one is made for ``algorithm``
    (KEYHOUSE_JWT_ALGORITHM by default).

    ``withdraw`` (a key known to have leaked) also unpublishes the older keys at once,
    which refuses every access token they signed, forged ones included; sessions go on,
    as clients refresh to get tokens signed with the new key.
    """
    private_key = (
        keys.load_private_key_pem(pem)
        if pem is not None
        else keys.generate_private_key(algorithm or settings.KEYHOUSE_JWT_ALGORITHM)
    )
    jwk = keys.public_jwk(private_key)
    if SigningKey.objects.filter(kid=jwk["kid"]).exists():
        raise keys.SigningKeyError(f"The key {jwk['kid']} is already in the keyring.")
    now = timezone.now()
    current = SigningKey.objects.select_for_update().filter(retired_at__isnull=True)
    delay = (
        0
        if immediately or withdraw or not current.exists()
        else settings.KEYHOUSE_SIGNING_KEY_DELAY
    )
    activates_at = now + timedelta(seconds=delay)
    if withdraw:
        # Retired long enough ago that every token they signed has expired: unpublished.
        unpublished = now - timedelta(
            seconds=settings.KEYHOUSE_ACCESS_TOKEN_LIFETIME + settings.KEYHOUSE_JWT_LEEWAY + 1
        )
        SigningKey.objects.filter(retired_at__gt=unpublished).update(retired_at=unpublished)
        current.update(retired_at=unpublished)
    else:
        current.update(retired_at=activates_at)
    key = SigningKey.objects.create(
        kid=jwk["kid"],
        algorithm=jwk["alg"],
        private_key=keys.encrypt_private_key(private_key),
        public_jwk=jwk,
        activates_at=activates_at,
    )
    audit_record(
        type=AuditEvent.Type.SIGNING_KEY_ROTATED,
        detail={
            "kid": key.kid,
            "alg": key.algorithm,
            "activates_at": activates_at.isoformat(),
            "withdrew_older_keys": withdraw,
        },
    )
    # Clear now for this transaction's own reads; once the new key is visible to every
    # process, clear again and renew the generation, so that each reloads its keyring.
    keys.keyring_clear()
    transaction.on_commit(keys.keyring_clear)
    transaction.on_commit(keys.keyring_generation_renew)
    return key
