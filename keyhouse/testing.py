"""Helpers for the test suites of every app."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

# Processes started by tests run with production checks, which want a strong key.
SERVICE_SECRET_KEY = secrets.token_urlsafe(50)
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def data_queries(captured: CaptureQueriesContext) -> list[str]:
    """The statements that read or write data, leaving out transaction control."""
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].upper().startswith(TRANSACTION_CONTROL)
    ]


def at_once(count: int, action: Callable[[], Any]) -> list[Any]:
    """Run ``action`` in ``count`` threads released together; return what each returned.

    A thread that raised contributes its exception instead, so that an unexpected
    error fails the test's assertions rather than vanishing with its thread. Each
    thread closes its own database connection.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(action())
        except Exception as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def shared_database_url() -> str:
    """The DATABASE_URL of the test's own database, for a process that shares it.

    On SQLite that is the test's database file; on PostgreSQL the test database beside
    the one DATABASE_URL names.
    """
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()


def service_env(**overrides: str) -> dict[str, str]:
    """The environment of a Keyhouse process (server, worker) sharing the test's database.

    It runs with production settings: DEBUG off, a strong secret key (the test's own,
    which is not strong, stays readable as a fallback), migrations applied by the test
    database, the signing key the test created.
    """
    return {
        **os.environ,
        "DEBUG": "0",
        "DATABASE_URL": shared_database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "SECRET_KEY": SERVICE_SECRET_KEY,
        "SECRET_KEY_FALLBACKS": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "KEYHOUSE_JWT_ISSUER": settings.KEYHOUSE_JWT_ISSUER,
        "SECURE_SSL_REDIRECT": "false",
        "WEB_CONCURRENCY": "1",
        **overrides,
    }


@contextmanager
def running(command: list[str], *, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run a process for the duration of the block, writing its output to ``log``."""
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gunicorn_server(*, port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """Serve Keyhouse under gunicorn with config/gunicorn.py; yield its base URL."""
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    base = f"http://127.0.0.1:{port}"
    with running(command, env=env, log=log) as process:
        wait_until_serving(f"{base}/healthz", process=process, log=log)
        yield base


def wait_until_serving(
    url: str, *, process: subprocess.Popen, log: Path, within: float = 30
) -> None:
    """Wait until ``url`` answers, served by ``process``.

    Raises RuntimeError, with the process's output from ``log``, when it stops first
    or ``url`` does not answer ``within`` seconds.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback servers
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer:\n{log.read_text()}") from None
            time.sleep(0.2)


class TcpProxy:
    """Forward a loopback port to another, and cut every connection on demand.

    Pointing a server at Redis through it lets a test take Redis away from that server
    alone, and give it back, without touching the Redis everyone else uses.
    """

    def __init__(self, *, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self._listener, self._sockets = None, []

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def headers_but_request_id(response: Any) -> dict[str, str]:
    """A response's headers without X-Request-ID, which differs on every request."""
    return {name: value for name, value in response.headers.items() if name != "X-Request-ID"}


def code_in_mail(message: Any) -> str:
    """The 6-digit code in the plain-text part of an email."""
    return re.search(r"\b(\d{6})\b", message.get_body(("plain",)).get_content()).group(1)


def code_in_sms(sms: Any) -> str:
    """The 6-digit code in a text message sent through the fake Twilio."""
    return re.search(r"\b(\d{6})\b", sms.body).group(1)


def holds_in_clear(value: Any, secret: str) -> bool:
    """Say whether ``secret`` appears in ``value`` as a word of its own.

    A code or token written in clear stands apart from its neighbours ("Your code is
    042917.", ``"code": "042917"``). The same digits met inside a hex digest, a UUID,
    a URL-safe token or after a decimal point (the fraction of a second of a time) are
    chance, not a leak: a test that counted them would fail now and then. Dicts, lists
    and tuples are searched item by item, any other value as its text.
    """
    if isinstance(value, dict):
        return any(holds_in_clear(item, secret) for item in (*value.keys(), *value.values()))
    if isinstance(value, list | tuple):
        return any(holds_in_clear(item, secret) for item in value)
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return re.search(rf"(?<![\w.-]){re.escape(secret)}(?![\w-])", text) is not None


def call_api(
    base: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Call a live server's API over HTTP; return the status and the decoded JSON body."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - servers the tests run on loopback
        f"{base}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without checking it (for assertions on what was issued)."""
    return jwt.decode(token, options={"verify_signature": False})


def bearer_client(access_token: str) -> APIClient:
    """An API client that sends ``access_token`` as its bearer token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client
