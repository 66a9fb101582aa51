"""The walkthroughs of the README, docs/mfa.md and docs/passkeys.md, run as written
against ``make run``.

A page's walkthrough is its shell blocks between the ``walkthrough`` markers; they run
in one bash, as a reader pastes them into a second terminal in Keyhouse's directory. The
README's code is read from the server's console output, where a reader finds it, and
typed at the walkthrough's ``read`` prompt. Each curl reports its status on standard
error through a curlrc, and the lines the blocks print must be the outputs the page shows
(``# → ...``), so that neither the commands nor what the page says they answer can drift
from the code.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from keyhouse.delivery.testing import free_port
from keyhouse.testing import shared_database_url, wait_until_serving

README = settings.BASE_DIR / "README.md"
MFA = settings.BASE_DIR / "docs" / "mfa.md"
PASSKEYS = settings.BASE_DIR / "docs" / "passkeys.md"
WALKTHROUGH = re.compile(r"<!-- walkthrough: begin -->\n(.*?)<!-- walkthrough: end -->", re.S)
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)
SHOWN_OUTPUT = "# → "
# Each curl call writes "<method> <url> <status>" to standard error, leaving its output alone.
CURLRC = 'write-out = "%{stderr}%{method} %{url_effective} %{http_code}\\n"\n'
CODE_MAIL = re.compile(r"^To: ada@example\.com$.*?verification code is:\s+(\d{6})\b", re.S | re.M)
UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
DEADLINE = 120  # seconds; a bound on a hang, never reached by a passing run


def walkthrough(page: Path) -> tuple[str, list[str]]:
    """A page's walkthrough script (its shell blocks in order) and the outputs it shows."""
    section = WALKTHROUGH.search(page.read_text())
    assert section, f"{page.name} has lost its walkthrough markers"
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


def walkthrough_run(
    page: Path,
    *,
    base: str,
    workdir: Path,
    typed: Callable[[subprocess.Popen], str] = lambda walk: "",
) -> list[str]:
    """Run a page's walkthrough against ``base``; return the curl calls it made.

    It runs in ``workdir``, standing for Keyhouse's directory (its ``.venv`` and
    ``keyhouse`` package linked in, the files the walkthrough writes kept out of the
    checkout), must succeed, and must
    print the outputs the page shows. ``typed`` answers its prompts, given the running
    bash.
    """
    script, shown = walkthrough(page)
    assert script.startswith("KEYHOUSE_URL=${KEYHOUSE_URL:-http://127.0.0.1:8000}\n")
    workdir.mkdir()
    (workdir / ".venv").symlink_to(settings.BASE_DIR / ".venv")
    (workdir / "keyhouse").symlink_to(settings.BASE_DIR / "keyhouse")
    (workdir / "walkthrough.sh").write_text(script)
    (workdir / ".curlrc").write_text(CURLRC)
    walk = subprocess.Popen(
        ["bash", "walkthrough.sh"],  # noqa: S607
        cwd=workdir,
        env={**os.environ, "KEYHOUSE_URL": base, "CURL_HOME": str(workdir)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output, calls = walk.communicate(typed(walk), timeout=DEADLINE)
    assert walk.returncode == 0, calls
    assert output.splitlines() == shown
    return calls.splitlines()


@pytest.mark.end_to_end
@pytest.mark.django_db(transaction=True)
def test_the_readme_mfa_and_passkey_walkthroughs_run_as_written_against_make_run(tmp_path):
    for tool in ("make", "bash", "curl", "jq"):
        assert shutil.which(tool), f"the walkthroughs need {tool} on the PATH"
    server_log = tmp_path / "make-run.log"

    with make_run(port=free_port(), log=server_log) as base:
        readme_calls = walkthrough_run(
            README,
            base=base,
            workdir=tmp_path / "readme",
            typed=lambda walk: f"{code_from_console(server_log, walk)}\n",
        )
        # docs/mfa.md goes on with the account the README's walkthrough made.
        mfa_calls = walkthrough_run(MFA, base=base, workdir=tmp_path / "mfa")
        # docs/passkeys.md goes on with it, without a factor again.
        passkey_calls = walkthrough_run(PASSKEYS, base=base, workdir=tmp_path / "passkeys")

    assert readme_calls == [
        f"POST {base}/api/v1/auth/signup 202",
        f"POST {base}/api/v1/auth/email/verify 200",
        f"POST {base}/api/v1/auth/login 200",
        f"GET {base}/api/v1/me 200",
        f"POST {base}/api/v1/auth/token/refresh 200",
        f"GET {base}/api/v1/me/sessions 200",
        f"POST {base}/api/v1/auth/logout 204",
        f"GET {base}/api/v1/me 401",
    ]
    assert "9 recovery codes left." in server_log.read_text()  # the email mfa.md promises
    assert [UUID.sub("<id>", call) for call in mfa_calls] == [
        f"POST {base}/api/v1/auth/login 200",
        f"POST {base}/api/v1/me/mfa/totp 201",
        f"POST {base}/api/v1/me/mfa/totp/<id>/confirm 200",
        f"GET {base}/api/v1/me/mfa 200",
        f"GET {base}/api/v1/me/sessions 200",
        f"POST {base}/api/v1/auth/logout 204",
        f"POST {base}/api/v1/auth/login 200",
        f"POST {base}/api/v1/auth/mfa/verify 200",
        f"POST {base}/api/v1/auth/login 200",
        f"POST {base}/api/v1/auth/mfa/verify 200",
        f"GET {base}/api/v1/me/mfa 200",
        f"POST {base}/api/v1/me/mfa/recovery-codes 201",
        f"DELETE {base}/api/v1/me/mfa/<id> 204",
        f"GET {base}/api/v1/me/mfa 200",
        f"POST {base}/api/v1/auth/login 200",
    ]
    assert [UUID.sub("<id>", call) for call in passkey_calls] == [
        f"POST {base}/api/v1/auth/login 200",
        f"POST {base}/api/v1/me/passkeys/options 200",
        f"POST {base}/api/v1/me/passkeys 201",
        f"POST {base}/api/v1/auth/passkey/options 200",
        f"POST {base}/api/v1/auth/passkey/verify 200",
        f"POST {base}/api/v1/auth/passkey/verify 400",
        f"POST {base}/api/v1/auth/login 200",
        f"POST {base}/api/v1/auth/passkey/options 200",
        f"POST {base}/api/v1/auth/mfa/verify 200",
        f"GET {base}/api/v1/me/passkeys 200",
        f"DELETE {base}/api/v1/me/passkeys/<id> 204",
        f"GET {base}/api/v1/me/mfa 200",
        f"POST {base}/api/v1/auth/login 200",
    ]
