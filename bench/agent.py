"""A tiny line protocol between the bench driver and one Django process per app.

The driver starts ``python -m keyhouse_bench.fixtures`` (or the reference's) once, with
the same settings and database as the server under test, and sends it one JSON object a
line: ``{"cmd": "mint_refresh", "args": {...}}``. The process answers one JSON line
each: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. Keeping one
process for the whole run makes minting tokens between measurements cheap: Django is
set up once and its database connection stays open.

Standard library only: both virtualenvs import it.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any


def serve(commands: dict[str, Callable[..., Any]]) -> None:
    """Answer commands from standard input until it closes.

    Anything the commands print (a console mail backend, a warning) goes to standard
    error, so that standard output carries only the answers.
    """
    answers = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            result = commands[request["cmd"]](**request.get("args", {}))
            answer: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:
            traceback.print_exc()
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def write_lines(path: str, lines: list[str]) -> int:
    """Append request bodies to a pool file, one a line; return how many."""
    with open(path, "a", encoding="utf-8") as pool:  # noqa: PTH123 - str path from the driver
        pool.writelines(f"{line}\n" for line in lines)
    return len(lines)


def count_queries(
    scenarios: dict[str, dict[str, str]], prepare: Callable[[str], tuple[dict[str, str], str]]
) -> dict[str, Any]:
    """Count each scenario's database queries in this process, with Django's test client.

    ``scenarios`` maps a name to its ``method``, ``path`` and ``kind``; ``prepare(kind)``
    makes a fresh request's headers and body outside the capture (a token, a code). Each
    scenario runs once to warm this process's caches (the signing keyring, content
    types), then twice measured; the count does not depend on load.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    counts: dict[str, Any] = {}
    for name, scenario in scenarios.items():
        runs = []
        for _ in range(3):
            headers, body = prepare(scenario["kind"])
            send = getattr(client, scenario["method"].lower())
            kwargs: dict[str, Any] = {"headers": headers}
            if body:
                kwargs.update(data=body, content_type="application/json")
            with CaptureQueriesContext(connection) as captured:
                response = send(scenario["path"], **kwargs)
            runs.append(
                {
                    "status": response.status_code,
                    "queries": len(captured.captured_queries),
                    "sql": [query["sql"][:300] for query in captured.captured_queries],
                }
            )
        counts[name] = {
            "first": runs[0]["queries"],
            "queries": runs[-1]["queries"],
            "status": runs[-1]["status"],
            "sql": runs[-1]["sql"],
        }
    return counts
