"""Turn the bench's raw figures into the Markdown of bench/results/ and the printed summary.

Every ratio is taken within a round (Keyhouse and the reference measured one right after
the other), then summarised over rounds as min / median / max: on a shared machine the
spread says how far to trust the median.
"""

from __future__ import annotations

import statistics
from typing import Any

# (scenario, wanted ratio of Keyhouse's throughput to the reference's)
RATIO_TARGETS = (
    ("django", 0.95),
    ("bare", 0.95),
    ("refresh", 3.0),
    ("refresh_es256", 3.0),
    ("login", 5.0),
)
# (scenario, Keyhouse scenario, wanted ratio of their throughputs within a round)
OWN_TARGETS = (("authenticated", "bare", 0.90), ("me", "bare", 0.80))
SCALE_P50_GROWTH = 1.10
RSS_LIMIT_MB = 150.0


def progress_line(scenario: str, number: int, rounds: int, label: str, run: dict) -> str:
    problems = []
    if run["non2xx"]:
        problems.append(f"{run['non2xx']} non-2xx, first: {run['first_error']}")
    if run["pool_exhausted"]:
        problems.append("token pool ran dry")
    return (
        f"  {scenario:<15} round {number}/{rounds}  {label:<26} {rate(run['rps']):>8} req/s"
        f"  p50 {latency(run['latency_us']['p50']):>9}  p99 {latency(run['latency_us']['p99']):>9}"
        + (f"  [{'; '.join(problems)}]" if problems else "")
    )


def rate(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def latency(microseconds: float) -> str:
    if microseconds >= 1_000_000:
        return f"{microseconds / 1e6:.2f} s"
    return f"{microseconds / 1000:.2f} ms"


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "n/a"
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratios(first: list[dict], second: list[dict], key: str = "rps") -> list[float]:
    """Per-round ratios first/second of ``key`` (rps, or a latency percentile)."""
    pairs = zip(first, second, strict=False)
    if key == "rps":
        return [a["rps"] / b["rps"] for a, b in pairs if b["rps"]]
    return [a["latency_us"][key] / b["latency_us"][key] for a, b in pairs if b["latency_us"][key]]


def peak_mb(memory: dict[str, Any]) -> float | None:
    """The highest VmHWM of the app's workers after its last scenario, in MB (10^6 bytes)."""
    if not memory:
        return None
    last = list(memory.values())[-1]
    peaks = [entry.get("VmHWM", 0) for entry in last["kib"]]
    return max(peaks) * 1024 / 1e6 if peaks else None


def _verdict(values: list[float], wanted: float, *, at_most: bool = False) -> str:
    if not values:
        return "not measured"
    middle = median(values)
    ok = middle <= wanted if at_most else middle >= wanted
    worst = max(values) if at_most else min(values)
    every = worst <= wanted if at_most else worst >= wanted
    if ok and every:
        return "**met** (every round)"
    if ok:
        return "**met** at the median, not in every round"
    return "**not met**"


def _non2xx(runs: list[dict]) -> int:
    return sum(run["non2xx"] for run in runs)


# Targets --------------------------------------------------------------------------------


def _own_ratio(runs: dict[str, Any], name: str, baseline: str) -> list[float]:
    """Keyhouse's ``name`` over its ``baseline`` per round: measured beside it when the
    scenario has no reference equivalent, else from the baseline scenario's own rounds."""
    beside = runs[name].get(f"keyhouse/{baseline}")
    if beside is None and baseline in runs:
        beside = runs[baseline]["keyhouse"]
    return ratios(runs[name]["keyhouse"], beside) if beside else []


def targets(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    compare = data.get("compare")
    if compare:
        runs = compare["runs"]
        queries = compare["queries"]["keyhouse"]
        for name, wanted in RATIO_TARGETS:
            if name not in runs or "reference" not in runs[name]:
                continue
            values = ratios(runs[name]["keyhouse"], runs[name]["reference"])
            verdict = _verdict(values, wanted)
            if _non2xx(runs[name]["keyhouse"]):
                verdict += " (Keyhouse answered non-2xx: invalid)"
            rows.append(
                (
                    f"`{name}`: ≥ {wanted:g}x the reference's throughput",
                    f"{spread(values, '{:.2f}x')} (min / median / max)",
                    verdict,
                )
            )
        own = [(name, baseline, wanted) for name, baseline, wanted in OWN_TARGETS]
        own += [
            (name, meta["against"], meta["at_least"])
            for name, meta in compare.get("scenarios", {}).items()
            if meta.get("against") and meta.get("at_least")
        ]
        for name, baseline, wanted in own:
            if name not in runs:
                continue
            share = _own_ratio(runs, name, baseline)
            if not share:
                continue
            verdict = _verdict(share, wanted)
            measured = f"{spread(share, '{:.0%}')} of `{baseline}` (min / median / max)"
            if name == "authenticated":
                count = queries.get(name, {}).get("queries")
                measured = f"{count} queries; {measured}"
                if count != 0:
                    verdict = "**not met**"
            rows.append(
                (
                    f"`{name}`: ≥ {wanted:.0%} of Keyhouse's own `{baseline}` throughput"
                    + (", 0 queries" if name == "authenticated" else ""),
                    measured,
                    verdict,
                )
            )
        mb = peak_mb(compare["memory"].get("keyhouse", {}))
        if mb is not None:
            reference_mb = peak_mb(compare["memory"].get("reference", {}))
            rows.append(
                (
                    f"Worker peak RSS < {RSS_LIMIT_MB:g} MB after the run",
                    f"{mb:.0f} MB (reference {reference_mb:.0f} MB)",
                    "**met**" if mb < RSS_LIMIT_MB else "**not met**",
                )
            )
    scale = data.get("scale")
    if scale:
        small, large = list(scale["apps"])
        for name in ("refresh", "login"):
            if name not in scale["runs"]:
                continue
            values = ratios(scale["runs"][name][large], scale["runs"][name][small], key="p50")
            rows.append(
                (
                    f"`{name}` with {scale['apps'][large]['users']:,} users: p50 within 10% of "
                    f"{scale['apps'][small]['users']:,} users",
                    f"p50 ratio {spread(values, '{:.2f}x')} (min / median / max)",
                    _verdict(values, SCALE_P50_GROWTH, at_most=True),
                )
            )
    rows += concurrency_targets(data.get("concurrency"))
    return rows


def concurrency_targets(concurrency: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    if not concurrency:
        return []
    rows = []
    workers = concurrency["workers"]
    for name, found in concurrency["runs"].items():
        failures = found["non2xx"] + sum(found["errors"].values())
        check = found["integrity"]
        rows.append(
            (
                f"`{name}` with {workers} workers and {concurrency['connections']} connections: "
                "no errors, no duplicated sessions",
                f"{failures} errors; {check['duplicated']} duplicated ({check['what']})",
                "**met**" if failures == 0 and check["duplicated"] == 0 else "**not met**",
            )
        )
    peaks = [peak for found in concurrency["runs"].values() for peak in found["rss_mb"]]
    if peaks:
        rows.append(
            (
                f"Each of {workers} workers' peak RSS < {RSS_LIMIT_MB:g} MB under concurrency",
                f"{max(peaks):.0f} MB at most",
                "**met**" if max(peaks) < RSS_LIMIT_MB else "**not met**",
            )
        )
    return rows


# Tables ---------------------------------------------------------------------------------


def summary_table(compare: dict[str, Any]) -> list[str]:
    runs, queries = compare["runs"], compare["queries"]
    lines = [
        "| scenario | Keyhouse req/s | reference req/s | ratio min / median / max "
        "| Keyhouse p50 / p99 | reference p50 / p99 | DB queries K / R | non-2xx K / R |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    against = []
    for name, by_app in runs.items():
        k = by_app["keyhouse"]
        r = by_app.get("reference")
        baseline = compare.get("scenarios", {}).get(name, {}).get("against")
        if r is not None:
            ratio = spread(ratios(k, r), "{:.2f}x")
            reference = (rate(median([x["rps"] for x in r])), _latencies(r), _non2xx(r))
        else:
            ratio = f"{spread(_own_ratio(runs, name, baseline), '{:.2f}x')} of {baseline}†"
            reference = ("—", "—", "—")
            against.append(name)
        lines.append(
            f"| {SHOWN_AS.get(name, name)} | {rate(median([x['rps'] for x in k]))} "
            f"| {reference[0]} | {ratio} | {_latencies(k)} | {reference[1]} "
            f"| {queries['keyhouse'].get(name, {}).get('queries', '?')} / "
            f"{queries['reference'].get(name, {}).get('queries', '—')} "
            f"| {_non2xx(k)} / {reference[2]} |"
        )
    if "verify" in runs:
        lines += [
            "",
            "\\* Not like for like: the reference's nearest endpoint is djoser's account "
            "activation, which issues no tokens. No target.",
        ]
    if against:
        lines += [
            "",
            "† The reference has no equivalent: the ratio is to the Keyhouse scenario named, "
            "measured right after it in each round.",
        ]
    return lines


SHOWN_AS = {"verify": "verify\\*"}


def _latencies(runs: list[dict]) -> str:
    p50 = median([run["latency_us"]["p50"] for run in runs])
    p99 = median([run["latency_us"]["p99"] for run in runs])
    return f"{latency(p50)} / {latency(p99)}"


def scale_table(scale: dict[str, Any]) -> list[str]:
    small, large = list(scale["apps"])
    lines = [
        f"| scenario | req/s, {scale['apps'][small]['users']:,} users "
        f"| req/s, {scale['apps'][large]['users']:,} users "
        f"| p50, {scale['apps'][small]['users']:,} | p50, {scale['apps'][large]['users']:,} "
        "| p50 ratio min / median / max | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, by_app in scale["runs"].items():
        a, b = by_app[small], by_app[large]
        lines.append(
            f"| {name} | {rate(median([x['rps'] for x in a]))} "
            f"| {rate(median([x['rps'] for x in b]))} "
            f"| {latency(median([x['latency_us']['p50'] for x in a]))} "
            f"| {latency(median([x['latency_us']['p50'] for x in b]))} "
            f"| {spread(ratios(b, a, key='p50'), '{:.2f}x')} "
            f"| {_non2xx(a) + _non2xx(b)} |"
        )
    return lines


def rounds_table(section: dict[str, Any]) -> list[str]:
    labels = {name: app["label"] for name, app in section["apps"].items()}
    lines = [
        "| scenario | round | app | req/s | p50 | p90 | p99 | requests | non-2xx "
        "| warm-up req/s | load avg before |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, by_app in section["runs"].items():
        rounds = max(len(runs) for runs in by_app.values())
        for number in range(rounds):
            for app, runs in by_app.items():
                if number >= len(runs):
                    continue
                run = runs[number]
                label = labels.get(app) or _beside_label(labels, app)
                lines.append(
                    f"| {name} | {number + 1} | {label} | {rate(run['rps'])} "
                    f"| {latency(run['latency_us']['p50'])} | {latency(run['latency_us']['p90'])} "
                    f"| {latency(run['latency_us']['p99'])} | {run['requests']:,} "
                    f"| {run['non2xx']}{' (pool ran dry)' if run['pool_exhausted'] else ''} "
                    f"| {rate(run['warmup_rps'])} | {run['loadavg_before']:.2f} |"
                )
    return lines


def _beside_label(labels: dict[str, str], key: str) -> str:
    """The label of ``<app>/<scenario>``, a baseline measured beside another scenario."""
    app, _slash, scenario = key.partition("/")
    return f"{labels.get(app, app)}, {scenario}"


def memory_table(section: dict[str, Any]) -> list[str]:
    labels = {name: app["label"] for name, app in section["apps"].items()}
    scenarios = list(section["runs"])
    lines = [
        "| worker peak RSS (VmHWM) after… | " + " | ".join(scenarios) + " |",
        "| --- |" + " ---: |" * len(scenarios),
    ]
    for app, by_scenario in section["memory"].items():
        cells = []
        for name in scenarios:
            kib = [entry.get("VmHWM", 0) for entry in by_scenario.get(name, {}).get("kib", [])]
            cells.append(f"{max(kib) * 1024 / 1e6:.0f} MB" if kib else "—")
        lines.append(f"| {labels[app]} | " + " | ".join(cells) + " |")
    return lines


# Documents ------------------------------------------------------------------------------


def _header(data: dict[str, Any]) -> list[str]:
    config, machine = data["config"], data["machine"]
    lines = [
        f"**Machine:** {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']} ({machine['os']}).",
        "",
        f"**How:** gunicorn, {config['workers']} sync worker(s), pinned to CPU "
        f"{config['server_cpu']}; {machine['wrk']} with {config['threads']} thread(s) and "
        f"{config['connections']} connections, pinned to CPU {config['client_cpu']}; a "
        f"{config['warmup']} s warm-up before each {config['duration']} s measurement; "
        f"{config['rounds']} rounds alternating Keyhouse and the reference. DEBUG off, "
        "production middleware and logging, no worker recycling during the run. "
        f"Run took {data.get('minutes', '?')} minutes.",
    ]
    compare = data.get("compare")
    if compare:
        versions = compare["versions"]
        lines += [
            "",
            f"**Database:** {_database_line(data)}.",
            "",
            f"**Password hashing of new users:** {_hashing(compare)}.",
            "",
            "**Versions:** Keyhouse: "
            + _versions(versions.get("keyhouse", {}))
            + ". Reference: "
            + _versions(versions.get("reference", {}))
            + ".",
        ]
    return lines


def _database_line(data: dict[str, Any]) -> str:
    config = data["config"]
    if config["db"] == "postgres":
        cache = "Redis"
        return (
            f"PostgreSQL for both (a database each); Keyhouse's cache (rate-limit "
            f"counters, revocation list) in {cache}"
        )
    cache = "Redis" if config["workers"] > 1 else "process memory"
    return f"SQLite for both (a file each); Keyhouse's cache in {cache}"


def _hashing(compare: dict[str, Any]) -> str:
    parts = []
    for app in ("keyhouse", "reference"):
        found = compare.get("hashing", {}).get(app)
        if found:
            parameters = ", ".join(f"{k} {v:,}" for k, v in found["parameters"].items())
            parts.append(
                f"{compare['apps'][app]['label']} {found['algorithm']} ({parameters}), "
                f"one check {found['check_ms']:.0f} ms"
            )
    return "; ".join(parts) or "not recorded"


def _versions(found: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in found.items())


NOTES = """\
- **Noise.** The machine has 2 cores and is shared with other work (test suites of
  other engineers), which lands on the server's or wrk's CPU at random. The rounds
  alternate the two apps so that each ratio compares measurements taken seconds apart;
  read the min / median / max spread as the error bar. The load average before each
  measurement is in the table above.
- **Latency** is wrk's, from sending a request to its response, with
  2 connections on one sync worker: a request usually waits for the one ahead of it,
  so p50 is about twice the service time. gunicorn's sync worker closes each
  connection, so every request also opens one (both apps alike).
- **Database queries** are counted in-process with Django's `CaptureQueriesContext`
  and the test client, under the same settings and database, after one warm-up
  request; not under load. Keyhouse reads its signing keys once a minute per process
  (one query, not per request).
- **What each scenario does.** *plain Django view*: a `JsonResponse`, through each
  app's middleware. *bare DRF view*: an `APIView` with no authentication.
  *authenticated*: Keyhouse's bearer check (RS256 signature, revocation list in the
  cache, no user loaded) against simplejwt's `JWTAuthentication` as configured by
  default (HS256, loads the user). *me*: `GET /api/v1/me` against djoser's
  `/auth/users/me/`. *refresh*: a fresh refresh token each request, minted beforehand
  (Keyhouse: rotation with reuse detection, a new access token signed RS256;
  simplejwt: `ROTATE_REFRESH_TOKENS` and `BLACKLIST_AFTER_ROTATION`). *login*:
  Keyhouse's Argon2id (m=19 MiB, t=2, p=1, OWASP's parameters), audit record, session
  and tokens, against simplejwt's `/auth/jwt/create/` with Django's default
  PBKDF2-SHA256 (1,500,000 iterations in Django 6.1). *email verification*: Keyhouse
  checks a code of a pending sign-up and signs the user in; the reference's nearest
  endpoint, djoser's activation (uid and token from a link), activates the account and
  issues no tokens, so that ratio is not like for like and has no target. *second
  factor*: Keyhouse's `POST /api/v1/auth/mfa/verify`, a TOTP code answering the
  challenge of a password sign-in (each body a fresh challenge and a factor whose code
  has not been used in its 30-second step); the reference has no second factor, so it
  is compared with Keyhouse's own password login, measured right after it.
  *refresh, ES256*: the same refresh on a second Keyhouse server whose signing key is
  ES256 (its own database), against the reference's refresh in the same rounds.
  *passkey sign-in*: `POST /api/v1/auth/passkey/verify`, a fresh challenge answered by
  the assertion of a passkey registered through Keyhouse's ceremony (a software
  authenticator, P-256, user verified), its sign count one above the last; compared
  with Keyhouse's own login. *ID token*: the native token exchange
  `POST /api/v1/auth/oauth/bench/token` with an RS256 ID token of a known identity and
  its nonce, from a stand-in provider whose discovery document and keys Keyhouse
  fetched once (loopback); compared with Keyhouse's own login. *GoTrue API*:
  `POST /auth/v1/token?grant_type=password` and `grant_type=refresh_token`, the same
  bodies as Keyhouse's login and refresh, compared with them (the layer should cost
  under 10%).
- **Rate limits** in Keyhouse are counted as in production but raised out of reach
  (bench/keyhouse_bench/settings.py), so the bench measures cost, not limits; the
  reference has none.
"""


def markdown(data: dict[str, Any]) -> str:
    lines = [f"# Keyhouse benchmark, {data['started'][:16].replace('T', ' ')} UTC", ""]
    lines += _header(data)
    compare = data.get("compare")
    if compare:
        lines += ["", "## Keyhouse against djoser + simplejwt", ""]
        lines += [
            "Medians over the rounds; the ratio is Keyhouse's throughput over the "
            "reference's within each round.",
            "",
        ]
        lines += summary_table(compare)
    if compare and compare.get("signing"):
        lines += [
            "",
            "## Signing an access token",
            "",
            "The claims of a real access token signed and verified by Keyhouse's own code "
            "(keyhouse.tokens.jwt with PyJWT and cryptography), each algorithm it offers, in "
            "the fixture process between measurements; the median of 5 batches of 200. "
            f"This run signed with {compare.get('algorithm', 'RS256')}.",
            "",
            *signing_table(compare["signing"]),
        ]
    lines += [
        "",
        "## Targets (issue 20)",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {target} | {measured} | {verdict} |" for target, measured, verdict in targets(data)
    ]
    scale = data.get("scale")
    if scale:
        small, large = list(scale["apps"])
        lines += [
            "",
            f"## Scale: {scale['apps'][small]['users']:,} against "
            f"{scale['apps'][large]['users']:,} users (Keyhouse, PostgreSQL + Redis)",
            "",
            f"Creating {scale['apps'][large]['users']:,} users (migrate, bulk insert, "
            f"ANALYZE) took {scale['apps'][large]['setup_seconds']:.0f} s.",
            "",
        ]
        lines += scale_table(scale)
    if compare:
        lines += ["", "## Every measurement", "", *rounds_table(compare)]
        lines += ["", "## Worker memory", "", *memory_table(compare)]
        lines += ["", "## Database queries per request", ""]
        lines += _queries_section(compare)
    if scale:
        lines += ["", "## Every scale measurement", "", *rounds_table(scale)]
        lines += ["", "### Worker memory at scale", "", *memory_table(scale)]
    concurrency = data.get("concurrency")
    if concurrency:
        lines += [
            "",
            f"## Concurrency: {concurrency['workers']} workers, "
            f"{concurrency['connections']} connections (Keyhouse, PostgreSQL + Redis)",
            "",
            f"gunicorn with {concurrency['workers']} sync workers on CPU "
            f"{concurrency['server_cpu']}, wrk with {concurrency['connections']} connections "
            f"and {concurrency['threads']} threads for {concurrency['duration']} s after a "
            f"{concurrency['warmup']} s warm-up. Duplicated sessions are counted in the "
            "database after each run: for refresh, sessions left with more than one live "
            "refresh token (a fork) and tokens rotated more than the 2xx answers; for login, "
            "sessions opened beyond the 2xx answers.",
            "",
            *concurrency_table(concurrency),
        ]
    lines += ["", "## Notes", "", NOTES]
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "make bench            # about 22 minutes",
        "make bench SCALE=1    # adds 1,000 vs 1,000,000 users in PostgreSQL",
        "```",
        "",
        "Knobs (`BENCH_DURATION`, `BENCH_ROUNDS`, `BENCH_DB=postgres`, ...) are in "
        "bench/README.md.",
        "",
    ]
    return "\n".join(lines)


def signing_table(signing: dict[str, Any]) -> list[str]:
    """Cost of an access token's signature and of its verification, per algorithm."""
    lines = [
        "| algorithm | sign | verify | signatures/s on one core | token size |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for algorithm, found in signing.items():
        lines.append(
            f"| {algorithm} | {found['sign_us']:,.0f} µs | {found['verify_us']:,.0f} µs "
            f"| {rate(1e6 / found['sign_us'])} | {found['token_bytes']} bytes |"
        )
    return lines


def concurrency_table(concurrency: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | req/s | p50 | p99 | requests | non-2xx | socket errors "
        "| duplicated sessions | worker peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, found in concurrency["runs"].items():
        check = found["integrity"]
        lines.append(
            f"| {name} | {rate(found['rps'])} | {latency(found['latency_us']['p50'])} "
            f"| {latency(found['latency_us']['p99'])} | {found['requests']:,} "
            f"| {found['non2xx']}{' (pool ran dry)' if found['pool_exhausted'] else ''} "
            f"| {sum(found['errors'].values())} | {check['duplicated']} ({check['what']}) "
            f"| {', '.join(f'{mb:.0f}' for mb in found['rss_mb'])} MB |"
        )
    return lines


def _queries_section(compare: dict[str, Any]) -> list[str]:
    lines = ["| scenario | Keyhouse | reference |", "| --- | --- | --- |"]
    for name in compare["runs"]:
        cells = []
        for app in ("keyhouse", "reference"):
            found = compare["queries"].get(app, {}).get(name)
            if not found:
                cells.append("—" if app == "reference" else "?")
                continue
            first = (
                f" (first request {found['first']})" if found["first"] != found["queries"] else ""
            )
            cells.append(f"{found['queries']}{first}, HTTP {found['status']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def summary(data: dict[str, Any]) -> str:
    lines = []
    if data.get("compare"):
        lines += [*summary_table(data["compare"]), ""]
        if data["compare"].get("signing"):
            lines += [*signing_table(data["compare"]["signing"]), ""]
    if data.get("concurrency"):
        lines += [*concurrency_table(data["concurrency"]), ""]
    if data.get("scale"):
        lines += [*scale_table(data["scale"]), ""]
    lines += ["| target | measured | verdict |", "| --- | --- | --- |"]
    lines += [
        f"| {target} | {measured} | {verdict} |" for target, measured, verdict in targets(data)
    ]
    return "\n".join(lines)
