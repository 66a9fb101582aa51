"""Keep text messages in ``outbox`` instead of sending them, for tests.

Like ``django.core.mail.outbox``: the ``sms_outbox`` fixture of
keyhouse.delivery.testing switches to this backend and empties the list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from keyhouse.delivery.sms.base import SmsBackend, SmsResult


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    message_id: str


outbox: list[SmsMessage] = []


class MemoryBackend(SmsBackend):
    def send(self, *, to: str, body: str) -> SmsResult:
        message = SmsMessage(to=to, body=body, message_id=f"memory-{uuid.uuid4().hex}")
        outbox.append(message)
        return SmsResult(message_id=message.message_id)
