"""Profile one scenario's gunicorn worker with py-spy while wrk drives it.

    .venv/bin/python bench/profile_worker.py bare [seconds]    # or me, refresh, login, verify...
    BENCH_PROFILE_APP=reference .venv/bin/python bench/profile_worker.py me
    BENCH_PROFILE_IDLE=1 BENCH_DB=postgres ... # also sample time spent waiting (I/O, fsync)

Starts the app as bench/run.py does (same settings, CPUs and fixtures), records the
worker with py-spy (installed into the reference's virtualenv, never into Keyhouse's
lock), and writes a flame graph (SVG), the collapsed stacks, and a text summary of the
functions that hold the most samples, inclusive and self, to bench/results/raw/.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path

import run as bench

PY_SPY_VERSION = "0.4.3"


def ensure_py_spy(log) -> Path:
    py_spy = bench.REFERENCE_VENV / "bin" / "py-spy"
    if not py_spy.exists():
        bench.ensure_reference_venv(log)
        uv = str(bench.ROOT / ".tools" / "bin" / "uv")
        bench.run(
            [uv, "pip", "install", "--quiet", f"py-spy=={PY_SPY_VERSION}"],
            log=log,
            env=bench.child_env({"VIRTUAL_ENV": str(bench.REFERENCE_VENV)}),
        )
    return py_spy


def summarise(collapsed: Path, top: int = 40) -> str:
    """The functions with the most samples, inclusive (on the stack) and self (on top)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _space, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    scenario = bench.SCENARIOS[sys.argv[1] if len(sys.argv) > 1 else "bare"]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    side = os.environ.get("BENCH_PROFILE_APP", "keyhouse")
    config = bench.Config()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    raw = bench.RESULTS / "raw" / f"profile-{stamp}"
    raw.mkdir(parents=True)
    out = raw / f"{side}-{scenario.name}"
    with (raw / "setup.log").open("a") as log:
        try:
            py_spy = ensure_py_spy(log)
            bench.ensure_wrk()
            app = bench.App(
                name=side,
                label=side,
                side=side,
                config=config,
                raw=raw,
                port=config.port + 10,
                database_url=bench.database_url(config, raw, f"profile_{side}"),
                redis_url=config.redis if side == "keyhouse" and config.redis_for_keyhouse else "",
                users=config.users,
                variant=scenario.variant if side == "keyhouse" else "",
            )
            bench.start_app(app, log)
            app.server = bench.start_server(app)
            bench.measure(app, scenario)  # warm-up and pool sizing
            worker = app.workers()[0]
            record = subprocess.Popen(  # noqa: S603
                [
                    str(py_spy),
                    "record",
                    "--pid",
                    str(worker),
                    "--duration",
                    str(seconds),
                    "--rate",
                    "500",
                    "--format",
                    "raw",
                    "--output",
                    f"{out}.collapsed",
                    "--function",
                    "--nonblocking",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            load = threading.Thread(
                target=bench.wrk,
                args=(app, scenario),
                kwargs={
                    "seconds": seconds + 2,
                    "auth": app.call("access_token") if scenario.kind == "bearer" else "",
                    "label": "profile",
                },
            )
            if scenario.pool_mode == "once":
                bench.ensure_pool(
                    app,
                    app.pools[scenario.kind],
                    app.rate_guess[scenario.name] * (seconds + 2) * 1.5,
                )
            load.start()
            record.wait()
            load.join()
        finally:
            bench.PROCESSES.stop_all()
    summary = summarise(Path(f"{out}.collapsed"))
    Path(f"{out}.txt").write_text(summary)
    print(summary)
    print(f"\nCollapsed stacks: {out}.collapsed (flamegraph.pl or speedscope.app read them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
