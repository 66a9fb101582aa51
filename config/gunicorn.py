"""Gunicorn settings for production: ``gunicorn -c config/gunicorn.py config.wsgi``.

Every value can be set from the environment. Before the first worker starts, the
deploy checks run (``manage.py check --deploy``): unsafe settings, unapplied
migrations or a missing signing key stop the server with one line each.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
os.environ["WEB_CONCURRENCY"] = str(workers)  # read by the deploy check on the cache
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then, staggered, to bound any slow growth in memory.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
accesslog = None  # Keyhouse writes its own structured access log
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "keyhouse"

# Metrics of all workers are added up from files in this directory.
metrics_dir = Path(
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / f"keyhouse-metrics-{bind}")
    )
)


def on_starting(server: Any) -> None:
    """Start from empty metrics and refuse to serve on unsafe settings."""
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Imported here: Django must read its settings only after the lines above.
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError
    from django.db import connections

    try:
        django.setup()
        call_command("check", deploy=True, fail_level="ERROR")
    except ImproperlyConfigured as exc:
        sys.exit(f"Keyhouse cannot start: {exc}")
    except SystemCheckError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
    # The workers are forked from this process: a connection the checks left open
    # would be shared by all of them, their queries interleaving on one socket.
    connections.close_all()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
