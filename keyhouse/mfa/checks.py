"""System checks on the MFA settings: a typo in the policy, or a relying party that
browsers would refuse, stops a deploy."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from keyhouse.mfa.services.assurance import POLICIES


@register()
def check_mfa_policy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.KEYHOUSE_MFA_POLICY in POLICIES:
        return []
    return [
        Error(
            f"KEYHOUSE_MFA_POLICY is {settings.KEYHOUSE_MFA_POLICY!r}.",
            hint=f"Set it to one of {', '.join(POLICIES)}.",
            id="mfa.E001",
        )
    ]


def _under(host: str | None, rp_id: str) -> bool:
    """Whether ``host`` is the relying party ID or one of its subdomains."""
    return bool(host) and (host == rp_id or host.endswith(f".{rp_id}"))


def _cors_allows(origin: str) -> bool:
    return origin in settings.CORS_ALLOWED_ORIGINS or any(
        re.fullmatch(regex, origin) for regex in settings.CORS_ALLOWED_ORIGIN_REGEXES
    )


@register()
def check_webauthn_origins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse passkey origins that browsers would refuse for the relying party ID."""
    rp_id = settings.KEYHOUSE_WEBAUTHN_RP_ID
    messages: list[CheckMessage] = []
    for origin in settings.KEYHOUSE_WEBAUTHN_ORIGINS:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https"):
            continue  # an app's origin (android:apk-key-hash:...) answers no CORS request
        if not _under(parts.hostname, rp_id):
            messages.append(
                Error(
                    f"{origin!r} in KEYHOUSE_WEBAUTHN_ORIGINS is not under the relying party "
                    f"ID {rp_id!r}: browsers refuse passkeys there.",
                    hint="Set KEYHOUSE_WEBAUTHN_RP_ID to a domain that every app origin "
                    "falls under, e.g. example.com for app.example.com.",
                    id="mfa.E010",
                )
            )
        elif not _cors_allows(origin):
            messages.append(
                Warning(
                    f"{origin!r} in KEYHOUSE_WEBAUTHN_ORIGINS is not an allowed CORS origin: "
                    "its pages cannot call the passkey endpoints.",
                    hint="Add it to CORS_ALLOWED_ORIGINS.",
                    id="mfa.W011",
                )
            )
    return messages


@register(deploy=True)
def check_webauthn_rp_id(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse a relying party ID that is neither the issuer's host nor a parent domain of
    it: passkeys would be bound to a site Keyhouse does not serve."""
    rp_id = settings.KEYHOUSE_WEBAUTHN_RP_ID
    issuer_host = urlsplit(settings.KEYHOUSE_JWT_ISSUER).hostname
    if _under(issuer_host, rp_id):
        return []
    return [
        Error(
            f"KEYHOUSE_WEBAUTHN_RP_ID {rp_id!r} is neither the issuer's host "
            f"({issuer_host!r}) nor a parent domain of it.",
            hint="Set it to the host of KEYHOUSE_JWT_ISSUER or to a parent domain that the "
            "apps share, e.g. example.com for https://auth.example.com.",
            id="mfa.E011",
        )
    ]
