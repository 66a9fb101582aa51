"""Signing keys: generation, import, encryption at rest, and the in-process keyring.

A rotated-in key is published at once but signs only after
KEYHOUSE_SIGNING_KEY_DELAY, so that every Keyhouse process and every
verifier caching the JWKS knows it before the first token it signs arrives.

Verifying a bearer token must not touch the database, so each process keeps the
published keys in memory. A rotation renews the keyring's generation, a random value in
the shared cache; a process that reads a generation other than the one its keyring was
loaded under reloads the keyring, so a rotation takes effect in every process with the
next request. The bearer check reads the generation in the same cache round trip as the
revocation list. Keyrings are also reloaded after KEYHOUSE_KEYRING_TTL seconds, so keys
that age out of the JWKS leave it, and a rotation whose generation could not be written
(the cache down) reaches every process all the same.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from keyhouse.core.crypto import decrypt, encrypt
from keyhouse.tokens.models import SigningKey

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256", "EdDSA")
SIGNING_KEY_PURPOSE = "keyhouse.tokens.signing-key"
KEYRING_GENERATION_KEY = "keyhouse:keyring-generation"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_JWK_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


class SigningKeyError(ValueError):
    """A key that cannot be used: wrong type, wrong curve, unreadable PEM."""


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise SigningKeyError(
        f"Unsupported algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}."
    )


def algorithm_for(key: PrivateKey) -> str:
    """Name the JWS algorithm a private key signs with (RFC 7518, RFC 8037)."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SigningKeyError("RSA keys must have at least 2048 bits.")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SigningKeyError("EC keys must be on the P-256 curve (ES256).")
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise SigningKeyError("Signing keys must be RSA, EC P-256 or Ed25519.")


def load_private_key_pem(pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError("Not an unencrypted PEM private key.") from exc
    algorithm_for(key)
    return key  # type: ignore[return-value]


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    """Return the public JWK with ``kid`` set to its RFC 7638 thumbprint."""
    algorithm = algorithm_for(key)
    converter = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[algorithm]
    jwk: dict[str, Any] = converter.to_jwk(key.public_key(), as_dict=True)
    canonical = json.dumps(
        {name: jwk[name] for name in _JWK_MEMBERS[jwk["kty"]]}, separators=(",", ":")
    )
    thumbprint = hashlib.sha256(canonical.encode()).digest()
    kid = base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


def encrypt_private_key(key: PrivateKey) -> str:
    return encrypt(private_key_pem(key), purpose=SIGNING_KEY_PURPOSE)


def decrypt_private_key(stored: str) -> PrivateKey:
    try:
        return load_private_key_pem(decrypt(stored, purpose=SIGNING_KEY_PURPOSE))
    except InvalidToken as exc:
        raise SigningKeyError(
            "A signing key cannot be decrypted: SECRET_KEY changed without the old key in "
            "SECRET_KEY_FALLBACKS."
        ) from exc


@dataclass(frozen=True)
class VerifyKey:
    kid: str
    algorithm: str
    public_key: PublicKey


@dataclass(frozen=True)
class Signer:
    kid: str
    algorithm: str
    private_key: PrivateKey


@dataclass(frozen=True)
class SignerTerm:
    """A key's term as signer: from ``starts`` until ``ends`` (None: until replaced)."""

    signer: Signer
    starts: datetime
    ends: datetime | None


@dataclass
class Keyring:
    terms: list[SignerTerm]
    verify_keys: dict[str, VerifyKey]
    jwks: list[dict[str, Any]]
    generation: str | None = None
    loaded_at: float = field(default_factory=time.monotonic)

    @property
    def signer(self) -> Signer | None:
        """The key that signs now: a rotated-in key takes over at its start, without reload."""
        now = timezone.now()
        for term in self.terms:
            if term.starts <= now and (term.ends is None or now < term.ends):
                return term.signer
        return None


def published_keys():
    """Keys to publish: the current one, the next one, and those retired too recently for
    every token they signed to have expired."""
    horizon = timezone.now() - timedelta(
        seconds=settings.KEYHOUSE_ACCESS_TOKEN_LIFETIME + settings.KEYHOUSE_JWT_LEEWAY
    )
    return SigningKey.objects.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=horizon))


def _load_keyring(generation: str | None) -> Keyring:
    terms = []
    verify_keys: dict[str, VerifyKey] = {}
    jwks = []
    for row in published_keys().order_by("-activates_at"):
        private_key = decrypt_private_key(row.private_key)
        verify_keys[row.kid] = VerifyKey(row.kid, row.algorithm, private_key.public_key())
        jwks.append(row.public_jwk)
        signer = Signer(row.kid, row.algorithm, private_key)
        terms.append(SignerTerm(signer=signer, starts=row.activates_at, ends=row.retired_at))
    return Keyring(terms=terms, verify_keys=verify_keys, jwks=jwks, generation=generation)


class Generation(enum.Enum):
    """A keyring generation that could not be read from the cache: the keyring loaded
    is used until its lifetime is over."""

    UNKNOWN = "unknown"


_lock = threading.Lock()
_keyring: Keyring | None = None


def keyring(*, generation: str | Generation | None = Generation.UNKNOWN) -> Keyring:
    """Return this process's keyring as of ``generation`` (read from the cache).

    It is reloaded when the generation differs from the one it was loaded under, and
    after KEYHOUSE_KEYRING_TTL seconds.
    """
    global _keyring
    current = _keyring
    if current is None or _stale(current, generation):
        with _lock:
            if _keyring is None or _stale(_keyring, generation):  # or reloaded meanwhile
                _keyring = _reloaded(_keyring, generation)
            current = _keyring
    return current


def keyring_current() -> Keyring:
    """Return the keyring as of the generation in the cache (one cache read)."""
    try:
        generation = cache.get(KEYRING_GENERATION_KEY)
    except Exception:
        logger.warning("The keyring generation could not be read; using the keyring loaded.")
        generation = Generation.UNKNOWN
    return keyring(generation=generation)


def keyring_generation_renew() -> None:
    """Make every process reload its keyring with its next request (after a rotation)."""
    try:
        cache.set(KEYRING_GENERATION_KEY, secrets.token_hex(8), timeout=None)
    except Exception:
        logger.warning(
            "The keyring generation could not be renewed: running processes load the new "
            "signing keys within KEYHOUSE_KEYRING_TTL seconds."
        )


def _stale(ring: Keyring, generation: str | Generation | None) -> bool:
    if generation is not Generation.UNKNOWN and generation != ring.generation:
        return True
    return time.monotonic() - ring.loaded_at > settings.KEYHOUSE_KEYRING_TTL


def _reloaded(previous: Keyring | None, generation: str | Generation | None) -> Keyring:
    """Load the keyring; while the database is down, keep using the one loaded before."""
    if generation is Generation.UNKNOWN:
        generation = previous.generation if previous is not None else None
    try:
        return _load_keyring(generation)
    except DatabaseError:
        if previous is None:
            raise
        logger.warning("Signing keys could not be reloaded; using those loaded before.")
        return dataclasses.replace(previous, generation=generation, loaded_at=time.monotonic())


def keyring_find(kid: str) -> VerifyKey | None:
    """Find a verification key; for a kid not known here, look again as of the cache's
    generation (a key rotated in by another process), which costs the database nothing
    unless the generation changed, however many made-up kids arrive."""
    found = keyring().verify_keys.get(kid)
    if found is not None:
        return found
    return keyring_current().verify_keys.get(kid)


def keyring_clear() -> None:
    """Forget this process's keyring so the next use reloads it."""
    global _keyring
    with _lock:
        _keyring = None
