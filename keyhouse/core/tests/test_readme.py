"""The README's five-minute walkthrough, run as written against a live ``make run`` server.

The walkthrough's shell blocks (between the ``walkthrough`` markers in README.md) run in
one bash, as a reader pastes them into a second terminal. The code is read from the
server's console output, where a reader finds it, and typed at the walkthrough's
``read`` prompt. Each curl reports its status on standard error through a curlrc, and
the lines the blocks print must be the outputs the README shows (``# → ...``), so that
neither the commands nor what the README says they answer can drift from the code.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from keyhouse.delivery.testing import free_port
from keyhouse.testing import shared_database_url, wait_until_serving

README = settings.BASE_DIR / "README.md"
WALKTHROUGH = re.compile(r"<!-- walkthrough: begin -->\n(.*?)<!-- walkthrough: end -->", re.S)
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)
SHOWN_OUTPUT = "# → "
# Each curl call writes "<method> <url> <status>" to standard error, leaving its output alone.
CURLRC = 'write-out = "%{stderr}%{method} %{url_effective} %{http_code}\\n"\n'
CODE_MAIL = re.compile(r"^To: ada@example\.com$.*?verification code is:\s+(\d{6})\b", re.S | re.M)
DEADLINE = 120  # seconds; a bound on a hang, never reached by a passing run


def walkthrough() -> tuple[str, list[str]]:
    """The walkthrough's script (its shell blocks in order) and the outputs it shows."""
    section = WALKTHROUGH.search(README.read_text())
    assert section, "README.md has lost its walkthrough markers"
    script = "".join(SHELL_BLOCK.findall(section.group(1)))
    shown = [
        line.removeprefix(SHOWN_OUTPUT)
        for line in script.splitlines()
        if line.startswith(SHOWN_OUTPUT)
    ]
    return script, shown


@contextmanager
def make_run(*, port: int, log: Path) -> Iterator[str]:
    """Start ``PORT=<port> make run`` on the test's database; yield its base URL.

    ``make run`` migrates (nothing is left to apply), creates the signing key and serves
    with Django's development server, mail printed to its console, as a reader runs it.
    """
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("MAKE")},
        "PORT": str(port),
        "DATABASE_URL": shared_database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("MFLAGS", None)
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        # Its own session, so that make, the server and its reloader stop together.
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],  # noqa: S607
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(f"{base}/healthz", process=process, log=log, within=DEADLINE)
        yield base
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    """Stop a process and every process of its session, and wait until all are gone.

    The server must have closed its database connections before the test database is
    emptied or dropped.
    """
    os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        process.poll()  # reaps make, the session's leader
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def code_from_console(log: Path, walk: subprocess.Popen) -> str:
    """Wait for the verification email in the server's console; return its code."""
    deadline = time.monotonic() + DEADLINE
    while not (found := CODE_MAIL.search(log.read_text())):
        if walk.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no verification code in the server's console:\n{log.read_text()}")
        time.sleep(0.2)
    return found.group(1)


@pytest.mark.django_db(transaction=True)
def test_the_readme_walkthrough_runs_as_written_against_make_run(tmp_path):
    for tool in ("make", "bash", "curl", "jq"):
        assert shutil.which(tool), f"the README's walkthrough needs {tool} on the PATH"
    script, shown = walkthrough()
    assert script.startswith("KEYHOUSE_URL=${KEYHOUSE_URL:-http://127.0.0.1:8000}\n")
    (tmp_path / "walkthrough.sh").write_text(script)
    (tmp_path / ".curlrc").write_text(CURLRC)
    server_log = tmp_path / "make-run.log"

    with make_run(port=free_port(), log=server_log) as base:
        walk = subprocess.Popen(  # noqa: S603 - bash running the README's own blocks
            ["bash", str(tmp_path / "walkthrough.sh")],  # noqa: S607
            env={**os.environ, "KEYHOUSE_URL": base, "CURL_HOME": str(tmp_path)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        code = code_from_console(server_log, walk)
        output, calls = walk.communicate(f"{code}\n", timeout=DEADLINE)

    assert walk.returncode == 0, calls
    assert calls.splitlines() == [
        f"POST {base}/api/v1/auth/signup 202",
        f"POST {base}/api/v1/auth/email/verify 200",
        f"POST {base}/api/v1/auth/login 200",
        f"GET {base}/api/v1/me 200",
        f"POST {base}/api/v1/auth/token/refresh 200",
        f"GET {base}/api/v1/me/sessions 200",
        f"POST {base}/api/v1/auth/logout 204",
        f"GET {base}/api/v1/me 401",
    ]
    assert output.splitlines() == shown
