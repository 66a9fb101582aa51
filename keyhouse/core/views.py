"""Health checks for load balancers and orchestrators, and the API's catch-all 404."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import get_random_string
from django.views.decorators.cache import never_cache
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from keyhouse.core.problems import problem_json_response

logger = logging.getLogger(__name__)
SAFE_METHODS = ("GET", "HEAD")


def require_safe(view: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    """Allow GET and HEAD only, refusing others with a 405 problem like the API's."""

    @functools.wraps(view)
    def safe_view(request: HttpRequest) -> HttpResponse:
        if request.method not in SAFE_METHODS:
            response = problem_json_response(
                status=HTTPStatus.METHOD_NOT_ALLOWED,
                code="method_not_allowed",
                detail=f'Method "{request.method}" not allowed.',
            )
            response["Allow"] = ", ".join(SAFE_METHODS)
            return response
        return view(request)

    return safe_view


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key, value = "readyz", get_random_string(8)
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("the cache did not return the value just written")


def _check_broker() -> None:
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def readiness_checks() -> dict[str, Callable[[], None]]:
    checks = {"database": _check_database, "cache": _check_cache}
    if settings.CELERY_BROKER_URL:
        checks["broker"] = _check_broker
    return checks


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer while the process can serve requests; touches no backing service."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Check that every backing service answers; 503 names the ones that do not."""
    results: dict[str, str] = {}
    for name, check in readiness_checks().items():
        try:
            check()
        except Exception:
            logger.warning("Readiness check %s failed", name, exc_info=True)
            results[name] = "failing"
        else:
            results[name] = "ok"
    failing = [name for name, result in results.items() if result != "ok"]
    if failing:
        return problem_json_response(
            status=HTTPStatus.SERVICE_UNAVAILABLE,
            code="not_ready",
            detail=f"Not ready: {', '.join(failing)} unreachable.",
            extra={"checks": results},
        )
    return JsonResponse({"status": "ok", "checks": results})


class ApiNotFoundApi(APIView):
    """Answer any unknown path under /api/ with a 404 problem, in DEBUG too."""

    authentication_classes = ()
    permission_classes = ()
    schema = None

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        raise NotFound
