"""Keyed hashes, constant-time comparison and random secrets.

Secrets that Keyhouse hands out (one-time codes, refresh tokens) are stored only as an
HMAC keyed with SECRET_KEY: a 6-digit code hashed without a key is brute-forced offline
in a second, a keyed one is not without the key. Each use passes its own dotted salt
so that one kind of secret can never be replayed as another.
"""

from __future__ import annotations

import secrets

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
