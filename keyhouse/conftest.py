"""Fixtures shared by every app's tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.core.http import ClientInfo
from keyhouse.delivery.testing import sms_outbox, smtp_mailer, smtp_server
from keyhouse.tokens import keys
from keyhouse.tokens.services import TokenPair, session_start, signing_key_rotate
from keyhouse.users.models import User
from keyhouse.users.services import user_create

__all__ = ["sms_outbox", "smtp_mailer", "smtp_server"]

PASSWORD = "correct horse battery staple"
CLIENT = ClientInfo(ip="203.0.113.7", user_agent="pytest")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Test on a SQLite file, as Keyhouse runs, rather than on a shared in-memory database.

    Connections to a shared in-memory database lock each other out at once
    ("database table is locked") instead of waiting their turn, so tests that write
    from several threads could not pass there.
    """
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["TEST"]["NAME"] = str(tmp_path_factory.mktemp("db") / "keyhouse.sqlite3")


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _postgres_only(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: runs in the postgres-redis pass of make test")


@pytest.fixture
def window_start():
    """Start the test at the top of an hour, so that no rate-limit window ends during it.

    Rate limits count in clock-aligned windows; a test counting hits against a limit
    must not straddle the end of one.
    """
    with time_machine.travel(datetime(2030, 1, 7, 10, 0, 0, 500_000, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def unreachable_cache(settings):
    """Point the cache at a port where no Redis listens, as when Redis is down."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    yield
    caches["default"].close()


@pytest.fixture(scope="session")
def signing_key_pem() -> bytes:
    return keys.private_key_pem(keys.generate_private_key("RS256"))


@pytest.fixture(autouse=True)
def _keyring(request, signing_key_pem):
    """Give every database test a signing key, and every test a fresh keyring."""
    keys.keyring_clear()
    if "db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        request.getfixturevalue("django_db_setup")
        request.getfixturevalue("_django_db_helper")
        signing_key_rotate(pem=signing_key_pem)
    yield
    keys.keyring_clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def user(db) -> User:
    return user_create(email="ada@example.com", password=PASSWORD, display_name="Ada")


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_superuser("admin@example.com", PASSWORD)


@pytest.fixture
def verified_user(user) -> User:
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    return user


@pytest.fixture
def tokens(verified_user) -> TokenPair:
    return session_start(user=verified_user, amr=["pwd"], client=CLIENT)


@pytest.fixture
def auth_client(tokens) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}")
    return client
