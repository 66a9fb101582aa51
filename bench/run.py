"""Benchmark Keyhouse against djoser + simplejwt on this machine: ``make bench``.

Both apps run under gunicorn with the same production-like settings (DEBUG off, one
sync worker unless BENCH_WORKERS says otherwise) and are driven by wrk from another CPU.
Each scenario alternates the two apps (Keyhouse, reference, Keyhouse, reference...)
for BENCH_ROUNDS rounds, each measurement after its own warm-up, so that the noise of a
shared machine shows up as a spread of ratios instead of hiding in one number.
``BENCH_SCALE=1`` adds refresh and login with 1,000 against 1,000,000 users in
PostgreSQL. The results go to bench/results/ as Markdown; bench/README.md has the knobs.

Standard library only; it runs the apps' own Python for everything Django does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import report  # noqa: E402 - beside this file

ROOT = BENCH.parent
REFERENCE = BENCH / "reference"
RESULTS = BENCH / "results"
KEYHOUSE_PYTHON = ROOT / ".venv" / "bin" / "python"
REFERENCE_VENV = REFERENCE / ".venv"
REFERENCE_PYTHON = REFERENCE_VENV / "bin" / "python"
REFERENCE_LOCK = REFERENCE / "requirements.lock"
WRK_SCRIPT = BENCH / "wrk" / "scenario.lua"
PASSWORD = "bench: correct horse battery staple"  # noqa: S105 - every bench user's password
# Variables that must come from the bench, never from the caller's shell.
SCRUBBED_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "EMAIL_URL",
    "DJANGO_SETTINGS_MODULE",
    "PYTHONPATH",
    "WEB_CONCURRENCY",
    "PROMETHEUS_MULTIPROC_DIR",
)


class BenchError(RuntimeError):
    """Something the bench cannot go on without; the message says what to do."""


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, "") or default)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    duration: int = field(default_factory=lambda: _env_int("BENCH_DURATION", 10))
    warmup: int = field(default_factory=lambda: _env_int("BENCH_WARMUP", 3))
    rounds: int = field(default_factory=lambda: _env_int("BENCH_ROUNDS", 3))
    connections: int = field(default_factory=lambda: _env_int("BENCH_CONNECTIONS", 2))
    threads: int = field(default_factory=lambda: _env_int("BENCH_THREADS", 1))
    workers: int = field(default_factory=lambda: _env_int("BENCH_WORKERS", 1))
    db: str = field(default_factory=lambda: os.environ.get("BENCH_DB", "") or "sqlite")
    users: int = field(default_factory=lambda: _env_int("BENCH_USERS", 1000))
    scale: bool = field(default_factory=lambda: _env_flag("BENCH_SCALE"))
    scale_users: int = field(default_factory=lambda: _env_int("BENCH_SCALE_USERS", 1_000_000))
    scale_only: bool = field(default_factory=lambda: _env_flag("BENCH_SCALE_ONLY"))
    scenarios: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            name.strip()
            for name in (os.environ.get("BENCH_SCENARIOS", "") or ",".join(SCENARIOS)).split(",")
            if name.strip()
        )
    )
    server_cpu: str = field(default_factory=lambda: os.environ.get("BENCH_SERVER_CPU", "1"))
    client_cpu: str = field(default_factory=lambda: os.environ.get("BENCH_CLIENT_CPU", "0"))
    port: int = field(default_factory=lambda: _env_int("BENCH_PORT", 8701))
    postgres: str = field(
        default_factory=lambda: (
            os.environ.get("BENCH_POSTGRES_URL", "") or "postgres://postgres@127.0.0.1:5432"
        )
    )
    redis: str = field(
        default_factory=lambda: os.environ.get("BENCH_REDIS_URL", "") or "redis://127.0.0.1:6379/13"
    )
    write_results: bool = field(default_factory=lambda: not _env_flag("BENCH_NO_RESULTS"))
    # Keyhouse's signing algorithm for the run ("" keeps KEYHOUSE_JWT_ALGORITHM's default).
    jwt_algorithm: str = field(default_factory=lambda: os.environ.get("BENCH_JWT_ALGORITHM", ""))
    # The concurrency phase: several workers on PostgreSQL + Redis, many connections.
    concurrency: bool = field(default_factory=lambda: _env_flag("BENCH_CONCURRENCY"))
    concurrency_only: bool = field(default_factory=lambda: _env_flag("BENCH_CONCURRENCY_ONLY"))
    concurrency_workers: int = field(
        default_factory=lambda: _env_int("BENCH_CONCURRENCY_WORKERS", 4)
    )
    concurrency_connections: int = field(
        default_factory=lambda: _env_int("BENCH_CONCURRENCY_CONNECTIONS", 200)
    )
    concurrency_threads: int = field(
        default_factory=lambda: _env_int("BENCH_CONCURRENCY_THREADS", 2)
    )
    concurrency_duration: int = field(
        default_factory=lambda: _env_int("BENCH_CONCURRENCY_DURATION", 30)
    )

    def check(self) -> None:
        unknown = set(self.scenarios) - set(SCENARIOS)
        if unknown:
            raise BenchError(f"Unknown BENCH_SCENARIOS {sorted(unknown)}; known: {list(SCENARIOS)}")
        if self.db not in {"sqlite", "postgres"}:
            raise BenchError("BENCH_DB is sqlite (the default) or postgres.")
        if self.jwt_algorithm not in {"", "RS256", "ES256", "EdDSA"}:
            raise BenchError("BENCH_JWT_ALGORITHM is RS256, ES256 or EdDSA.")
        if self.rounds < 1 or self.duration < 1 or self.connections < self.threads:
            raise BenchError(
                "BENCH_ROUNDS and BENCH_DURATION must be positive and "
                "BENCH_CONNECTIONS at least BENCH_THREADS."
            )

    @property
    def redis_for_keyhouse(self) -> bool:
        """Keyhouse needs a shared cache with several workers (its deploy check says so)."""
        return self.db == "postgres" or self.workers > 1


@dataclass(frozen=True)
class Scenario:
    """One request to measure, on Keyhouse and on the reference's nearest equivalent.

    A new flow is a few lines: an entry below and, when each request needs a fresh
    credential, a ``mint_<kind>`` command in keyhouse_bench/fixtures.py that writes
    request bodies to a pool file (see POOL_MODES). A flow the reference has no
    equivalent of leaves ``reference`` out and names the Keyhouse scenario it is
    ``against`` (its ratio is taken to that one, within each round), with an optional
    ``at_least`` target for that ratio. A ``variant`` is served on the Keyhouse side by
    a server of its own, set apart by the settings VARIANTS gives it (its own database).
    """

    name: str
    title: str
    kind: str  # what each request needs: "", "bearer", or a pool of bodies (POOL_MODES)
    keyhouse: tuple[str, str]
    reference: tuple[str, str] | None = None
    against: str = ""
    at_least: float | None = None
    variant: str = ""

    @property
    def pool_mode(self) -> str:
        return POOL_MODES.get(self.kind, "")

    @property
    def fresh_pool(self) -> bool:
        """Bodies that go stale within minutes (a TOTP code, a passkey challenge): minted
        right before use."""
        return self.kind in FRESH_POOLS


# "once": each body works once (refresh tokens, codes, challenges); "cycle": reused in turn.
POOL_MODES = {
    "refresh": "once",
    "verify": "once",
    "mfa": "once",
    "passkey": "once",
    "oidc": "once",
    "login": "cycle",
}
FRESH_POOLS = {"mfa", "passkey"}
# Keyhouse servers beside the main one, each serving the scenarios that name it: the
# settings that set it apart, and a label.
VARIANTS = {
    "es256": (
        {"KEYHOUSE_JWT_ALGORITHM": "ES256", "CACHE_KEY_PREFIX": "keyhouse-es256"},
        "Keyhouse, ES256",
    )
}

SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "django", "plain Django view", "", ("GET", "/bench/django"), ("GET", "/bench/django")
        ),
        Scenario(
            "bare",
            "bare DRF view, no authentication",
            "",
            ("GET", "/bench/bare"),
            ("GET", "/bench/bare"),
        ),
        Scenario(
            "authenticated",
            "authenticated DRF view, user not loaded",
            "bearer",
            ("GET", "/bench/authenticated"),
            ("GET", "/bench/authenticated"),
        ),
        Scenario("me", "current user", "bearer", ("GET", "/api/v1/me"), ("GET", "/auth/users/me/")),
        Scenario(
            "refresh",
            "refresh with rotation",
            "refresh",
            ("POST", "/api/v1/auth/token/refresh"),
            ("POST", "/auth/jwt/refresh/"),
        ),
        Scenario(
            "refresh_es256",
            "refresh with rotation, access token signed ES256",
            "refresh",
            ("POST", "/api/v1/auth/token/refresh"),
            ("POST", "/auth/jwt/refresh/"),
            variant="es256",
        ),
        Scenario(
            "login",
            "password login",
            "login",
            ("POST", "/api/v1/auth/login"),
            ("POST", "/auth/jwt/create/"),
        ),
        Scenario(
            "verify",
            "email verification",
            "verify",
            ("POST", "/api/v1/auth/email/verify"),
            ("POST", "/auth/users/activation/"),
        ),
        Scenario(
            "mfa",
            "second factor (TOTP) after a password",
            "mfa",
            ("POST", "/api/v1/auth/mfa/verify"),
            against="login",
        ),
        Scenario(
            "passkey",
            "passkey sign-in",
            "passkey",
            ("POST", "/api/v1/auth/passkey/verify"),
            against="login",
        ),
        Scenario(
            "oidc",
            "ID token of an OpenID provider (native apps)",
            "oidc",
            # "bench" is the provider keyhouse_bench/settings.py configures.
            ("POST", "/api/v1/auth/oauth/bench/token"),
            against="login",
        ),
        Scenario(
            "gotrue_password",
            "GoTrue API: password grant",
            "login",
            ("POST", "/auth/v1/token?grant_type=password"),
            against="login",
            at_least=0.9,
        ),
        Scenario(
            "gotrue_refresh",
            "GoTrue API: refresh token grant",
            "refresh",
            ("POST", "/auth/v1/token?grant_type=refresh_token"),
            against="refresh",
            at_least=0.9,
        ),
    )
}
# A first guess of a scenario's rate, to size the pool of its first warm-up; every
# later pool is sized from the rate just measured.
FIRST_RATE_GUESS = 300
POOL_MARGIN = 1.3
LOGIN_POOL = 2000
# The oidc scenario's provider answers this far above its Keyhouse server's port.
ISSUER_PORT_OFFSET = 100


# Processes ------------------------------------------------------------------------------


class Processes:
    """Every process the bench starts, stopped on the way out whatever happens."""

    def __init__(self) -> None:
        self.servers: list[subprocess.Popen] = []
        self.agents: list[Agent] = []

    def stop_all(self) -> None:
        for agent in self.agents:
            agent.close()
        self.agents.clear()
        for server in self.servers:
            stop_server(server)
        self.servers.clear()


PROCESSES = Processes()


def _on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def tool(name: str) -> str:
    """The absolute path of a command the bench needs."""
    path = shutil.which(name)
    if path is None:
        raise BenchError(f"The bench needs {name}, which is not on the PATH.")
    return path


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    env.update(extra)
    return env


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    log: TextIO | None = None,
    check: bool = True,
    capture: bool = False,
) -> subprocess.CompletedProcess:
    """Run a command to completion, its output into ``log`` unless captured."""
    result = subprocess.run(  # noqa: S603 - the bench's own commands
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE if capture else log,
        stderr=subprocess.STDOUT if log is not None and not capture else None,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise BenchError(
            f"{' '.join(map(str, cmd))} failed with exit code {result.returncode}"
            + (f"; see {log.name}" if log is not None else "")
        )
    return result


class Agent:
    """One app's fixture process (bench/agent.py): mints tokens and codes on request."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = (app.raw / f"{app.name}-agent.log").open("a")
        self.proc = subprocess.Popen(  # noqa: S603
            [tool("taskset"), "-c", app.config.client_cpu, str(app.python), "-m", app.fixtures],
            env=app.env(),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        PROCESSES.agents.append(self)

    def call(self, cmd: str, **args: Any) -> Any:
        if self.proc.stdin is None or self.proc.stdout is None:
            raise BenchError(f"The {self.app.name} fixture process has no pipes")
        self.proc.stdin.write(json.dumps({"cmd": cmd, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"The {self.app.name} fixture process died; see {self.log.name}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise BenchError(f"{self.app.name} {cmd}: {answer['error']} (see {self.log.name})")
        return answer["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_server(app: App) -> subprocess.Popen:
    """Start the app's gunicorn pinned to the server CPU and wait until it answers."""
    log = (app.raw / f"{app.name}-server.log").open("a")
    env = app.env(
        {
            "GUNICORN_BIND": f"127.0.0.1:{app.port}",
            "WEB_CONCURRENCY": str(app.config.workers),
            # Never recycle the worker during a run: its peak memory must cover all of it.
            "GUNICORN_MAX_REQUESTS": "0",
        }
    )
    proc = subprocess.Popen(  # noqa: S603
        [
            tool("taskset"),
            "-c",
            app.config.server_cpu,
            str(app.python),
            "-m",
            "gunicorn",
            "-c",
            str(app.gunicorn_conf),
            app.wsgi,
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stopping it takes its workers
    )
    log.close()
    PROCESSES.servers.append(proc)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(
                f"{app.label} did not start; see {app.raw / (app.name + '-server.log')}"
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
            connection.request("GET", "/bench/bare")
            if connection.getresponse().status == 200 and worker_pids(proc.pid):
                return proc
        time.sleep(0.3)
    raise BenchError(f"{app.label} did not answer on port {app.port} within 90 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    with contextlib.suppress(OSError):
        return [int(pid) for pid in children.read_text().split()]
    return []


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _sep, value = line.partition(":")
        if key in {"VmHWM", "VmRSS"}:
            found[key] = int(value.split()[0])
    return found


# Apps -----------------------------------------------------------------------------------


@dataclass
class Pool:
    """A file of request bodies; "once" pools are consumed from ``offset`` on."""

    path: Path
    kind: str
    size: int = 0
    offset: int = 0


@dataclass
class App:
    name: str
    label: str
    side: str  # "keyhouse" or "reference": which paths and fixtures
    config: Config
    raw: Path
    port: int
    database_url: str
    redis_url: str = ""
    users: int = 0
    variant: str = ""  # a Keyhouse server of VARIANTS, serving only the scenarios naming it
    # Where the ``oidc`` scenario's provider answers (Keyhouse's fixture process serves it).
    issuer_port: int = 0
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    server: subprocess.Popen | None = None
    agent: Agent | None = None
    pools: dict[str, Pool] = field(default_factory=dict)
    rate_guess: dict[str, float] = field(default_factory=dict)
    setup_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.issuer_port = self.issuer_port or self.port + ISSUER_PORT_OFFSET

    def call(self, cmd: str, **args: Any) -> Any:
        """Ask this app's fixture process (see Agent)."""
        if self.agent is None:
            raise BenchError(f"{self.label} has no fixture process")
        return self.agent.call(cmd, **args)

    def workers(self) -> list[int]:
        if self.server is None:
            raise BenchError(f"{self.label} has no server")
        return worker_pids(self.server.pid)

    @property
    def runs_key(self) -> str:
        """Where its measurements are recorded: a variant's as its side's, the Keyhouse
        side of the scenarios it serves."""
        return self.side if self.variant else self.name

    @property
    def python(self) -> Path:
        return KEYHOUSE_PYTHON if self.side == "keyhouse" else REFERENCE_PYTHON

    @property
    def fixtures(self) -> str:
        return "keyhouse_bench.fixtures" if self.side == "keyhouse" else "refapp.fixtures"

    @property
    def wsgi(self) -> str:
        return "config.wsgi" if self.side == "keyhouse" else "refapp.wsgi"

    @property
    def gunicorn_conf(self) -> Path:
        if self.side == "keyhouse":
            return ROOT / "config" / "gunicorn.py"
        return REFERENCE / "gunicorn.conf.py"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        if self.side == "keyhouse":
            path = [BENCH, ROOT]
            settings = "keyhouse_bench.settings"
        else:
            path = [BENCH, REFERENCE]
            settings = "refapp.settings"
        values = {
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": os.pathsep.join(map(str, path)),
            "DEBUG": "0",
            "SECRET_KEY": self.secret_key,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "KEYHOUSE_JWT_ISSUER": f"http://127.0.0.1:{self.port}",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": self.database_url,
            # Nothing listens there: no measured request sends mail (see the bench settings).
            "EMAIL_URL": "smtp://127.0.0.1:9",
        }
        if self.redis_url:
            values["REDIS_URL"] = self.redis_url
        if self.side == "keyhouse":
            values["BENCH_OIDC_ISSUER"] = f"http://127.0.0.1:{self.issuer_port}"
            if self.config.jwt_algorithm:
                values["KEYHOUSE_JWT_ALGORITHM"] = self.config.jwt_algorithm
            if self.variant:
                values.update(VARIANTS[self.variant][0])
        values.update(extra or {})
        return child_env(values)

    def path_of(self, scenario: Scenario) -> tuple[str, str] | None:
        """The scenario's method and path on this app; None where it has no equivalent,
        and on the Keyhouse side, unless the app is the variant the scenario names."""
        if self.side == "reference":
            return scenario.reference
        return scenario.keyhouse if scenario.variant == self.variant else None


def prepare_database(app: App, log: TextIO) -> None:
    """Start from an empty database, migrated; Keyhouse also gets a signing key."""
    if app.database_url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(app.database_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    else:
        base, _slash, name = app.database_url.rpartition("/")
        run([str(KEYHOUSE_PYTHON), "-c", RECREATE_DATABASE, base, name], log=log)
    if app.redis_url:
        run([str(KEYHOUSE_PYTHON), "-c", FLUSH_REDIS, app.redis_url], log=log)
    django = [str(app.python), "-m", "django"]
    run([*django, "migrate", "--no-input", "-v", "0"], env=app.env(), log=log)
    if app.side == "keyhouse":
        run([*django, "rotate_signing_key", "--if-missing"], env=app.env(), log=log)


RECREATE_DATABASE = """
import sys
import psycopg
base, name = sys.argv[1], sys.argv[2]
with psycopg.connect(base + "/postgres", autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{name}"')
"""
FLUSH_REDIS = "import sys, redis; redis.Redis.from_url(sys.argv[1]).flushdb()"


def start_app(app: App, log: TextIO) -> None:
    started = time.monotonic()
    prepare_database(app, log)
    app.agent = Agent(app)
    created = app.call("setup", users=app.users, password=PASSWORD)["users"]
    if created != app.users:
        raise BenchError(f"{app.label}: {created} bench users instead of {app.users}")
    app.setup_seconds = time.monotonic() - started
    for kind in POOL_MODES:
        app.pools[kind] = Pool(path=app.raw / f"{app.name}-{kind}.pool", kind=kind)
        app.pools[kind].path.write_text("")
    login = app.pools["login"]
    login.size = app.call(
        "login_pool", path=str(login.path), count=min(app.users, LOGIN_POOL), password=PASSWORD
    )


def ensure_pool(app: App, pool: Pool, need: float, *, fresh: bool = False) -> None:
    """Mint more bodies when fewer than ``need`` are left; ``fresh`` drops what is left."""
    if fresh:
        pool.offset = pool.size
    short = int(need) - (pool.size - pool.offset)
    if short > 0:
        count = max(short, 200)
        pool.size += app.call(f"mint_{pool.kind}", path=str(pool.path), count=count)


# Measurements ---------------------------------------------------------------------------


def wrk(app: App, scenario: Scenario, *, seconds: int, auth: str, label: str) -> dict[str, Any]:
    """Drive one app with wrk for ``seconds``; return wrk's figures and ours."""
    config = app.config
    method, path = app.path_of(scenario) or scenario.keyhouse
    result_file = app.raw / f"{app.name}-{scenario.name}-{label}.json"
    pool = app.pools.get(scenario.kind)
    env = child_env(
        {
            "BENCH_METHOD": method,
            "BENCH_PATH": path,
            "BENCH_AUTH": auth,
            "BENCH_POOL": str(pool.path) if pool else "",
            "BENCH_POOL_MODE": scenario.pool_mode,
            "BENCH_POOL_START": str(pool.offset if pool and scenario.pool_mode == "once" else 0),
            "BENCH_THREADS": str(config.threads),
            "BENCH_RESULT": str(result_file),
        }
    )
    cmd = [
        tool("taskset"),
        "-c",
        config.client_cpu,
        tool("wrk"),
        "-t",
        str(config.threads),
        "-c",
        str(config.connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        f"http://127.0.0.1:{app.port}{path}",
    ]
    load = Path("/proc/loadavg").read_text().split()[0]
    with (app.raw / "wrk.log").open("a") as log:
        log.write(f"\n### {app.name} {scenario.name} {label}\n")
        log.flush()
        run(cmd, env=env, log=log)
    figures = json.loads(result_file.read_text())
    if pool is not None and scenario.pool_mode == "once":
        pool.offset += figures["pool_used"]
    seconds_run = figures["duration_us"] / 1e6
    figures["rps"] = figures["requests"] / seconds_run if seconds_run else 0.0
    figures["loadavg_before"] = float(load)
    return figures


def measure(app: App, scenario: Scenario) -> dict[str, Any]:
    """Warm up, then measure one scenario on one app."""
    config = app.config
    auth = app.call("access_token") if scenario.kind == "bearer" else ""
    pool = app.pools.get(scenario.kind) if scenario.pool_mode == "once" else None
    guess = app.rate_guess.get(scenario.name, FIRST_RATE_GUESS)
    fresh = scenario.fresh_pool
    if pool is not None:
        ensure_pool(app, pool, guess * config.warmup * POOL_MARGIN + 50, fresh=fresh)
    warm = wrk(app, scenario, seconds=config.warmup, auth=auth, label="warmup")
    for attempt in range(2):
        if pool is not None:
            rate = max(warm["rps"], app.rate_guess.get(scenario.name, 0.0))
            need = rate * config.duration * POOL_MARGIN * (attempt + 1) + 100
            ensure_pool(app, pool, need, fresh=fresh)
        figures = wrk(app, scenario, seconds=config.duration, auth=auth, label="measure")
        if not figures["pool_exhausted"]:
            break
        app.rate_guess[scenario.name] = figures["rps"] * 2
    figures["warmup_rps"] = warm["rps"]
    app.rate_guess[scenario.name] = figures["rps"]
    return figures


def alternate(apps: list[App], scenarios: list[Scenario], rounds: int) -> dict[str, Any]:
    """Measure each scenario on each app in turn, A B A B..., for ``rounds`` rounds.

    A scenario the reference lacks alternates instead with the Keyhouse scenario it is
    measured against, recorded as ``<app>/<scenario>`` beside the app's own runs.
    """
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    memory: dict[str, dict[str, Any]] = {app.name: {} for app in apps}
    for scenario in scenarios:
        serving = [app for app in apps if app.path_of(scenario) is not None]
        turns = [(app, scenario, app.runs_key, app.label) for app in serving]
        if scenario.against:
            baseline = SCENARIOS[scenario.against]
            turns += [
                (app, baseline, f"{app.runs_key}/{baseline.name}", f"{app.label}, {baseline.name}")
                for app in serving
            ]
        runs[scenario.name] = {key: [] for _app, _scenario, key, _label in turns}
        for number in range(1, rounds + 1):
            for app, measured, key, label in turns:
                figures = measure(app, measured)
                runs[scenario.name][key].append(figures)
                print(
                    report.progress_line(scenario.name, number, rounds, label, figures),
                    flush=True,
                )
        for app in serving:
            memory[app.name][scenario.name] = app_memory(app)
    return {"runs": runs, "memory": memory}


def app_memory(app: App) -> dict[str, Any]:
    pids = app.workers()
    return {"workers": pids, "kib": [memory_kib(pid) for pid in pids]}


# Set-up of the machine ------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing the Debian package", flush=True)
        apt = tool("apt-get")
        install = [apt, "install", "-y", "--no-install-recommends", "wrk"]
        if run(install, capture=True, check=False).returncode:
            run([apt, "update"], capture=True, check=False)
            run(install, capture=True, check=False)
    if not shutil.which("wrk"):
        raise BenchError(
            "The bench needs wrk (https://github.com/wg/wrk). Install it, e.g. "
            "'sudo apt-get install wrk' on Debian or Ubuntu, 'brew install wrk' on macOS."
        )


def ensure_taskset(config: Config) -> None:
    if not shutil.which("taskset"):
        raise BenchError("The bench needs taskset (Debian package util-linux).")
    cpus = os.sched_getaffinity(0)
    for name, cpu in (
        ("BENCH_SERVER_CPU", config.server_cpu),
        ("BENCH_CLIENT_CPU", config.client_cpu),
    ):
        if int(cpu) not in cpus:
            raise BenchError(f"{name}={cpu} is not a CPU this process may use ({sorted(cpus)}).")


def ensure_reference_venv(log: TextIO) -> None:
    """Create the reference's virtualenv from its lock, again whenever the lock changes."""
    digest = hashlib.sha256(REFERENCE_LOCK.read_bytes()).hexdigest()
    stamp = REFERENCE_VENV / ".bench-lock-sha256"
    if REFERENCE_PYTHON.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        raise BenchError("uv is missing: run 'make deps-dev' first (it installs uv into .tools/).")
    print("Creating the reference's virtualenv in bench/reference/.venv", flush=True)
    python = (ROOT / ".python-version").read_text().strip()
    run(
        [uv, "venv", "--quiet", "--clear", "--python", python, str(REFERENCE_VENV)],
        log=log,
        env=child_env({"UV_PYTHON_DOWNLOADS": "never"}),
    )
    run(
        [uv, "pip", "install", "--quiet", "--require-hashes", "-r", str(REFERENCE_LOCK)],
        log=log,
        env=child_env({"VIRTUAL_ENV": str(REFERENCE_VENV)}),
    )
    stamp.write_text(digest)


def ensure_services(config: Config, log: TextIO) -> None:
    """PostgreSQL and Redis must answer when asked for."""
    if (
        config.db != "postgres"
        and not config.scale
        and not config.redis_for_keyhouse
        and not (config.concurrency or config.concurrency_only)
    ):
        return
    probe = run(
        [str(KEYHOUSE_PYTHON), "-c", PROBE_SERVICES, config.postgres, config.redis],
        capture=True,
        check=False,
    )
    if probe.returncode != 0:
        raise BenchError(
            f"PostgreSQL ({config.postgres}) and Redis ({config.redis}) must be running for "
            f"BENCH_DB=postgres, BENCH_SCALE=1 or several workers: {probe.stdout.strip()}"
        )


PROBE_SERVICES = """
import sys
import psycopg
import redis
try:
    psycopg.connect(sys.argv[1] + "/postgres", connect_timeout=3).close()
    redis.Redis.from_url(sys.argv[2], socket_connect_timeout=3).ping()
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(1)
"""


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    memory = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    wrk_version = run([tool("wrk"), "--version"], capture=True, check=False).stdout.splitlines()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 1024 / 1024, 1),
        "kernel": os.uname().release,
        "os": next(
            (
                line.split("=", 1)[1].strip('"')
                for line in Path("/etc/os-release").read_text().splitlines()
                if line.startswith("PRETTY_NAME")
            ),
            "",
        ),
        "wrk": wrk_version[0].split(" Copyright")[0] if wrk_version else "wrk",
    }


# The two phases -------------------------------------------------------------------------


def database_url(config: Config, raw: Path, name: str) -> str:
    if config.db == "postgres":
        return f"{config.postgres}/{name}"
    return f"sqlite:///{raw / name}.sqlite3"


def compare(config: Config, raw: Path, log: TextIO) -> dict[str, Any]:
    """Keyhouse against the reference, scenario by scenario, alternating."""
    scenarios = [SCENARIOS[name] for name in config.scenarios]
    keyhouse = App(
        name="keyhouse",
        label="Keyhouse",
        side="keyhouse",
        config=config,
        raw=raw,
        port=config.port,
        database_url=database_url(config, raw, "keyhouse_bench"),
        redis_url=config.redis if config.redis_for_keyhouse else "",
        users=config.users,
    )
    reference = App(
        name="reference",
        label="reference",
        side="reference",
        config=config,
        raw=raw,
        port=config.port + 1,
        database_url=database_url(config, raw, "keyhouse_bench_reference"),
        users=config.users,
    )
    variants = [
        App(
            name=f"keyhouse-{variant}",
            label=VARIANTS[variant][1],
            side="keyhouse",
            config=config,
            raw=raw,
            port=config.port + 5 + number,
            database_url=database_url(config, raw, f"keyhouse_bench_{variant}"),
            redis_url=keyhouse.redis_url,
            users=config.users,
            variant=variant,
        )
        for number, variant in enumerate(sorted({s.variant for s in scenarios if s.variant}))
    ]
    apps = [keyhouse, *variants, reference]
    for app in apps:
        print(f"Preparing {app.label}: {app.database_url}, {app.users} users", flush=True)
        start_app(app, log)
    print("Counting database queries per request (in-process, Django's test client)", flush=True)
    queries: dict[str, dict[str, Any]] = {}
    for app in apps:
        table = {
            scenario.name: {"method": path[0], "path": path[1], "kind": scenario.kind}
            for scenario in scenarios
            if (path := app.path_of(scenario)) is not None
        }
        counted = app.call("queries", scenarios=table, password=PASSWORD)
        queries.setdefault(app.runs_key, {}).update(counted)
    versions = {app.name: app.call("versions") for app in (keyhouse, reference)}
    hashing = {app.name: app.call("hashing") for app in (keyhouse, reference)}
    print("Timing access-token signatures by algorithm (in-process)", flush=True)
    signing = keyhouse.call("signing")
    measured = serve_and_alternate(apps, scenarios, config.rounds)
    return {
        "scenarios": {
            scenario.name: {"against": scenario.against, "at_least": scenario.at_least}
            for scenario in scenarios
        },
        "signing": signing,
        "algorithm": config.jwt_algorithm or "RS256",
        "apps": {
            app.name: {
                "label": app.label,
                "database": app.database_url.split("://")[0],
                "users": app.users,
            }
            for app in apps
        },
        "versions": versions,
        "hashing": hashing,
        "queries": queries,
        **measured,
    }


def serve_and_alternate(apps: list[App], scenarios: list[Scenario], rounds: int) -> dict[str, Any]:
    """Start each app's server, measure the scenarios alternating the apps, stop them."""
    for app in apps:
        app.server = start_server(app)
    ports = ", ".join(f"{app.label} on :{app.port}" for app in apps)
    print(f"Servers up: {ports}", flush=True)
    try:
        return alternate(apps, scenarios, rounds)
    finally:
        for app in apps:
            stop_server(app.server)


def scale(config: Config, raw: Path, log: TextIO) -> dict[str, Any]:
    """Refresh and login with few and with many users, in PostgreSQL, alternating."""
    apps = []
    for offset, users in ((2, 1000), (3, config.scale_users)):
        tag = f"{users // 1000}k" if users < 1_000_000 else f"{users // 1_000_000}m"
        apps.append(
            App(
                name=f"keyhouse-{tag}",
                label=f"Keyhouse, {users:,} users",
                side="keyhouse",
                config=config,
                raw=raw,
                port=config.port + offset,
                database_url=f"{config.postgres}/keyhouse_bench_{tag}",
                redis_url=config.redis,
                users=users,
            )
        )
    for app in apps:
        print(f"Preparing {app.label} in PostgreSQL", flush=True)
        start_app(app, log)
        print(f"  ready in {app.setup_seconds:.0f} s", flush=True)
    scenarios = [SCENARIOS[name] for name in ("refresh", "login")]
    measured = serve_and_alternate(apps, scenarios, config.rounds)
    return {
        "apps": {
            app.name: {
                "label": app.label,
                "users": app.users,
                "setup_seconds": round(app.setup_seconds, 1),
            }
            for app in apps
        },
        **measured,
    }


def concurrency(config: Config, raw: Path, log: TextIO) -> dict[str, Any]:
    """Refresh and login on several workers with many connections, PostgreSQL + Redis:
    throughput and tail latency, then the database checked for duplicated sessions."""
    loaded = dataclasses.replace(
        config,
        workers=config.concurrency_workers,
        connections=config.concurrency_connections,
        threads=config.concurrency_threads,
        duration=config.concurrency_duration,
    )
    app = App(
        name="keyhouse-concurrency",
        label=f"Keyhouse, {loaded.workers} workers",
        side="keyhouse",
        config=loaded,
        raw=raw,
        port=config.port + 4,
        database_url=f"{config.postgres}/keyhouse_bench_concurrency",
        redis_url=config.redis,
        users=config.users,
    )
    print(f"Preparing {app.label} in PostgreSQL", flush=True)
    start_app(app, log)
    app.server = start_server(app)
    runs = {}
    try:
        for name in ("refresh", "login"):
            scenario = SCENARIOS[name]
            pool = app.pools[scenario.kind]
            once = scenario.pool_mode == "once"
            if once:
                ensure_pool(app, pool, FIRST_RATE_GUESS * loaded.warmup * POOL_MARGIN * 2)
            before = settled_sessions_state(app)
            warm = wrk(app, scenario, seconds=loaded.warmup, auth="", label="warmup")
            settled_sessions_state(app)  # the warm-up's queue served before the run starts
            if once:
                rate = max(warm["rps"], FIRST_RATE_GUESS)
                ensure_pool(app, pool, rate * loaded.duration * POOL_MARGIN * 1.5 + 500)
            figures = wrk(app, scenario, seconds=loaded.duration, auth="", label="measure")
            figures["sent_with_warmup"] = warm["sent"] + figures["sent"]
            after = settled_sessions_state(app)
            figures["integrity"] = duplicated_sessions(name, before, after, figures)
            figures["errors"] = {k: v for k, v in figures["errors"].items() if k != "status"}
            figures["rss_mb"] = [kib.get("VmHWM", 0) * 1024 / 1e6 for kib in app_memory(app)["kib"]]
            runs[name] = figures
            print(report.progress_line(name, 1, 1, app.label, figures), flush=True)
    finally:
        stop_server(app.server)
    return {
        "workers": loaded.workers,
        "connections": loaded.connections,
        "threads": loaded.threads,
        "duration": loaded.duration,
        "warmup": loaded.warmup,
        "server_cpu": loaded.server_cpu,
        "runs": runs,
    }


def settled_sessions_state(app: App, *, within: float = 120) -> dict[str, int]:
    """The session counts once the server has answered what it had queued: wrk stops
    counting at the end of its run, but requests already sent are still served."""
    state = app.call("sessions_state")
    deadline = time.monotonic() + within
    steady = 0
    while time.monotonic() < deadline:
        time.sleep(1)
        again = app.call("sessions_state")
        steady = steady + 1 if again == state else 0
        if steady == 3:
            return state
        state = again
    raise BenchError(f"{app.label} was still opening sessions {within:.0f} s after the run")


def duplicated_sessions(
    name: str, before: dict[str, int], after: dict[str, int], figures: dict[str, Any]
) -> dict[str, Any]:
    """What the database holds beyond what the requests sent (warm-up included) account
    for: a refresh token rotates at most once and a session keeps one live token (no
    fork); a login opens at most one session. The pool's tokens are minted before
    ``before`` is read, or between the warm-up and the run, which rotates none."""
    sent = figures["sent_with_warmup"]
    if name == "refresh":
        rotated = after["rotated"] - before["rotated"]
        forks = after["forked_sessions"]
        return {
            "duplicated": forks + max(0, rotated - sent),
            "what": f"{forks} forked sessions, {rotated:,} rotations for {sent:,} sent",
        }
    opened = after["sessions"] - before["sessions"]
    return {
        "duplicated": max(0, opened - sent),
        "what": f"{opened:,} sessions opened for {sent:,} sent",
    }


def main() -> int:
    config = Config()
    config.check()
    signal.signal(signal.SIGTERM, _on_signal)
    stamp = dt.datetime.now(dt.UTC)
    raw = RESULTS / "raw" / stamp.strftime("%Y%m%d-%H%M%S")
    raw.mkdir(parents=True, exist_ok=True)
    print(f"Keyhouse bench: logs and raw figures in {raw.relative_to(ROOT)}", flush=True)
    started = time.monotonic()
    data: dict[str, Any] = {"config": config.__dict__, "started": stamp.isoformat()}
    with (raw / "setup.log").open("a") as log:
        try:
            ensure_wrk()
            ensure_taskset(config)
            ensure_reference_venv(log)
            ensure_services(config, log)
            data["machine"] = machine()
            only = config.scale_only or config.concurrency_only
            if not only:
                data["compare"] = compare(config, raw, log)
            if config.scale or config.scale_only:
                data["scale"] = scale(config, raw, log)
            if config.concurrency or config.concurrency_only:
                data["concurrency"] = concurrency(config, raw, log)
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("bench: interrupted; servers stopped", file=sys.stderr)
            return 130
        finally:
            PROCESSES.stop_all()
    data["minutes"] = round((time.monotonic() - started) / 60, 1)
    (raw / "results.json").write_text(json.dumps(data, indent=2, default=str))
    markdown = report.markdown(data)
    print()
    print(report.summary(data))
    if config.write_results:
        dated = RESULTS / f"{stamp.strftime('%Y-%m-%d-%H%M')}.md"
        dated.write_text(markdown)
        (RESULTS / "latest.md").write_text(markdown)
        print(f"\nWritten: {dated.relative_to(ROOT)} and bench/results/latest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
