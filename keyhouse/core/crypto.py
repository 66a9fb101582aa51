"""Keyed hashes, constant-time comparison and random secrets.

Secrets that Keyhouse hands out (one-time codes, refresh tokens) are stored only as an
HMAC keyed with SECRET_KEY: a 6-digit code hashed without a key is brute-forced offline
in a second, a keyed one is not without the key. Each use passes its own dotted salt
so that one kind of secret can never be replayed as another.

Secrets that Keyhouse must read back (signing keys, TOTP seeds) are encrypted at rest
with Fernet under a key derived from SECRET_KEY for each purpose; values encrypted
under a key in SECRET_KEY_FALLBACKS still decrypt, so the secret key can be rotated.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac


def keyed_hash(value: str, *, salt: str) -> str:
    """Return the hex HMAC-SHA256 of ``value`` under SECRET_KEY and ``salt``."""
    return salted_hmac(salt, value, algorithm="sha256").hexdigest()


def keyed_hash_matches(value: str, expected_hash: str, *, salt: str) -> bool:
    """Compare ``value`` with a stored keyed hash in constant time."""
    return constant_time_compare(keyed_hash(value, salt=salt), expected_hash)


def random_secret(nbytes: int = 32) -> str:
    """Return a URL-safe random secret of ``nbytes`` bytes of entropy (256 bits default)."""
    return secrets.token_urlsafe(nbytes)


def random_digits(length: int = 6) -> str:
    """Return ``length`` uniformly random decimal digits, leading zeros kept."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def _fernet(purpose: str) -> MultiFernet:
    """Encrypt with SECRET_KEY; decrypt with it or any of SECRET_KEY_FALLBACKS."""
    keys = []
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()
        ).derive(secret.encode())
        keys.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(keys)


def encrypt(value: bytes, *, purpose: str) -> str:
    """Encrypt ``value`` for storage under a key derived for ``purpose``."""
    return _fernet(purpose).encrypt(value).decode()


def decrypt(stored: str, *, purpose: str) -> bytes:
    """Decrypt what ``encrypt`` stored; raises cryptography's InvalidToken if no key fits."""
    return _fernet(purpose).decrypt(stored.encode())
