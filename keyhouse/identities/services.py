"""Sign in with a provider's identity, link it to an account safely, add and remove it.

A known identity signs its account in. A new one whose provider-verified email belongs
to an account is never merged on that match alone: the answer is ``link_required`` with
a link token, spent once the person proves the account (``LINK_PROOFS``). An email the
provider did not verify takes no part in matching, so that no answer tells whether an
account uses it (enumeration). Otherwise a new account is made, unless
KEYHOUSE_OAUTH_SIGNUP_ENABLED is off. Every sign-in ends in ``signin_complete``, so an
account with a second factor is still asked for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.accounts.services.reauthentication import WrongPassword, password_confirm
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.services import code_check, code_send
from keyhouse.core.crypto import keyed_hash, random_secret
from keyhouse.core.exceptions import KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import SIGN_INS
from keyhouse.identities.clients import ID_TOKEN_ERRORS, Profile, id_token_profile
from keyhouse.identities.flows import (
    OAuthCodeInvalid,
    oauth_code_owner,
    oauth_code_redeem,
    provider_require,
)
from keyhouse.identities.models import Identity, IdentityLink
from keyhouse.mfa.services.assurance import reauthentication_require
from keyhouse.mfa.services.challenges import MfaChallengeIssued, signin_complete
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair
from keyhouse.users.emails import email_canonical
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email

LINK_TTL = 10 * 60
LINK_SALT = "keyhouse.identities.link"
# RFC 8176: authentication by a federated identity provider.
FEDERATED = "fed"


class ProviderWithoutIdTokens(KeyhouseError):
    code = "provider_without_id_tokens"
    status = HTTPStatus.BAD_REQUEST
    message = _("This provider issues no ID tokens: sign in with it through the browser flow.")


class LinkRequired(KeyhouseError):
    code = "link_required"
    status = HTTPStatus.CONFLICT
    message = _(
        "An account already uses this email address. Prove it is yours (its password or a "
        "code sent to the address) with the link_token to add this sign-in to it."
    )


class OAuthSignupDisabled(KeyhouseError):
    code = "oauth_signup_disabled"
    status = HTTPStatus.FORBIDDEN
    message = _("No account uses this identity, and new accounts cannot be made with it.")


class AccountDisabled(KeyhouseError):
    code = "account_disabled"
    status = HTTPStatus.FORBIDDEN
    message = _("The account of this identity is deactivated.")


class LinkTokenInvalid(KeyhouseError):
    code = "link_token_invalid"
    status = HTTPStatus.UNAUTHORIZED
    message = _("The link token is unknown, expired or used. Sign in with the provider again.")


class IdentityTaken(KeyhouseError):
    code = "identity_taken"
    status = HTTPStatus.CONFLICT
    message = _("This identity already signs in to an account.")


class IdentityNotFound(KeyhouseError):
    code = "identity_not_found"
    status = HTTPStatus.NOT_FOUND
    message = _("No such identity on this account.")


class LastSignInMethod(KeyhouseError):
    code = "last_sign_in_method"
    status = HTTPStatus.CONFLICT
    message = _("This is the account's last way to sign in: add another before removing it.")


class NoPassword(KeyhouseError):
    code = "no_password"
    status = HTTPStatus.BAD_REQUEST
    message = _("This account has no password: ask for a code instead.")


# What a sign-in with a provider identity can answer besides tokens or a challenge.
SIGN_IN_ERRORS = (LinkRequired, OAuthSignupDisabled, AccountDisabled)


class LinkProof(Protocol):
    """A proof that the person holding a link token owns the account it would join.

    ``verify`` raises a KeyhouseError when the proof fails, and returns the RFC 8176
    ``amr`` values it adds to the session. A new kind of proof (a passkey) is one more
    class, added to ``LINK_PROOFS``.
    """

    method: ClassVar[str]

    def verify(self, *, user: User, client: ClientInfo) -> list[str]: ...


@dataclass(frozen=True)
class PasswordProof:
    password: str
    method: ClassVar[str] = "password"

    def verify(self, *, user: User, client: ClientInfo) -> list[str]:
        if not user.has_usable_password():
            raise NoPassword
        password_confirm(user=user, password=self.password, client=client, field="password")
        return [LoginSession.Method.PASSWORD]


@dataclass(frozen=True)
class EmailCodeProof:
    code: str
    method: ClassVar[str] = "code"

    def verify(self, *, user: User, client: ClientInfo) -> list[str]:
        code_check(
            purpose=Purpose.LINK_IDENTITY,
            target=user.email,
            code=self.code,
            client=client,
            user_id=user.pk,
            anonymous=False,
        )
        return [LoginSession.Method.EMAIL_CODE]


LINK_PROOFS: tuple[type[LinkProof], ...] = (PasswordProof, EmailCodeProof)
LINK_PROOF_ERRORS = (NoPassword, WrongPassword)


def _signed_in(
    *, user: User, provider: str, client: ClientInfo, extra_amr: list[str] | None = None
) -> TokenPair | MfaChallengeIssued:
    """End a sign-in by a provider: amr says ``fed`` and the provider (RFC 8176)."""
    amr = list(dict.fromkeys([FEDERATED, provider, *(extra_amr or [])]))
    result = signin_complete(user=user, amr=amr, client=client)
    if isinstance(result, MfaChallengeIssued):
        SIGN_INS.labels(method="oauth", outcome="mfa_required").inc()
        return result
    SIGN_INS.labels(method="oauth", outcome="success").inc()
    audit_record(
        type=AuditEvent.Type.LOGIN_SUCCEEDED,
        user_id=user.pk,
        client=client,
        detail={"method": FEDERATED, "provider": provider, "session": str(result.session.pk)},
    )
    return result


def _refused(provider: str, reason: str, client: ClientInfo) -> None:
    SIGN_INS.labels(method="oauth", outcome="failure").inc()
    audit_record(
        type=AuditEvent.Type.LOGIN_FAILED,
        client=client,
        detail={"method": FEDERATED, "provider": provider, "reason": reason},
    )


def _known_identity_user(profile: Profile) -> User | None:
    """The account of a known identity, with what the provider says now recorded."""
    with transaction.atomic():
        identity = (
            Identity.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(provider=profile.provider, subject=profile.subject)
            .first()
        )
        if identity is None:
            return None
        identity.email = profile.email
        identity.email_verified = profile.email_verified
        identity.last_sign_in_at = timezone.now()
        identity.save(update_fields=["email", "email_verified", "last_sign_in_at", "updated_at"])
        return identity.user


def _account_create(profile: Profile, client: ClientInfo) -> User:
    """Make the account of a new identity. Only a verified address becomes the account's:
    an unverified one would hold an address its owner never proved (see sign-up)."""
    now = timezone.now()
    email = email_canonical(profile.email) if profile.email_verified else ""
    with transaction.atomic():
        user = User(
            email=email, email_verified_at=now if email else None, display_name=profile.name
        )
        user.set_unusable_password()
        user.save()
        Identity.objects.create(
            user=user,
            provider=profile.provider,
            subject=profile.subject,
            email=profile.email,
            email_verified=profile.email_verified,
            last_sign_in_at=now,
        )
        audit_record(
            type=AuditEvent.Type.SIGNED_UP,
            user_id=user.pk,
            client=client,
            detail={"method": FEDERATED, "provider": profile.provider},
        )
    return user


def _link_required(*, user: User, profile: Profile, client: ClientInfo) -> LinkRequired:
    token = random_secret()
    IdentityLink.objects.create(
        token_hash=keyed_hash(token, salt=LINK_SALT),
        user=user,
        provider=profile.provider,
        subject=profile.subject,
        email=profile.email,
        expires_at=timezone.now() + timedelta(seconds=LINK_TTL),
    )
    audit_record(
        type=AuditEvent.Type.IDENTITY_LINK_REQUIRED,
        user_id=user.pk,
        client=client,
        detail={"provider": profile.provider},
    )
    return LinkRequired(
        extra={
            "link_token": token,
            "provider": profile.provider,
            "email": profile.email,
            "proofs": [proof.method for proof in LINK_PROOFS],
            "expires_in": LINK_TTL,
        }
    )


def _active(user: User) -> User:
    if not user.is_active:
        raise AccountDisabled
    return user


def _identity_user(profile: Profile, client: ClientInfo, *, retry: bool = True) -> User:
    """The account a provider identity signs in to, made if need be; or why none."""
    user = _known_identity_user(profile)
    if user is not None:
        return _active(user)
    # An address the provider did not verify matches nothing, and no answer may tell
    # whether an account uses it: the identity goes on as one with no address.
    verified_email = profile.email if profile.email_verified else ""
    existing = user_get_by_email(email=verified_email) if verified_email else None
    if existing is not None:
        # A concurrent first sign-in of this identity may have just made this account,
        # with the identity in the same transaction: then the identity is known by now.
        user = _known_identity_user(profile)
        if user is not None:
            return _active(user)
        raise _link_required(user=existing, profile=profile, client=client)
    if not settings.KEYHOUSE_OAUTH_SIGNUP_ENABLED:
        raise OAuthSignupDisabled
    try:
        return _account_create(profile, client)
    except IntegrityError:
        # A concurrent sign-in made this identity or took this address first.
        if not retry:
            raise
        return _identity_user(profile, client, retry=False)


def identity_sign_in(*, profile: Profile, client: ClientInfo) -> TokenPair | MfaChallengeIssued:
    """Sign in with what a provider vouched for (see the module's docstring)."""
    try:
        user = _identity_user(profile, client)
    except SIGN_IN_ERRORS as exc:
        if not isinstance(exc, LinkRequired):
            _refused(profile.provider, exc.code, client)
        raise
    return _signed_in(user=user, provider=profile.provider, client=client)


def identity_sign_in_with_id_token(
    *, provider_name: str, id_token: str, nonce: str | None, client: ClientInfo
) -> TokenPair | MfaChallengeIssued:
    """The native flow: sign in with an ID token a platform SDK obtained."""
    provider = provider_require(provider_name)
    if not provider.id_tokens:
        raise ProviderWithoutIdTokens
    try:
        profile = id_token_profile(provider, id_token=id_token, nonce=nonce)
    except ID_TOKEN_ERRORS as exc:
        _refused(provider.name, exc.code, client)
        raise
    return identity_sign_in(profile=profile, client=client)


def identity_sign_in_with_code(
    *, code: str, code_verifier: str, redirect_uri: str | None, client: ClientInfo
) -> TokenPair | MfaChallengeIssued:
    """The end of the browser flow: the app's Keyhouse code and its PKCE verifier."""
    profile = oauth_code_redeem(code=code, code_verifier=code_verifier, redirect_uri=redirect_uri)
    return identity_sign_in(profile=profile, client=client)


def _link_live(link_token: str) -> IdentityLink:
    link = (
        IdentityLink.objects.select_related("user")
        .filter(
            token_hash=keyed_hash(link_token, salt=LINK_SALT),
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    if link is None or not link.user.is_active:
        raise LinkTokenInvalid
    return link


def identity_link_code_send(*, link_token: str, client: ClientInfo) -> None:
    """Email a code to the account a link token would join, as one proof of owning it."""
    link = _link_live(link_token)
    code_send(purpose=Purpose.LINK_IDENTITY, target=link.user.email, client=client, user=link.user)


def identity_link_confirm(
    *, link_token: str, proof: LinkProof, client: ClientInfo
) -> TokenPair | MfaChallengeIssued:
    """Add a waiting identity to its account once the proof holds, and sign in.

    The proof is checked outside the transaction, so that a failure stays recorded; the
    link token is spent only by a proof that holds.
    """
    link = _link_live(link_token)
    proven = proof.verify(user=link.user, client=client)
    with transaction.atomic():
        if not IdentityLink.objects.filter(pk=link.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        ):
            raise LinkTokenInvalid
        _identity_attach(
            user=link.user,
            profile=Profile(
                provider=link.provider, subject=link.subject, email=link.email, email_verified=True
            ),
            client=client,
            how=proof.method,
        )
    return _signed_in(user=link.user, provider=link.provider, client=client, extra_amr=proven)


def _identity_attach(*, user: User, profile: Profile, client: ClientInfo, how: str) -> Identity:
    try:
        with transaction.atomic():
            identity = Identity.objects.create(
                user=user,
                provider=profile.provider,
                subject=profile.subject,
                email=profile.email,
                email_verified=profile.email_verified,
                last_sign_in_at=timezone.now(),
            )
    except IntegrityError as exc:
        raise IdentityTaken from exc
    audit_record(
        type=AuditEvent.Type.IDENTITY_LINKED,
        user_id=user.pk,
        client=client,
        detail={"provider": profile.provider, "identity": str(identity.pk), "proof": how},
    )
    return identity


def identity_add_with_id_token(
    *,
    user: User,
    session_id: uuid.UUID,
    provider_name: str,
    id_token: str,
    nonce: str | None,
    client: ClientInfo,
) -> Identity:
    """Add a provider identity to the signed-in account from a native ID token."""
    reauthentication_require(session_id=session_id)
    provider = provider_require(provider_name)
    if not provider.id_tokens:
        raise ProviderWithoutIdTokens
    profile = id_token_profile(provider, id_token=id_token, nonce=nonce)
    return _identity_attach(user=user, profile=profile, client=client, how="session")


def identity_add_with_code(
    *, user: User, session_id: uuid.UUID, code: str, code_verifier: str, client: ClientInfo
) -> Identity:
    """Finish adding an identity through the browser flow that this user started."""
    reauthentication_require(session_id=session_id)
    profile = oauth_code_redeem(
        code=code, code_verifier=code_verifier, redirect_uri=None, user_id=user.pk
    )
    return _identity_attach(user=user, profile=profile, client=client, how="session")


def identity_add_with_code_and_sign_in(
    *, code: str, code_verifier: str, client: ClientInfo
) -> TokenPair | MfaChallengeIssued | None:
    """Finish adding an identity that a signed-in user started in the browser to end in
    a sign-in (``add_signs_in``, GoTrue's linkIdentity, whose app holds no session at
    the end): the identity joins that user's account and the answer is a sign-in with
    it. None when the code is no such flow's: other codes of an adding sign nobody in.

    The recent authentication was required when the flow started; the code is bound to
    that user and the app's PKCE verifier, and lives minutes (see ``flows``).
    """
    owner = oauth_code_owner(code=code)
    if owner is None:
        return None
    profile = oauth_code_redeem(
        code=code, code_verifier=code_verifier, redirect_uri=None, user_id=owner
    )
    user = User.objects.filter(pk=owner).first()
    if user is None:  # the account went while its code was being redeemed
        raise OAuthCodeInvalid
    _identity_attach(user=_active(user), profile=profile, client=client, how="session")
    return _signed_in(user=user, provider=profile.provider, client=client)


def _other_way_to_sign_in(user: User, identity: Identity) -> bool:
    """Whether the account still signs in without ``identity``: a password with its email,
    a verified phone (SMS codes), or another identity."""
    return (
        (bool(user.email) and user.has_usable_password())
        or (user.phone is not None and user.phone_verified_at is not None)
        or Identity.objects.filter(user_id=user.pk).exclude(pk=identity.pk).exists()
    )


def identity_remove(
    *, user: User, session_id: uuid.UUID, identity_id: uuid.UUID | str, client: ClientInfo
) -> None:
    """Remove an identity from the signed-in account, unless it is the last way in.

    The account row is locked, so two removals at once cannot each leave the other as
    the last identity and then both go.
    """
    reauthentication_require(session_id=session_id)
    try:
        identity_id = uuid.UUID(str(identity_id))
    except ValueError as exc:
        raise IdentityNotFound from exc
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        identity = Identity.objects.filter(user_id=user.pk, pk=identity_id).first()
        if identity is None:
            raise IdentityNotFound
        if not _other_way_to_sign_in(locked, identity):
            raise LastSignInMethod
        identity.delete()
        audit_record(
            type=AuditEvent.Type.IDENTITY_UNLINKED,
            user_id=user.pk,
            client=client,
            detail={"provider": identity.provider, "identity": str(identity_id)},
        )


def link_purge_expired(*, now: Any) -> int:
    deleted, _by_model = IdentityLink.objects.filter(expires_at__lt=now).delete()
    return deleted
