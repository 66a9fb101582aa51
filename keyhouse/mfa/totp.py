"""TOTP (RFC 6238) through pyotp, and the QR code that carries a seed to an app. Pure.

Codes have 6 digits and a 30-second period, the values every authenticator app uses
by default (Google Authenticator ignores others). A code is checked against the
current time-step and one step either side (RFC 6238 section 5.2), for clocks that
drift and codes typed as the step turns.
"""

from __future__ import annotations

import hmac
import io
from datetime import datetime

import pyotp
import segno

DIGITS = 6
PERIOD = 30
TOLERANCE = 1  # steps either side of the current one
SECRET_LENGTH = 32  # base32 characters: 160 bits, the HMAC-SHA1 key length (RFC 4226)


def secret_generate() -> str:
    return pyotp.random_base32(length=SECRET_LENGTH)


def time_step(at: datetime) -> int:
    return int(at.timestamp()) // PERIOD


def provisioning_uri(*, secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an app reads from the QR code (Key URI Format)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """A standalone SVG document showing ``uri`` as a QR code."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, xmldecl=False)
    return buffer.getvalue().decode()


def matching_steps(*, secret: str, code: str, at: datetime) -> list[int]:
    """The time-steps around ``at`` whose code is ``code``, latest first; compared in
    constant time."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = time_step(at)
    steps = range(current + TOLERANCE, current - TOLERANCE - 1, -1)
    given = code.encode()
    return [step for step in steps if hmac.compare_digest(totp.generate_otp(step).encode(), given)]
