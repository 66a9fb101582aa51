"""The relying party settings, checked in fresh processes as the deploy checks run."""

from __future__ import annotations

import pytest

from keyhouse.core.tests.test_settings import (
    PRODUCTION_ENV,
    migrated_databases,  # noqa: F401 - the fixture, found by name
    run_manage,
)

# The same in both test passes: each process gets its own SQLite and settings.
pytestmark = pytest.mark.own_services

PRINT_RELYING_PARTY = (
    "from django.conf import settings; "
    "print(settings.KEYHOUSE_WEBAUTHN_RP_ID, *settings.KEYHOUSE_WEBAUTHN_ORIGINS)"
)


@pytest.fixture
def production(request) -> dict[str, str]:
    """A production-like environment on a migrated database with a signing key."""
    with_key, _without_key = request.getfixturevalue("migrated_databases")
    return {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{with_key}"}


def relying_party(env: dict[str, str]) -> list[str]:
    result = run_manage("shell", "-v", "0", "-c", PRINT_RELYING_PARTY, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_production_binds_passkeys_to_the_issuers_host_and_the_cors_origins_under_it(production):
    env = {**production, "CORS_ALLOWED_ORIGINS": "https://auth.example.com,https://example.org"}
    assert relying_party(env) == ["auth.example.com", "https://auth.example.com"]


def test_make_run_binds_passkeys_to_localhost_and_its_dev_origins(tmp_path):
    env = {
        "DEBUG": "1",
        "SECRET_KEY": "a-development-key-for-the-test-of-make-run-defaults-0123456789",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
        "KEYHOUSE_JWT_ISSUER": "http://127.0.0.1:8000",
    }
    assert relying_party(env) == ["localhost", "http://localhost:3000"]


def test_a_parent_domain_of_the_issuer_is_a_relying_party_id(production):
    env = {
        **production,
        "KEYHOUSE_WEBAUTHN_RP_ID": "example.com",
        "CORS_ALLOWED_ORIGINS": "https://app.example.com",
        "KEYHOUSE_WEBAUTHN_ORIGINS": "https://app.example.com",
    }
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"KEYHOUSE_WEBAUTHN_RP_ID": "example.org"}, "mfa.E011"),
        ({"KEYHOUSE_WEBAUTHN_RP_ID": "ample.com"}, "mfa.E011"),
        ({"KEYHOUSE_WEBAUTHN_ORIGINS": "https://app.example.org"}, "mfa.E010"),
    ],
    ids=["another domain", "a suffix that is no parent", "an origin outside the RP ID"],
)
def test_deploy_check_refuses_a_relying_party_browsers_would_refuse(production, change, message):
    result = run_manage("check", "--deploy", env={**production, **change})
    assert result.returncode != 0
    assert message in result.stderr


def test_deploy_check_warns_of_a_passkey_origin_cors_does_not_allow(production):
    env = {**production, "KEYHOUSE_WEBAUTHN_ORIGINS": "https://auth.example.com"}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode == 0
    assert "mfa.W011" in result.stderr
