"""Fixtures for the reference side of the benchmark, served to bench/run.py (bench/agent.py).

The same users as Keyhouse's (one password hash computed once, reused for every row),
refresh tokens minted by simplejwt's ``RefreshToken.for_user`` (which records each as
an outstanding token, as a login does), and djoser activation links for new, inactive
users: djoser's nearest equivalent of verifying an email address.
"""

from __future__ import annotations

import django

django.setup()

import importlib.metadata  # noqa: E402 - after django.setup()
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

from agent import count_queries, serve, write_lines  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import (  # noqa: E402
    check_password,
    identify_hasher,
    make_password,
)
from django.contrib.auth.tokens import default_token_generator  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from djoser.utils import encode_uid  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken  # noqa: E402

User = get_user_model()
PACKAGES = (
    "django",
    "djangorestframework",
    "djoser",
    "djangorestframework-simplejwt",
    "gunicorn",
    "pyjwt",
    "psycopg",
)
BATCH = 5000

_state: dict[str, Any] = {"password": None, "hash": None, "users": 0, "next_user": 0}


def username_of(index: int) -> str:
    return f"bench-{index:07d}"


def _password_hash(password: str) -> str:
    if _state["password"] != password:
        _state["password"], _state["hash"] = password, make_password(password)
    return _state["hash"]


def setup(*, users: int, password: str) -> dict[str, Any]:
    """Create ``users`` active users bench-0000000... sharing one password."""
    hashed = _password_hash(password)
    now = timezone.now()
    for start in range(0, users, BATCH):
        User.objects.bulk_create(
            User(
                username=username_of(i),
                email=f"{username_of(i)}@example.com",
                password=hashed,
                date_joined=now,
            )
            for i in range(start, min(users, start + BATCH))
        )
    _state["users"] = User.objects.filter(username__startswith="bench-").count()
    return {"users": _state["users"]}


def _sample(count: int, seed: int) -> list[int]:
    """Indices of ``count`` users spread over the whole table, cycling when it is small."""
    rng = random.Random(seed)  # noqa: S311 - a spread, not a secret
    total = _state["users"]
    if count <= total:
        return rng.sample(range(total), count)
    indices: list[int] = []
    while len(indices) < count:
        cycle = list(range(total))
        rng.shuffle(cycle)
        indices.extend(cycle)
    return indices[:count]


def login_pool(*, path: str, count: int, password: str) -> int:
    """Write login bodies for ``count`` users spread over the table (used in a cycle)."""
    bodies = [
        json.dumps({"username": username_of(i), "password": password})
        for i in _sample(count, seed=1)
    ]
    return write_lines(path, bodies)


def _users(count: int) -> list[Any]:
    names = [username_of(i) for i in _sample(count, seed=_state["next_user"])]
    _state["next_user"] += 1
    by_name = {user.username: user for user in User.objects.filter(username__in=set(names))}
    return [by_name[name] for name in names]


def _refresh_bodies(count: int) -> list[str]:
    bodies = []
    for start in range(0, count, BATCH):
        users = _users(min(BATCH, count - start))
        with transaction.atomic():
            bodies.extend(
                json.dumps({"refresh": str(RefreshToken.for_user(user))}) for user in users
            )
    return bodies


def mint_refresh(*, path: str, count: int) -> int:
    """Write ``count`` refresh tokens, each recorded as outstanding (each works once)."""
    return write_lines(path, _refresh_bodies(count))


def _verify_bodies(count: int) -> list[str]:
    hashed = _password_hash(_state["password"] or "bench password")
    tag = uuid.uuid4().hex[:8]
    bodies = []
    for start in range(0, count, BATCH):
        users = User.objects.bulk_create(
            User(
                username=f"verify-{tag}-{i}",
                email=f"verify-{tag}-{i}@example.com",
                password=hashed,
                is_active=False,
            )
            for i in range(start, min(count, start + BATCH))
        )
        bodies.extend(
            json.dumps(
                {"uid": encode_uid(user.pk), "token": default_token_generator.make_token(user)}
            )
            for user in users
        )
    return bodies


def mint_verify(*, path: str, count: int) -> int:
    """Create ``count`` inactive users and write their djoser activation uid and token."""
    return write_lines(path, _verify_bodies(count))


def access_token() -> str:
    """A fresh access token of a bench user (they live 5 minutes by default)."""
    return str(AccessToken.for_user(_users(1)[0]))


def queries(*, scenarios: dict[str, dict[str, str]], password: str) -> dict[str, Any]:
    """Count the database queries of each scenario (see agent.count_queries)."""

    def prepare(kind: str) -> tuple[dict[str, str], str]:
        if kind == "bearer":
            return {"Authorization": f"Bearer {access_token()}"}, ""
        if kind == "refresh":
            return {}, _refresh_bodies(1)[0]
        if kind == "verify":
            return {}, _verify_bodies(1)[0]
        if kind == "login":
            return {}, json.dumps({"username": username_of(0), "password": password})
        return {}, ""

    return count_queries(scenarios, prepare)


def hashing() -> dict[str, Any]:
    """The password hasher of new users, its parameters and the time of one check."""
    hashed = _password_hash(_state["password"] or "bench password")
    hasher = identify_hasher(hashed)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        check_password(_state["password"] or "bench password", hashed)
        times.append(time.perf_counter() - started)
    return {
        "algorithm": hasher.algorithm,
        "parameters": {
            key: value
            for key, value in hasher.decode(hashed).items()
            if key in {"iterations", "memory_cost", "time_cost", "parallelism"}
        },
        "check_ms": round(statistics.median(times) * 1000, 1),
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    if connection.vendor == "sqlite":
        found["sqlite"] = sqlite3.sqlite_version
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            found["postgresql"] = cursor.fetchone()[0]
    return found


if __name__ == "__main__":
    serve(
        {
            "setup": setup,
            "login_pool": login_pool,
            "mint_refresh": mint_refresh,
            "mint_verify": mint_verify,
            "access_token": access_token,
            "queries": queries,
            "versions": versions,
            "hashing": hashing,
        }
    )
