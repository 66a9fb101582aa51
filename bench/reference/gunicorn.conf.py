"""Gunicorn settings for the reference: the same values as Keyhouse's config/gunicorn.py.

bench/run.py sets the same environment for both servers, so both run the same number
of sync workers with the same timeouts; neither recycles its worker during a run
(GUNICORN_MAX_REQUESTS=0), so the worker's peak memory covers the whole run.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
accesslog = None
errorlog = "-"
proc_name = "keyhouse-bench-reference"
