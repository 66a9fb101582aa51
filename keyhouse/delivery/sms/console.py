"""Print text messages instead of sending them: the embedded default, for development.

Like Django's console email backend it writes to standard output, not to the log, so
that codes printed for a developer do not end up in a log pipeline.
"""

from __future__ import annotations

import sys
import threading
import uuid
from typing import TextIO

from keyhouse.delivery.sms.base import SmsBackend, SmsResult


class ConsoleBackend(SmsBackend):
    _lock = threading.Lock()

    def __init__(self, *, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, *, to: str, body: str) -> SmsResult:
        message_id = f"console-{uuid.uuid4().hex}"
        with self._lock:
            self.stream.write(f"SMS to {to} ({message_id})\n{body}\n{'-' * 79}\n")
            self.stream.flush()
        return SmsResult(message_id=message_id)
