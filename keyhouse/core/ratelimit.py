"""Fixed-window rate limits and cooldowns counted in the Django cache.

A rate such as "5/h" allows 5 hits in each clock-aligned hour. A hit is one
``cache.add`` (create the window's counter at 0 if missing) and one ``cache.incr``,
both atomic in Redis and in the in-process cache, so any number of threads or app
servers sharing the cache let at most ``limit`` hits through a window. Cache keys
carry a SHA-256 of the limited value, never the value: email addresses, phone
numbers and IP addresses are not written to the cache in clear.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from keyhouse.core.exceptions import KeyhouseError, ServiceUnavailable, problems
from keyhouse.core.http import client_ip

_RATE = re.compile(r"(?P<limit>\d+)/(?P<count>[1-9]\d*)?(?P<unit>[smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Keeps a window's counter a little past the window's end, so that a hit computed
# just before the end still finds its counter when it increments it.
_EXPIRY_SLACK = 5


class RateLimited(KeyhouseError):
    code = "rate_limited"
    status = HTTPStatus.TOO_MANY_REQUESTS
    message = _("Too many requests. Try again later.")
    header_names = ("Retry-After",)

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(
            message,
            headers={"Retry-After": str(retry_after)},
            extra={"retry_after": retry_after},
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    remaining: int
    retry_after: int


def parse_rate(rate: str) -> Rate:
    """Parse "5/h" (5 an hour) or "10/15m" (10 per 15 minutes); units are s, m, h, d."""
    match = _RATE.fullmatch(rate.replace(" ", ""))
    if match is None:
        raise ValueError(f"Invalid rate {rate!r}: write it like '5/h' or '10/15m'.")
    period = int(match["count"] or 1) * _UNIT_SECONDS[match["unit"]]
    return Rate(limit=int(match["limit"]), period=period)


@contextmanager
def _cache_reachable() -> Iterator[None]:
    """Fail closed with 503 when the cache is down: a limit that cannot be counted
    must not be skipped silently."""
    try:
        yield
    except Exception as exc:
        raise ServiceUnavailable from exc


def _key(scope: str, key: str, *parts: object) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return ":".join(["ratelimit", scope, digest, *map(str, parts)])


def _window(scope: str, key: str, rate: Rate) -> tuple[str, int]:
    """Return the cache key of the current window's counter and the seconds it has left."""
    now = time.time()
    number = int(now // rate.period)
    seconds_left = max(1, math.ceil((number + 1) * rate.period - now))
    return _key(scope, key, rate.period, number), seconds_left


def ratelimit_hit(*, scope: str, key: str, rate: Rate) -> RateLimitResult:
    """Count one hit on ``key`` and say whether it is within ``rate``.

    Refused hits are counted too, so hammering a limit does not shorten the wait.
    ``retry_after`` is the number of seconds until the window ends.
    """
    counter, seconds_left = _window(scope, key, rate)
    with _cache_reachable():
        cache.add(counter, 0, timeout=seconds_left + _EXPIRY_SLACK)
        count = cache.incr(counter)
    return RateLimitResult(
        allowed=count <= rate.limit,
        remaining=max(0, rate.limit - count),
        retry_after=seconds_left,
    )


def ratelimit_reset(*, scope: str, key: str, rate: Rate) -> None:
    """Forget the hits on ``key`` in the current window (e.g. after a successful sign-in)."""
    counter, _seconds_left = _window(scope, key, rate)
    with _cache_reachable():
        cache.delete(counter)


def ratelimit_generation(*, scope: str, key: str, longest: Rate) -> str:
    """Return the generation that the counters belonging to ``key`` are keyed under.

    Counters keyed on a pair, such as an account and each client IP, cannot be listed
    to be forgotten; keying them under their account's generation lets one write
    (``ratelimit_generation_renew``) forget them all. It is "0" until first renewed.

    Each use keeps the generation for the ``longest`` window counted under it from now,
    so it outlives every counter made under it: when it expires and counting goes back
    to "0", no counter of either generation is left to lose or to find again.
    """
    entry = _key(f"{scope}.generation", key)
    with _cache_reachable():
        generation = cache.get(entry)
        if generation is None:
            return "0"
        cache.touch(entry, timeout=longest.period + _EXPIRY_SLACK)
        return generation


def ratelimit_generation_renew(*, scope: str, key: str, longest: Rate) -> None:
    """Start a new generation for ``key``: every counter of the old one is forgotten."""
    with _cache_reachable():
        cache.set(
            _key(f"{scope}.generation", key),
            secrets.token_hex(8),
            timeout=longest.period + _EXPIRY_SLACK,
        )


def cooldown_start(*, scope: str, key: str, seconds: int) -> int:
    """Start a cooldown of ``seconds`` on ``key``; return 0, or the seconds left of one running.

    Unlike a window, a cooldown runs from the moment it starts. Its cache entry holds
    its deadline, created with the atomic ``cache.add``, so of concurrent callers only
    one starts it.
    """
    entry = _key(scope, key)
    now = time.time()
    with _cache_reachable():
        return _cooldown_claim(entry, now, seconds)


def _cooldown_claim(entry: str, now: float, seconds: int) -> int:
    if cache.add(entry, now + seconds, timeout=seconds):
        return 0
    deadline = cache.get(entry)
    if deadline is not None and deadline > now:
        return math.ceil(deadline - now)
    # The entry outlived its deadline: the cache expires it on its own clock, which can
    # trail this one. Claiming that deadline lets only one of the callers who saw it
    # start the next cooldown.
    if cache.add(f"{entry}:{deadline}", True, timeout=seconds):
        cache.set(entry, now + seconds, timeout=seconds)
        return 0
    return seconds


@dataclass(frozen=True)
class Limit:
    """One rule of an action's limits: ``rate`` per ``key`` (ip, target or user)."""

    rate: Rate
    key: str


LIMIT_KEYS = ("ip", "target", "user")


def parse_limits(spec: str) -> list[Limit]:
    """Parse "30/m/ip,10/m/target" into limits; an empty spec has none."""
    limits = []
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        rate, _slash, key = part.rpartition("/")
        if key not in LIMIT_KEYS:
            raise ValueError(f"Invalid limit {part!r}: end it with /ip, /target or /user.")
        limits.append(Limit(rate=parse_rate(rate), key=key))
    return limits


def ratelimit_enforce(*, action: str, values: Callable[[str], str | None]) -> None:
    """Count a request against the action's limits in KEYHOUSE_RATE_LIMITS, or raise 429.

    ``values`` gives the value a limit is keyed on ("ip", "target", "user"), or None
    to skip that limit. Limits are counted in order, so list the cheapest key first.
    """
    for limit in parse_limits(settings.KEYHOUSE_RATE_LIMITS.get(action, "")):
        value = values(limit.key)
        if not value:
            continue
        result = ratelimit_hit(scope=f"{action}.{limit.key}", key=value, rate=limit.rate)
        if not result.allowed:
            raise RateLimited(retry_after=result.retry_after)


def ratelimit_target(*, action: str, target: str) -> None:
    """Count a request against the "/target" limits of ``action``, keyed on ``target``.

    Call it once the input is valid, with the target (an address or a number) in its
    canonical form: every spelling of one target then shares its counters, and input
    that fails validation charges nobody's.
    """
    ratelimit_enforce(action=action, values={"target": target}.get)


def ratelimit_request(*, request: Any, action: str, target: str | None = None) -> None:
    """Count a request against the "/ip" and "/user" limits of ``action``, and against its
    "/target" limits too when ``target`` is given (see ``ratelimit_target``)."""

    def values(key: str) -> str | None:
        if key == "ip":
            return client_ip(request)
        if key == "user":
            user = getattr(request, "user", None)
            return str(user.pk) if user is not None and user.is_authenticated else None
        return target

    ratelimit_enforce(action=action, values=values)


def rate_limit(action: str) -> Callable:
    """Decorate an API view method with the "/ip" and "/user" limits of ``action``.

    Its "/target" limits wait for valid input: the view calls ``ratelimit_target``. The
    method is declared to answer 429, and 503 when the cache that counts is down.
    """

    def decorator(method: Callable) -> Callable:
        @wraps(method)
        def wrapper(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            ratelimit_request(request=request, action=action)
            return method(view, request, *args, **kwargs)

        wrapper.rate_limit_action = action  # type: ignore[attr-defined] - read by core.schema
        return problems(RateLimited, ServiceUnavailable)(wrapper)

    return decorator
