"""A rotation run as its own process takes effect at once in a running server.

The server keeps its keyring an hour, so only the keyring generation in the shared
cache can tell it about the new keys.
"""

from __future__ import annotations

import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import jwt as pyjwt
import pytest
from django.conf import settings

from keyhouse.delivery.testing import free_port
from keyhouse.testing import call_api, gunicorn_server, service_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def rotate(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "manage.py", "rotate_signing_key", *args],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
    )


def kid(token: str) -> str:
    return pyjwt.get_unverified_header(token)["kid"]


def published(base: str) -> list[str]:
    status, body = call_api(base, "GET", "/.well-known/jwks.json")
    assert status == HTTPStatus.OK
    return [jwk["kid"] for jwk in body["keys"]]


def test_a_rotation_by_another_process_counts_from_the_next_request(
    verified_user, password, smtp_server, tmp_path: Path
):
    env = service_env(
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        REDIS_URL=settings.REDIS_URL,
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        KEYHOUSE_KEYRING_TTL="3600",
    )
    with gunicorn_server(port=free_port(), env=env, log=tmp_path / "server.log") as base:
        credentials = {"email": verified_user.email, "password": password}
        status, first = call_api(base, "POST", "/api/v1/auth/login", credentials)
        assert status == HTTPStatus.OK, first
        first_token = first["access_token"]
        first_kid = kid(first_token)
        assert call_api(base, "GET", "/api/v1/me", token=first_token)[0] == HTTPStatus.OK

        rotate(env, "--now")
        kids = published(base)
        assert kids[1:] == [first_kid]
        status, second = call_api(base, "POST", "/api/v1/auth/login", credentials)
        assert kid(second["access_token"]) == kids[0]
        for token in (first_token, second["access_token"]):
            assert call_api(base, "GET", "/api/v1/me", token=token)[0] == HTTPStatus.OK

        rotate(env, "--withdraw-old")
        for token in (first_token, second["access_token"]):
            status, body = call_api(base, "GET", "/api/v1/me", token=token)
            assert (status, body["code"]) == (HTTPStatus.UNAUTHORIZED, "token_invalid")
        (third_kid,) = published(base)
        assert third_kid not in kids
        status, third = call_api(base, "POST", "/api/v1/auth/login", credentials)
        assert kid(third["access_token"]) == third_kid
        assert call_api(base, "GET", "/api/v1/me", token=third["access_token"])[0] == HTTPStatus.OK
