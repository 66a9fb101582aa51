"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from keyhouse.users.models import User
from keyhouse.users.services import user_create

PASSWORD = "correct horse battery staple"


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
