from __future__ import annotations

import smtplib

import pytest
from django.template import TemplateDoesNotExist

from keyhouse.delivery.sms.base import SmsPermanentError, SmsTransientError
from keyhouse.delivery.tasks import is_transient


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPDataError(451, b"Local error in processing"),
        smtplib.SMTPAuthenticationError(454, b"Temporary authentication failure"),
        smtplib.SMTPRecipientsRefused({"a@example.com": (451, b"later"), "b@x": (452, b"full")}),
        SmsTransientError("Too Many Requests", code=20429),
    ],
)
def test_connection_trouble_and_4xx_replies_are_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPDataError(554, b"Message rejected"),
        smtplib.SMTPSenderRefused(550, b"Sender refused", "no-reply@localhost"),
        smtplib.SMTPAuthenticationError(535, b"Authentication credentials invalid"),
        smtplib.SMTPRecipientsRefused({"a@example.com": (451, b"later"), "b@x": (550, b"no")}),
        smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server."),
        ValueError("Invalid address"),
        TemplateDoesNotExist("delivery/missing.txt"),
        SmsPermanentError("Attempt to send to unsubscribed recipient", code=21610),
    ],
)
def test_5xx_replies_and_other_errors_are_permanent(exc):
    assert not is_transient(exc)
