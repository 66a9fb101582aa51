"""System checks on the rate-limit settings: a typo stops a deploy, not every request."""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from keyhouse.core.ratelimit import parse_limits, parse_rate

LOGIN_FAILURE_SETTINGS = (
    "KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP",
    "KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT",
)


@register()
def check_rate_limits(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for action, spec in settings.KEYHOUSE_RATE_LIMITS.items():
        try:
            parse_limits(spec)
        except ValueError as exc:
            hint = f"Fix KEYHOUSE_RATE_LIMIT_{action.upper()}."
            errors.append(Error(str(exc), hint=hint, id="core.E001"))
    if settings.KEYHOUSE_REFRESH_TOKEN_TRANSPORT not in ("body", "cookie"):
        errors.append(
            Error(
                "KEYHOUSE_REFRESH_TOKEN_TRANSPORT must be 'body' or 'cookie'.",
                id="core.E003",
            )
        )
    for network in settings.KEYHOUSE_METRICS_ALLOWED_NETWORKS:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"{network!r} in KEYHOUSE_METRICS_ALLOWED_NETWORKS is not a network.",
                    hint="Write networks like 10.0.0.0/8 or 127.0.0.1.",
                    id="core.E004",
                )
            )
    for name in LOGIN_FAILURE_SETTINGS:
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(Error(str(exc), hint=f"Fix {name}.", id="core.E002"))
    return errors


# An origin no configuration means to allow: a regex matching it matches any origin.
UNRELATED_ORIGINS = ("https://keyhouse-check.invalid", "http://keyhouse-check.invalid")
SAMESITE_VALUES = ("Strict", "Lax", "None")


@register()
def check_browser_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse CORS origins that would grant every site, and a cookie browsers would drop."""
    errors: list[CheckMessage] = []
    for origin in settings.CORS_ALLOWED_ORIGINS:
        if "*" in origin or origin == "null":
            errors.append(
                Error(
                    f"{origin!r} in CORS_ALLOWED_ORIGINS is not an origin: no wildcard and no "
                    "'null' is ever allowed.",
                    hint="List exact origins such as https://app.example.com, or write a "
                    "regex in CORS_ALLOWED_ORIGIN_REGEXES for a family of subdomains.",
                    id="core.E020",
                )
            )
    for regex in settings.CORS_ALLOWED_ORIGIN_REGEXES:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            errors.append(
                Error(f"{regex!r} in CORS_ALLOWED_ORIGIN_REGEXES: {exc}.", id="core.E021")
            )
            continue
        if any(pattern.fullmatch(origin) for origin in UNRELATED_ORIGINS):
            errors.append(
                Error(
                    f"{regex!r} in CORS_ALLOWED_ORIGIN_REGEXES matches any origin.",
                    hint=r"Match your own domain, e.g. https://[a-z0-9-]+\.example\.com",
                    id="core.E022",
                )
            )
    samesite = settings.KEYHOUSE_REFRESH_COOKIE_SAMESITE
    if samesite not in SAMESITE_VALUES:
        errors.append(
            Error("KEYHOUSE_REFRESH_COOKIE_SAMESITE must be Strict, Lax or None.", id="core.E023")
        )
    elif samesite == "None" and not settings.KEYHOUSE_REFRESH_COOKIE_SECURE:
        errors.append(
            Error(
                "KEYHOUSE_REFRESH_COOKIE_SAMESITE=None needs a Secure cookie: browsers drop a "
                "SameSite=None cookie that is not Secure.",
                hint="Set KEYHOUSE_REFRESH_COOKIE_SECURE=true (and serve Keyhouse over HTTPS).",
                id="core.E024",
            )
        )
    return errors


def _workers() -> int:
    return int(os.environ.get("WEB_CONCURRENCY", "1") or 1)


@register(deploy=True)
def check_production_safety(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse settings that work on a laptop and fail in production (run by gunicorn)."""
    errors: list[CheckMessage] = []
    key = settings.SECRET_KEY
    if len(key) < 50 or len(set(key)) < 5 or key.startswith(("django-insecure", "test-")):
        errors.append(
            Error(
                "SECRET_KEY is missing, short or a known default.",
                hint="Set SECRET_KEY to at least 50 random characters.",
                id="core.E010",
            )
        )
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache") and _workers() > 1:
        errors.append(
            Error(
                "The in-process cache cannot be shared by several workers: rate limits and "
                "revocations would not hold.",
                hint="Set REDIS_URL, or run one worker (WEB_CONCURRENCY=1).",
                id="core.E011",
            )
        )
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.MAILERS["default"]["BACKEND"].endswith(
        ("console.EmailBackend", "locmem.EmailBackend")
    ):
        errors.append(
            Warning(
                "No CELERY_BROKER_URL: messages are sent inside the requests that queue "
                "them, and a slow or failing mail server holds each such request through "
                "every retry, with no wait between them.",
                hint="Set CELERY_BROKER_URL and run a Celery worker.",
                id="core.W014",
            )
        )
    cookie_default = settings.KEYHOUSE_REFRESH_TOKEN_TRANSPORT == "cookie"  # noqa: S105
    if cookie_default and not (
        settings.CORS_ALLOWED_ORIGINS or settings.CORS_ALLOWED_ORIGIN_REGEXES
    ):
        errors.append(
            Warning(
                "The refresh cookie is the default transport but no browser origin is "
                "allowed: only pages served by Keyhouse's own origin can call the API.",
                hint="Set CORS_ALLOWED_ORIGINS to your web app's origin, e.g. "
                "https://app.example.com.",
                id="core.W020",
            )
        )
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        errors.append(Error(f"The database cannot be reached: {exc}", id="core.E012"))
        return errors
    if pending:
        errors.append(
            Error(
                f"{len(pending)} migrations are not applied; migrations never run by themselves.",
                hint="Run 'python manage.py migrate' before starting the service.",
                id="core.E013",
            )
        )
    return errors
