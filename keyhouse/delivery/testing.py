"""A real SMTP server on loopback and an SMS outbox for tests, with pytest fixtures.

Import the fixtures into a conftest (``from keyhouse.delivery.testing import
sms_outbox, smtp_mailer, smtp_server``) or list this module in ``pytest_plugins``.
``tasks_sent_to`` makes tasks go through a broker instead of running inline.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from aiosmtpd.controller import Controller
from celery import current_app
from django.conf import settings
from django.test import override_settings
from kombu import Connection, pools

from keyhouse.delivery.sms import memory
from keyhouse.testing import running, service_env

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on (a moment ago)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def smtp_mailers(port: int) -> dict[str, Any]:
    """Return a MAILERS setting that sends through the SMTP server on ``port``."""
    return {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": HOST, "port": port, "timeout": 5},
        }
    }


class SMTPServer:
    """An aiosmtpd handler that keeps what it receives and answers RCPT as scripted.

    Put replies such as ``"550 5.1.1 No such user"`` in ``rcpt_replies`` to refuse the
    next recipients; once they are used up, recipients are accepted.
    """

    def __init__(self, port: int) -> None:
        self.host = HOST
        self.port = port
        self.messages: list[EmailMessage] = []
        self.rcpt_replies: deque[str] = deque()
        # Set ``held`` to keep the next sender waiting at RCPT until it is cleared;
        # ``holding`` is set once a sender waits there.
        self.held = threading.Event()
        self.holding = threading.Event()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.held.is_set():
            self.holding.set()
            while self.held.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 Try again later"
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def wait_for_messages(self, count: int, *, timeout: float) -> list[EmailMessage]:
        """Wait until ``count`` messages have arrived (from another process, say)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """Run a real SMTP server on a free loopback port for the test."""
    server = SMTPServer(free_port())
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def smtp_mailer(smtp_server: SMTPServer, settings: Any) -> SMTPServer:
    """Send the test's mail through ``smtp_server`` with Django's SMTP backend.

    Django's test set-up swaps MAILERS for the in-memory backend before each session;
    the ``settings`` fixture overrides that for this test only.
    """
    settings.MAILERS = smtp_mailers(smtp_server.port)
    return smtp_server


@pytest.fixture
def sms_outbox(settings: Any) -> Iterator[list[memory.SmsMessage]]:
    """Keep the test's text messages in a list, like Django's ``mailoutbox`` for email.

    Each item has ``to``, ``body`` and ``message_id``.
    """
    settings.KEYHOUSE_SMS_BACKEND = "keyhouse.delivery.sms.memory.MemoryBackend"
    memory.outbox.clear()
    yield memory.outbox
    memory.outbox.clear()


def forget_broker_connections() -> None:
    """Drop the broker connections the Celery app keeps, so the next task connects anew."""
    current_app._pool = None
    current_app.amqp._producer_pool = None
    pools.reset()


@contextmanager
def tasks_sent_to(broker: str) -> Iterator[None]:
    """Make Celery publish tasks to ``broker`` instead of running them inline.

    Celery reads its configuration through Django's settings, so overriding those
    redirects it and restores it afterwards.
    """
    with override_settings(CELERY_BROKER_URL=broker, CELERY_TASK_ALWAYS_EAGER=False):
        forget_broker_connections()
        try:
            yield
        finally:
            forget_broker_connections()


WAIT_SECONDS = 30


def broker_url() -> str:
    """Use database 14 of the test Redis as the broker, apart from the cache's database."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL): runs in the postgres-redis pass of make test")
    url = urlsplit(settings.REDIS_URL)._replace(path="/14").geturl()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {url} did not answer ({type(exc).__name__})")
    return url


def rabbitmq_url() -> str:
    """The RabbitMQ on loopback, as a broker that hands a dead worker's task on at once."""
    url = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.connect()
    except OSError as exc:
        pytest.skip(f"RabbitMQ at {url} did not answer ({type(exc).__name__})")
    return url


@contextmanager
def celery_worker(
    *, broker: str, smtp_port: int, log: Path, **env: str
) -> Iterator[subprocess.Popen]:
    """Run ``celery worker`` on the test database, sending mail to ``smtp_port``."""
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]
    environment = service_env(
        CELERY_BROKER_URL=broker, EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}", **env
    )
    with running(command, env=environment, log=log) as worker:
        yield worker
