"""Keyhouse's users and sessions in the shapes GoTrue (and so ``@supabase/auth-js``) uses.

Identities: the email address and the phone number are the "identities" GoTrue gives
every email and phone user; the identities another party vouches for (social sign-in,
``keyhouse.identities``) follow them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone

from keyhouse.gotrue.selectors import user_extras_get
from keyhouse.identities.models import Identity
from keyhouse.identities.providers import providers_configured
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair
from keyhouse.users.models import User

AUDIENCE = "authenticated"  # GoTrue's audience and role of every signed-in user
IDENTITY_NAMESPACE = uuid.UUID("5d8c2f0e-8a53-4f7c-9e83-2a7f0b1c6d41")
# RFC 8176 values in Keyhouse's sessions, as GoTrue names the method.
AMR_METHODS = {"pwd": "password", "otp": "otp", "sms": "otp", "totp": "totp", "fed": "oauth"}
AMR_RECOVERY_CODE = "recovery_code"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def gotrue_phone(user: User) -> str:
    """A number as GoTrue writes it: E.164 digits without the plus, or empty."""
    return str(user.phone).removeprefix("+") if user.phone else ""


def _identity(
    user: User, provider: str, data: dict[str, Any], verified_at: datetime | None
) -> dict:
    identity_id = uuid.uuid5(IDENTITY_NAMESPACE, f"{user.pk}:{provider}")
    return {
        "identity_id": str(identity_id),
        "id": str(user.pk),
        "user_id": str(user.pk),
        "identity_data": {"sub": str(user.pk), **data},
        "provider": provider,
        "last_sign_in_at": _time(user.last_login),
        "created_at": _time(verified_at or user.date_joined),
        "updated_at": _time(verified_at or user.date_joined),
    }


def email_identities(user: User) -> list[dict]:
    if not user.email:
        return []
    data = {"email": user.email, "email_verified": user.email_verified_at is not None}
    return [{**_identity(user, "email", data, user.email_verified_at), "email": user.email}]


def phone_identities(user: User) -> list[dict]:
    if not user.phone:
        return []
    data = {"phone": gotrue_phone(user), "phone_verified": user.phone_verified_at is not None}
    return [_identity(user, "phone", data, user.phone_verified_at)]


def provider_identities(user: User, found: list[Identity]) -> list[dict]:
    """The account's provider identities; ``identity_id`` is what unlinkIdentity removes."""
    return [
        {
            "identity_id": str(identity.pk),
            "id": identity.subject,
            "user_id": str(user.pk),
            "identity_data": {
                "sub": identity.subject,
                "email": identity.email,
                "email_verified": identity.email_verified,
            },
            "provider": identity.provider,
            "email": identity.email,
            "last_sign_in_at": _time(identity.last_sign_in_at),
            "created_at": _time(identity.created_at),
            "updated_at": _time(identity.updated_at),
        }
        for identity in found
    ]


def identities(user: User, provider: list[Identity]) -> list[dict]:
    """The email, the phone, then the ``provider`` identities of the account."""
    return [*email_identities(user), *phone_identities(user), *provider_identities(user, provider)]


def app_metadata(found: list[dict]) -> dict:
    providers = list(dict.fromkeys(identity["provider"] for identity in found))
    return {"provider": providers[0] if providers else "email", "providers": providers}


def user_metadata(user: User, record: dict) -> dict:
    base = {"display_name": user.display_name} if user.display_name else {}
    return {**base, **record}


def factor_body(factor: Any) -> dict:
    return {
        "id": str(factor.pk),
        "friendly_name": factor.name,
        "factor_type": "totp",
        "status": "verified" if factor.confirmed_at else "unverified",
        "created_at": _time(factor.created_at),
        "updated_at": _time(factor.last_used_at or factor.confirmed_at or factor.created_at),
    }


def user_body(user: User) -> dict:
    """The GoTrue user object of an account."""
    extras = user_extras_get(user_id=user.pk, now=timezone.now())
    found = identities(user, extras.identities)
    confirmed = [at for at in (user.email_verified_at, user.phone_verified_at) if at]
    return {
        "id": str(user.pk),
        "aud": AUDIENCE,
        "role": AUDIENCE,
        "email": user.email,
        "email_confirmed_at": _time(user.email_verified_at),
        "phone": gotrue_phone(user),
        "phone_confirmed_at": _time(user.phone_verified_at),
        "confirmed_at": _time(min(confirmed)) if confirmed else None,
        "last_sign_in_at": _time(user.last_login),
        "app_metadata": app_metadata(found),
        "user_metadata": user_metadata(user, extras.metadata),
        "identities": found,
        "factors": [factor_body(factor) for factor in extras.factors],
        "created_at": _time(user.date_joined),
        "updated_at": _time(user.last_login or user.date_joined),
        "is_anonymous": False,
    }


def pending_user_body(*, email: str) -> dict:
    """What a sign-up answers, the same whether or not the address has an account.

    No account exists until the emailed code comes back, so the id is a fresh one that
    names nothing (GoTrue answers an address it knows with such an id too).
    """
    now = timezone.now().isoformat()
    return {
        "id": str(uuid.uuid4()),
        "aud": AUDIENCE,
        "role": AUDIENCE,
        "email": email,
        "phone": "",
        "confirmation_sent_at": now,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "identities": [],
        "created_at": now,
        "updated_at": now,
        "is_anonymous": False,
    }


def amr_claim(amr: list[str], at: datetime) -> list[dict]:
    """RFC 8176 ``amr`` values as GoTrue's claim: each method once, with its time."""
    timestamp = int(at.timestamp())
    methods = [
        "recovery" if value == AMR_RECOVERY_CODE else AMR_METHODS.get(value) for value in amr
    ]
    return [{"method": m, "timestamp": timestamp} for m in dict.fromkeys(methods) if m]


def access_token_claims(session: LoginSession, user: dict) -> dict:
    """The claims GoTrue's access tokens carry beside the registered ones."""
    return {
        "session_id": str(session.pk),
        "role": AUDIENCE,
        "is_anonymous": False,
        "email": user["email"],
        "phone": user["phone"],
        "app_metadata": user["app_metadata"],
        "user_metadata": user["user_metadata"],
        "amr": amr_claim(session.amr, session.authenticated_at),
    }


def session_body(pair: TokenPair) -> dict:
    """A GoTrue session: the pair, its access token carrying GoTrue's claims, and the user."""
    user = user_body(pair.user)
    pair = pair.with_claims(access_token_claims(pair.session, user))
    return {
        "access_token": pair.access_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
        "expires_at": int(timezone.now().timestamp()) + pair.expires_in,
        "refresh_token": pair.refresh_token,
        "user": user,
    }


def external_providers() -> dict[str, bool]:
    """GET /settings' ``external``: the ways to sign in this Keyhouse serves."""
    configured = dict.fromkeys(providers_configured(), True)
    return {"email": True, "phone": True, "anonymous_users": False, **configured}
