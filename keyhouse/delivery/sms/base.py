"""The interface of SMS backends and the errors they raise, like Django's email backends.

KEYHOUSE_SMS_BACKEND names the backend class by dotted path; it is read each time a
message is sent, so tests and the settings fixture can switch it. A backend sorts its
provider's failures into transient (worth sending again later) and permanent ones, and
the delivery task decides on that alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsResult:
    """What the provider answered to an accepted message: its id (a Twilio SID, say)."""

    message_id: str


class SmsError(Exception):
    """A provider refused or failed to take a message; ``code`` is the provider's own."""

    def __init__(self, message: str, *, code: int | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code is not None else self.message


class SmsTransientError(SmsError):
    """Sending again later may succeed: rate limited, provider down, no connection."""


class SmsPermanentError(SmsError):
    """Sending again will fail the same way: invalid or opted-out number, bad settings."""


class SmsBackend:
    """Send one text message. Subclasses raise SmsTransientError or SmsPermanentError."""

    @classmethod
    def settings_missing(cls) -> list[str]:
        """Name the settings this backend needs and lacks; a system check reports them."""
        return []

    def send(self, *, to: str, body: str) -> SmsResult:
        raise NotImplementedError


def sms_backend() -> SmsBackend:
    """Return an instance of the backend that KEYHOUSE_SMS_BACKEND names."""
    return import_string(settings.KEYHOUSE_SMS_BACKEND)()
