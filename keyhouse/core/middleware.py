"""Request ids, one structured access-log line per request, request metrics, and
Django's sessions and messages made on first use.

Every request passes through here, the bare ones included, so this is written for its
cost: the request id comes straight from ``request.META`` (``request.headers`` would
copy every header), the metric children are looked up once per label set, and the
access record is handed to the logger's handlers without the search for its caller's
source line, which no access-log format shows.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from keyhouse.core import context
from keyhouse.core.metrics import LATENCY, REQUESTS

logger = logging.getLogger("keyhouse.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")
# Any token is a method to Django; metric labels must not grow with what clients send.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestObservabilityMiddleware:
    """Tag each request with an id (the caller's X-Request-ID if sane), log and count it.

    The log line holds the method, the path without its query string, the status, the
    duration and the user id when a token named one: never a body, header or token.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # prometheus_client's labels() checks and looks up its label values under a lock
        # on every call; the label sets are few (known methods, routes, statuses).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
        id_token = context.request_id.set(request_id)
        user_token = context.user_id.set(None)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            match = request.resolver_match
            route = match.view_name if match else "unmatched"
            status = response.status_code
            self._count(request.method, route, status, duration)
            response["X-Request-ID"] = request_id
            if logger.isEnabledFor(logging.INFO):
                self._log(request, route, status, duration)
            return response
        finally:
            context.user_id.reset(user_token)
            context.request_id.reset(id_token)

    def _count(self, method: str | None, route: str, status: int, duration: float) -> None:
        method = method if method in KNOWN_METHODS else "other"
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[method, route, status] = REQUESTS.labels(method, route, status)
        counter.inc()
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = LATENCY.labels(route)
        timer.observe(duration)

    def _log(self, request: HttpRequest, route: str, status: int, duration: float) -> None:
        method, path = request.method, request.path
        record = logger.makeRecord(
            logger.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %s",
            (method, path, status),
            None,
            extra={
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
            },
        )
        logger.handle(record)


class MessageMiddleware(DjangoMessageMiddleware):
    """Django's messages, with their storage made on first use.

    Only the admin shows messages, yet Django's middleware builds the storage (a cookie
    signer and the session's) for every request, a tenth of a bare API request's cost.
    The storage is the same one, made when a message is added or read; a request that
    used none has nothing to save.
    """

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response
        return super().process_response(request, response)


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's sessions, with the session store made on first use.

    Only the admin's pages and the OAuth consent use sessions; the API never does. A
    request that sent no session cookie and never touched its session has nothing to
    save, delete or vary on, as Django's middleware would find after building the store.
    """

    def process_request(self, request: HttpRequest) -> None:
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        request.session = SimpleLazyObject(lambda: self.SessionStore(key))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if (
            isinstance(session, SimpleLazyObject)
            and session._wrapped is empty
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
        ):
            return response
        return super().process_response(request, response)
