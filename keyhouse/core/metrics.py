"""Prometheus metrics, and the endpoint that serves them to an operator's scraper.

Under gunicorn with several workers each process counts on its own; with
PROMETHEUS_MULTIPROC_DIR set (config/gunicorn.py sets it) the endpoint adds them up.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from celery.signals import task_retry
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from keyhouse.core.http import client_ip

REQUESTS = Counter(
    "keyhouse_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "keyhouse_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SIGN_INS = Counter("keyhouse_sign_ins_total", "Sign-in attempts.", ["method", "outcome"])
CODES_SENT = Counter("keyhouse_codes_sent_total", "One-time codes sent.", ["purpose", "channel"])
CODE_CHECKS = Counter(
    "keyhouse_code_checks_total", "One-time codes checked.", ["purpose", "outcome"]
)
DELIVERY_RETRIES = Counter(
    "keyhouse_delivery_retries_total", "Deliveries retried after a transient failure.", ["task"]
)
RATE_LIMITED = Counter("keyhouse_rate_limited_total", "Requests refused by a rate limit.", ["code"])


@task_retry.connect
def _count_retry(sender: Any = None, **kwargs: Any) -> None:
    DELIVERY_RETRIES.labels(task=getattr(sender, "name", "unknown")).inc()


def _allowed(request: HttpRequest) -> bool:
    token = settings.KEYHOUSE_METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        return constant_time_compare(header, f"Bearer {token}")
    address = client_ip(request)
    if address is None:
        return False
    networks = settings.KEYHOUSE_METRICS_ALLOWED_NETWORKS
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Serve the metrics to a scraper with the token, or from an allowed network only."""
    if not _allowed(request):
        return HttpResponse(status=404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        output = generate_latest(registry)
    else:
        output = generate_latest()
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)
