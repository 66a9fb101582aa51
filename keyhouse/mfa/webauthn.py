"""The WebAuthn ceremonies (W3C Web Authentication Level 3) through py_webauthn.

Pure functions over the relying party settings: they build the options a browser's
``navigator.credentials.create()`` and ``.get()`` take, as JSON, and check what the
authenticator answered. They read and write nothing; ``services.passkeys`` holds the
challenges and the credentials.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.conf import settings
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

CEREMONY_TIMEOUT = 5 * 60  # seconds; the challenge lives as long
# What malformed input raises inside py_webauthn, beside its own errors: bad base64url
# (binascii.Error), bad CBOR (CBORDecodeError), a COSE key missing a field (KeyError)...
MALFORMED = (WebAuthnException, ValueError, KeyError, TypeError, IndexError)
# WebAuthn Level 3 section 7.1: a relying party refuses a longer credential ID.
MAX_CREDENTIAL_ID_BYTES = 1023


class CeremonyFailed(Exception):
    """The authenticator's answer does not hold: the reason, for the audit trail only."""


def _descriptors(credentials: list[tuple[str, list[str]]]) -> list[PublicKeyCredentialDescriptor]:
    known = {transport.value for transport in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(credential_id),
            transports=[AuthenticatorTransport(t) for t in transports if t in known] or None,
        )
        for credential_id, transports in credentials
    ]


def registration_options(
    *,
    challenge: bytes,
    user_handle: str,
    user_name: str,
    display_name: str,
    existing: list[tuple[str, list[str]]],
) -> dict[str, Any]:
    """The options of ``navigator.credentials.create()``: a discoverable credential (a
    passkey), user verification preferred, no attestation, and the user's ``existing``
    credentials (id, transports) excluded so that one authenticator is not added twice."""
    options = generate_registration_options(
        rp_id=settings.KEYHOUSE_WEBAUTHN_RP_ID,
        rp_name=settings.KEYHOUSE_WEBAUTHN_RP_NAME,
        user_id=base64url_to_bytes(user_handle),
        user_name=user_name,
        user_display_name=display_name or user_name,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),
    )
    return json.loads(options_to_json(options))


def authentication_options(*, challenge: bytes) -> dict[str, Any]:
    """The options of ``navigator.credentials.get()`` for a discoverable credential: no
    ``allowCredentials``, so the authenticator offers the passkeys it holds for the
    relying party; user verification preferred (a passwordless sign-in requires it)."""
    options = generate_authentication_options(
        rp_id=settings.KEYHOUSE_WEBAUTHN_RP_ID,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT * 1000,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return json.loads(options_to_json(options))


def client_data_challenge(credential: dict[str, Any]) -> str:
    """The challenge (base64url) that the browser signed, read from ``clientDataJSON``."""
    try:
        client_data = parse_client_data_json(
            base64url_to_bytes(credential["response"]["clientDataJSON"])
        )
    except MALFORMED as exc:
        raise CeremonyFailed("malformed_client_data") from exc
    return bytes_to_base64url(client_data.challenge)


def registration_verify(*, credential: dict[str, Any], challenge: str) -> VerifiedRegistration:
    """Check a ``create()`` answer: type, challenge, origin, RP ID hash, user presence and
    the "none" attestation (or any format py_webauthn verifies), and that the credential
    ID the authenticator data attests is the answer's ``rawId`` and at most 1023 bytes
    (WebAuthn section 7.1), which py_webauthn leaves to the relying party."""
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=settings.KEYHOUSE_WEBAUTHN_RP_ID,
            expected_origin=list(settings.KEYHOUSE_WEBAUTHN_ORIGINS),
        )
        raw_id = base64url_to_bytes(credential["rawId"])
    except MALFORMED as exc:
        raise CeremonyFailed(str(exc)[:200]) from exc
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise CeremonyFailed("credential_id_too_long")
    if verified.credential_id != raw_id:
        raise CeremonyFailed("credential_id_not_raw_id")
    return verified


def authentication_verify(
    *, credential: dict[str, Any], challenge: str, public_key: bytes
) -> VerifiedAuthentication:
    """Check a ``get()`` answer: type, challenge, origin, RP ID hash, user presence and
    the signature. The sign count is left to the caller, which tells a regression (a
    cloned authenticator) apart from any other failure."""
    try:
        return verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=settings.KEYHOUSE_WEBAUTHN_RP_ID,
            expected_origin=list(settings.KEYHOUSE_WEBAUTHN_ORIGINS),
            credential_public_key=public_key,
            # 0 skips py_webauthn's own check, which would hide a regression in its
            # generic error: services.passkeys checks the counter after the signature.
            credential_current_sign_count=0,
        )
    except MALFORMED as exc:
        raise CeremonyFailed(str(exc)[:200]) from exc


def new_challenge() -> bytes:
    """32 random bytes (WebAuthn section 13.4.3 asks for at least 16)."""
    return secrets.token_bytes(32)
