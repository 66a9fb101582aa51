from __future__ import annotations

from keyhouse.core.crypto import keyed_hash, keyed_hash_matches, random_digits, random_secret


def test_keyed_hash_depends_on_the_salt_and_the_secret_key(settings):
    first = keyed_hash("123456", salt="keyhouse.codes")
    assert first != keyed_hash("123456", salt="keyhouse.tokens")
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert first != keyed_hash("123456", salt="keyhouse.codes")


def test_keyed_hash_matches_only_the_same_value():
    stored = keyed_hash("123456", salt="keyhouse.codes")
    assert keyed_hash_matches("123456", stored, salt="keyhouse.codes")
    assert not keyed_hash_matches("123457", stored, salt="keyhouse.codes")
    assert not keyed_hash_matches("123456", stored, salt="keyhouse.other")


def test_random_digits_keep_their_length_and_leading_zeros():
    codes = {random_digits(6) for _ in range(2000)}
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert any(code.startswith("0") for code in codes)
    assert len(codes) > 1900


def test_random_secret_has_at_least_256_bits():
    secret = random_secret()
    assert len(secret) >= 43
    assert secret != random_secret()
