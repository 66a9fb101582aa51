"""Request ids, one structured access-log line per request, and request metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from keyhouse.core import context
from keyhouse.core.metrics import LATENCY, REQUESTS

logger = logging.getLogger("keyhouse.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")
# Any token is a method to Django; metric labels must not grow with what clients send.
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestObservabilityMiddleware:
    """Tag each request with an id (the caller's X-Request-ID if sane), log and count it.

    The log line holds the method, the path without its query string, the status, the
    duration and the user id when a token named one: never a body, header or token.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        id_token = context.request_id.set(request_id)
        user_token = context.user_id.set(None)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            route = request.resolver_match.view_name if request.resolver_match else "unmatched"
            method = request.method if request.method in KNOWN_METHODS else "other"
            REQUESTS.labels(method, route, response.status_code).inc()
            LATENCY.labels(route).observe(duration)
            response["X-Request-ID"] = request_id
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                },
            )
            return response
        finally:
            context.user_id.reset(user_token)
            context.request_id.reset(id_token)
