from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
import time_machine
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from keyhouse.core.ratelimit import (
    Rate,
    RateLimited,
    cooldown_start,
    parse_rate,
    ratelimit_generation,
    ratelimit_generation_renew,
    ratelimit_hit,
    ratelimit_reset,
)

# Twenty minutes into an hour, so hourly windows end 40 minutes later.
START = datetime(2030, 1, 7, 9, 20, tzinfo=UTC)


def stored_keys() -> set[str]:
    """The keys in the cache, as the backend stores them (with its prefix and version)."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return {key.decode() for key in backend._cache.get_client().keys("*")}
    return set(backend._cache)


def stored_as(*keys: str) -> set[str]:
    """The keys the backend stores for the given cache keys."""
    return {caches["default"].make_key(key) for key in keys}


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("5/h", Rate(limit=5, period=3600)),
        ("10/15m", Rate(limit=10, period=900)),
        ("3/s", Rate(limit=3, period=1)),
        ("100/d", Rate(limit=100, period=86400)),
        (" 20 / 2h ", Rate(limit=20, period=7200)),
    ],
)
def test_parse_rate_reads_limit_and_period(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["5", "5/", "/h", "5/w", "5/0m", "-1/h", "five/h"])
def test_parse_rate_refuses_malformed_rates(text):
    with pytest.raises(ValueError, match="Invalid rate"):
        parse_rate(text)


@time_machine.travel(START, tick=False)
def test_hits_beyond_the_limit_are_refused_until_the_window_ends():
    rate = parse_rate("3/h")
    results = [ratelimit_hit(scope="test", key="ada@example.com", rate=rate) for _ in range(4)]
    assert [result.allowed for result in results] == [True, True, True, False]
    assert [result.remaining for result in results] == [2, 1, 0, 0]
    assert results[-1].retry_after == 40 * 60


def test_the_next_window_starts_a_new_count():
    rate = parse_rate("1/h")
    with time_machine.travel(START, tick=False) as traveller:
        assert ratelimit_hit(scope="test", key="k", rate=rate).allowed
        assert not ratelimit_hit(scope="test", key="k", rate=rate).allowed
        traveller.shift(40 * 60)
        assert ratelimit_hit(scope="test", key="k", rate=rate).allowed


@time_machine.travel(START, tick=False)
def test_scopes_and_keys_are_counted_apart():
    rate = parse_rate("1/h")
    assert ratelimit_hit(scope="a", key="k", rate=rate).allowed
    assert ratelimit_hit(scope="b", key="k", rate=rate).allowed
    assert ratelimit_hit(scope="a", key="other", rate=rate).allowed
    assert not ratelimit_hit(scope="a", key="k", rate=rate).allowed


@time_machine.travel(START, tick=False)
@time_machine.travel(START, tick=False)
def test_reset_forgets_the_hits_of_the_window():
    rate = parse_rate("2/h")
    ratelimit_hit(scope="login", key="ip", rate=rate)
    ratelimit_hit(scope="login", key="ip", rate=rate)
    ratelimit_reset(scope="login", key="ip", rate=rate)
    assert ratelimit_hit(scope="login", key="ip", rate=rate).remaining == 1


@time_machine.travel(START, tick=False)
def test_cache_keys_hold_a_hash_of_the_key_not_the_key():
    rate = parse_rate("1/h")
    ratelimit_hit(scope="codes", key="ada@example.com", rate=rate)
    cooldown_start(scope="codes", key="ada@example.com", seconds=60)
    digest = hashlib.sha256(b"ada@example.com").hexdigest()
    assert stored_keys() == stored_as(
        f"ratelimit:codes:{digest}:3600:{int(START.timestamp()) // 3600}",
        f"ratelimit:codes:{digest}",
    )


@time_machine.travel(START, tick=False)
def test_concurrent_hits_never_exceed_the_limit():
    rate = parse_rate("10/h")
    barrier = threading.Barrier(20)
    allowed: list[bool] = []

    def hammer() -> None:
        barrier.wait()
        allowed.extend(ratelimit_hit(scope="race", key="k", rate=rate).allowed for _ in range(5))

    threads = [threading.Thread(target=hammer) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(allowed) == 100
    assert allowed.count(True) == 10


def test_cooldown_runs_from_its_start_not_from_a_window():
    with time_machine.travel(START, tick=False) as traveller:
        traveller.shift(59)  # one second before a minute boundary
        assert cooldown_start(scope="resend", key="k", seconds=60) == 0
        traveller.shift(2)
        assert cooldown_start(scope="resend", key="k", seconds=60) == 58
        traveller.shift(58)
        assert cooldown_start(scope="resend", key="k", seconds=60) == 0


@time_machine.travel(START, tick=False)
def test_concurrent_callers_start_one_cooldown():
    barrier = threading.Barrier(10)
    waits: list[int] = []

    def start() -> None:
        barrier.wait()
        waits.append(cooldown_start(scope="race", key="k", seconds=60))

    threads = [threading.Thread(target=start) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == [0] + [60] * 9


def test_rate_limited_is_a_429_with_retry_after():
    error = RateLimited(retry_after=42)
    assert error.status == HTTPStatus.TOO_MANY_REQUESTS
    assert error.code == "rate_limited"
    assert error.headers == {"Retry-After": "42"}
    assert error.extra == {"retry_after": 42}


def test_parse_limits_reads_rules_per_key():
    from keyhouse.core.ratelimit import Limit, parse_limits

    assert parse_limits("30/m/ip, 10/15m/target,5/h/user") == [
        Limit(rate=Rate(limit=30, period=60), key="ip"),
        Limit(rate=Rate(limit=10, period=900), key="target"),
        Limit(rate=Rate(limit=5, period=3600), key="user"),
    ]
    assert parse_limits("") == []
    with pytest.raises(ValueError, match="/ip, /target or /user"):
        parse_limits("30/m/country")


def test_a_malformed_rate_limit_setting_fails_the_system_check(settings):
    from keyhouse.core.checks import check_rate_limits

    settings.KEYHOUSE_RATE_LIMITS = {"login": "30 a minute"}
    settings.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT = "lots"
    assert {error.id for error in check_rate_limits()} == {"core.E001", "core.E002"}


@time_machine.travel(START, tick=False)
def test_renewing_a_generation_forgets_every_counter_keyed_under_it():
    rate = parse_rate("1/h")

    def hit(ip: str) -> bool:
        generation = ratelimit_generation(scope="test", key="ada", longest=rate)
        return ratelimit_hit(scope="test", key=f"ada|{generation}|{ip}", rate=rate).allowed

    assert [hit("a"), hit("a"), hit("b"), hit("b")] == [True, False, True, False]
    ratelimit_generation_renew(scope="test", key="ada", longest=rate)
    assert [hit("a"), hit("b")] == [True, True]
    renewed = ratelimit_generation(scope="test", key="ada", longest=rate)
    window = int(START.timestamp()) // 3600

    def counter(generation: str, ip: str) -> str:
        digest = hashlib.sha256(f"ada|{generation}|{ip}".encode()).hexdigest()
        return f"ratelimit:test:{digest}:3600:{window}"

    generation_entry = f"ratelimit:test.generation:{hashlib.sha256(b'ada').hexdigest()}"
    assert renewed != "0"
    assert stored_keys() == stored_as(
        generation_entry,
        *(counter(generation, ip) for generation in ("0", renewed) for ip in "ab"),
    )
