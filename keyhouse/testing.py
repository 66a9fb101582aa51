"""Helpers for the test suites of every app."""

from __future__ import annotations

from django.test.utils import CaptureQueriesContext

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def data_queries(captured: CaptureQueriesContext) -> list[str]:
    """The statements that read or write data, leaving out transaction control."""
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].upper().startswith(TRANSACTION_CONTROL)
    ]
