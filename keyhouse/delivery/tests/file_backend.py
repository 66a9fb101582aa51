"""An SMS backend for tests that run a worker in another process.

The in-memory outbox cannot be read across processes, and Twilio cannot be reached:
this backend appends each message as a JSON line to the file named by
KEYHOUSE_TEST_SMS_OUTBOX, and fails transiently, as a provider outage would, for the
numbers listed in KEYHOUSE_TEST_SMS_UNREACHABLE.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from keyhouse.delivery.sms.base import SmsBackend, SmsResult, SmsTransientError


class FileBackend(SmsBackend):
    def send(self, *, to: str, body: str) -> SmsResult:
        if to in os.environ.get("KEYHOUSE_TEST_SMS_UNREACHABLE", "").split(","):
            raise SmsTransientError("Service unavailable", code="20503")
        with Path(os.environ["KEYHOUSE_TEST_SMS_OUTBOX"]).open("a") as outbox:
            outbox.write(json.dumps({"to": to, "body": body}) + "\n")
        return SmsResult(message_id=f"SM{uuid.uuid4().hex}")
