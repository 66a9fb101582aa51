"""Count the instructions a request costs, the same every run however busy the machine.

    .venv/bin/python bench/instructions.py bare,me 200     # scenarios, requests (200)
    BENCH_PROFILE_APP=reference .venv/bin/python bench/instructions.py bare

Wall-clock figures move with whatever else runs; instruction counts do not. Each
scenario's requests go through the app's WSGI application in one process (the bench's
settings and fixtures, a fresh SQLite database under bench/results/raw/), run under
``valgrind --tool=callgrind`` with the counting switched on (``callgrind_control``)
only around the measured requests, after a warm-up. The keyring's lifetime is raised so
that no reload falls inside the count (under valgrind a minute passes in a few hundred
requests), and the collector's long-lived objects are frozen before the loop.
gunicorn's own work per request is not counted.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import run as bench

WARMUP = 20
ENV = {"PYTHONHASHSEED": "0", "KEYHOUSE_KEYRING_TTL": "100000000"}


def _environ(method: str, target: str, body: bytes, auth: str) -> dict:
    """A WSGI environ like gunicorn's for one request to ``target`` (path and query)."""
    path, _mark, query = target.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8701",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_USER_AGENT": "wrk",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body:
        environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    if auth:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {auth}"
    return environ


def loop(side: str, name: str, count: int) -> None:
    """In the child: set the app up (first time only), warm up, serve ``count`` requests."""
    sys.stdout = sys.stderr  # standard output carries the handshakes alone
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    fixtures = __import__(
        "keyhouse_bench.fixtures" if side == "keyhouse" else "refapp.fixtures", fromlist=["_"]
    )
    marker = Path(os.environ["BENCH_INSTRUCTIONS_DB"] + ".ready")
    if not marker.exists():
        call_command("migrate", verbosity=0, interactive=False)
        if side == "keyhouse":
            call_command("rotate_signing_key", "--if-missing", verbosity=0)
        fixtures.setup(users=200, password=bench.PASSWORD)
        marker.write_text("")
    if count == 0:
        return
    fixtures._state["users"] = 200  # what setup() made, for the fixtures' sampling
    scenario = bench.SCENARIOS[name]
    method, path = (scenario.keyhouse if side == "keyhouse" else scenario.reference) or ("", "")
    auth = fixtures.access_token() if scenario.kind == "bearer" else ""
    bodies = [b""] * (WARMUP + count)
    if scenario.pool_mode:
        pool = Path(tempfile.mkstemp()[1])
        mint = getattr(fixtures, f"mint_{scenario.kind}", None)
        if scenario.kind == "login":
            fixtures.login_pool(path=str(pool), count=WARMUP + count, password=bench.PASSWORD)
        else:
            mint(path=str(pool), count=WARMUP + count)
        lines = [line.encode() for line in pool.read_text().splitlines() if line]
        bodies = (lines * (1 + (WARMUP + count) // len(lines)))[: WARMUP + count]
    app = get_wsgi_application()
    requests = [_environ(method, path, body, auth) for body in bodies]
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        statuses.append(status[:3])

    for number, environ in enumerate(requests):
        if number == WARMUP:
            gc.collect()
            gc.freeze()
            _handshake("ready")  # the parent switches the counting on
        output = app(environ, start_response)
        for _chunk in output:
            pass
        output.close()
    _handshake(" ".join(sorted(set(statuses))))  # the parent dumps the counts


def _handshake(line: str) -> None:
    """Tell the parent where the loop stands and wait for it to answer."""
    sys.__stdout__.write(line + "\n")
    sys.__stdout__.flush()
    sys.stdin.readline()


def callgrind(app: bench.App, name: str, count: int, env: dict[str, str]) -> int:
    """The instructions of ``count`` requests, counted between the child's two handshakes."""
    side, raw = app.side, app.raw
    out = raw / f"{side}-{name}.callgrind"
    control = bench.tool("callgrind_control")
    command = [
        bench.tool("valgrind"),
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        str(app.python),
        __file__,
        "--loop",
        side,
        name,
        str(count),
    ]
    with (raw / "valgrind.log").open("a") as log:
        child = subprocess.Popen(  # noqa: S603
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            _expect(child, "ready")
            bench.run([control, "--instr=on", str(child.pid)], log=log)
            _answer(child)
            statuses = _expect(child, "")
            bench.run([control, "--dump", str(child.pid)], log=log)
            _answer(child)
            child.wait(timeout=600)
        finally:
            if child.poll() is None:
                child.kill()
    if statuses != "200":
        raise bench.BenchError(f"{side} {name} answered {statuses}, not only 200")
    dumps = sorted(raw.glob(f"{out.name}.*"))
    for line in dumps[-1].read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise bench.BenchError(f"No total in {dumps[-1]}")


def _expect(child: subprocess.Popen, wanted: str) -> str:
    line = (child.stdout.readline() if child.stdout else "").strip()
    if not line or (wanted and line != wanted):
        raise bench.BenchError(f"The measured process said {line!r}; see valgrind.log")
    return line


def _answer(child: subprocess.Popen) -> None:
    if child.stdin is not None:
        child.stdin.write("\n")
        child.stdin.flush()


def _free_port() -> int:
    """A loopback port nothing listens on, for the oidc scenario's provider."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    if sys.argv[1:2] == ["--loop"]:
        loop(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    names = sys.argv[1].split(",") if len(sys.argv) > 1 else ["bare"]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    side = os.environ.get("BENCH_PROFILE_APP", "keyhouse")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    raw = bench.RESULTS / "raw" / f"instructions-{stamp}"
    raw.mkdir(parents=True)
    (raw / "metrics").mkdir()
    issuer_port = _free_port()
    apps: dict[str, bench.App] = {}  # by variant: each has its own database and SECRET_KEY
    for name in names:
        scenario = bench.SCENARIOS[name]
        variant = scenario.variant if side == "keyhouse" else ""
        database = f"{side}-{variant}" if variant else side
        app = apps.setdefault(
            variant,
            bench.App(
                name=side,
                label=side,
                side=side,
                config=bench.Config(),
                raw=raw,
                port=8701,
                database_url=f"sqlite:///{raw / database}.sqlite3",
                variant=variant,
                issuer_port=issuer_port,
            ),
        )
        env = app.env(
            {
                **ENV,
                # Multi-process metrics, as config/gunicorn.py sets them up.
                "PROMETHEUS_MULTIPROC_DIR": str(raw / "metrics"),
                "BENCH_INSTRUCTIONS_DB": str(raw / database),
            }
        )
        python = str(app.python)
        if (app.path_of(scenario)) is None:
            print(f"{name}: the {side} has no such request")
            continue
        with (raw / "setup.log").open("a") as log:  # set up outside valgrind
            bench.run([python, __file__, "--loop", side, name, "0"], env=env, log=log)
        total = callgrind(app, name, count, env)
        print(f"{side} {name}: {total / count:,.0f} instructions a request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
