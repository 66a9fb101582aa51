"""The Celery app. Without CELERY_BROKER_URL tasks run inline (the embedded mode)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("keyhouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _serve_worker_metrics(**kwargs: Any) -> None:
    """Serve the worker's own metrics (deliveries retried) where KEYHOUSE_WORKER_METRICS_PORT
    says: a worker counts what the web processes never see."""
    port = os.environ.get("KEYHOUSE_WORKER_METRICS_PORT")
    if port:
        from prometheus_client import start_http_server

        address = os.environ.get("KEYHOUSE_WORKER_METRICS_ADDRESS", "127.0.0.1")
        start_http_server(int(port), addr=address)
