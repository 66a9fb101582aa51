"""Two app servers, one Celery worker, PostgreSQL, Redis and real SMTP, all on loopback.

Whatever one server does, the other sees at once: sessions, revocations and rate
limits live in the shared database and cache, not in a process.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from http import HTTPStatus
from urllib.parse import urlsplit

import jwt as pyjwt
import pytest
from django.conf import settings

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.testing import WAIT_SECONDS, broker_url, free_port
from keyhouse.testing import TcpProxy, call_api, code_in_mail, gunicorn_server, running, service_env

PASSPHRASE = "a long and unusual passphrase"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def wait_until(predicate, timeout: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_two_servers_and_a_worker_share_everything(smtp_server, tmp_path):
    broker = broker_url()
    redis = urlsplit(settings.REDIS_URL)
    proxy = TcpProxy(port=free_port(), target=(redis.hostname, redis.port or 6379))
    proxy.start()
    env = service_env(
        REDIS_URL=settings.REDIS_URL,
        CACHE_KEY_PREFIX=f"scale-out-{time.time_ns()}",
        CELERY_BROKER_URL=broker,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        KEYHOUSE_RATE_LIMIT_PASSWORD_FORGOT="3/h/ip",
    )
    env_b = {**env, "REDIS_URL": redis._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()}
    worker_command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
    worker_command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]

    with ExitStack() as stack:
        stack.callback(proxy.stop)
        a = stack.enter_context(gunicorn_server(port=free_port(), env=env, log=tmp_path / "a.log"))
        b = stack.enter_context(
            gunicorn_server(port=free_port(), env=env_b, log=tmp_path / "b.log")
        )
        worker = ExitStack()
        worker.enter_context(running(worker_command, env=env, log=tmp_path / "worker.log"))

        # Sign up on A, read the code from the mail, verify on B, refresh on A.
        assert (
            call_api(
                a,
                "POST",
                "/api/v1/auth/signup",
                {"email": "ada@example.com", "password": PASSPHRASE},
            )[0]
            == 202
        )
        (message,) = smtp_server.wait_for_messages(1, timeout=WAIT_SECONDS)
        status, tokens = call_api(
            b,
            "POST",
            "/api/v1/auth/email/verify",
            {"email": "ada@example.com", "code": code_in_mail(message)},
        )
        assert status == HTTPStatus.OK, tokens
        status, pair = call_api(
            a, "POST", "/api/v1/auth/token/refresh", {"refresh_token": tokens["refresh_token"]}
        )
        assert status == HTTPStatus.OK, pair
        assert call_api(a, "GET", "/api/v1/me", token=pair["access_token"])[0] == HTTPStatus.OK

        # End the session on B: A refuses its access and refresh tokens at once.
        sid = pyjwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
        status, _ = call_api(b, "DELETE", f"/api/v1/me/sessions/{sid}", token=pair["access_token"])
        assert status == HTTPStatus.NO_CONTENT
        status, body = call_api(a, "GET", "/api/v1/me", token=pair["access_token"])
        assert (status, body["code"]) == (HTTPStatus.UNAUTHORIZED, "session_revoked")
        status, body = call_api(
            a, "POST", "/api/v1/auth/token/refresh", {"refresh_token": pair["refresh_token"]}
        )
        assert (status, body["code"]) == (HTTPStatus.UNAUTHORIZED, "session_revoked")

        # A rate limit counted on A holds on B.
        for i in range(3):
            status, _ = call_api(a, "POST", "/api/v1/auth/password/forgot", {"email": f"n{i}@x.io"})
            assert status == HTTPStatus.ACCEPTED
        status, body = call_api(b, "POST", "/api/v1/auth/password/forgot", {"email": "n9@x.io"})
        assert (status, body["code"]) == (HTTPStatus.TOO_MANY_REQUESTS, "rate_limited")

        # With the worker stopped, sign-ups still answer; their mail waits in the broker.
        worker.close()
        for email in ("bob@example.com", "cy@example.com"):
            status, _ = call_api(
                b, "POST", "/api/v1/auth/signup", {"email": email, "password": PASSPHRASE}
            )
            assert status == HTTPStatus.ACCEPTED
        time.sleep(1)
        queued = Delivery.objects.filter(recipient__in=["bob@example.com", "cy@example.com"])
        assert {d.status for d in queued} == {Delivery.Status.QUEUED}
        assert len(smtp_server.messages) == 1
        stack.enter_context(running(worker_command, env=env, log=tmp_path / "worker2.log"))
        assert len(smtp_server.wait_for_messages(3, timeout=WAIT_SECONDS)) == 3
        assert wait_until(lambda: {d.status for d in queued.all()} == {Delivery.Status.SENT})

        # Redis goes away from B: what needs it answers 503, then B recovers by itself.
        proxy.stop()
        status, body = call_api(
            b, "POST", "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSPHRASE}
        )
        assert (status, body["code"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable")
        status, body = call_api(b, "GET", "/readyz")
        assert status == HTTPStatus.SERVICE_UNAVAILABLE
        assert body["checks"]["cache"] == "failing"
        proxy.start()
        assert wait_until(lambda: call_api(b, "GET", "/readyz")[0] == HTTPStatus.OK, timeout=10)
        status, body = call_api(
            b, "POST", "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSPHRASE}
        )
        assert status == HTTPStatus.OK, body
