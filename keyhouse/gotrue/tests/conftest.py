from __future__ import annotations

from keyhouse.delivery.tests.fake_twilio import twilio_api
from keyhouse.mfa.tests.conftest import clock, enrolled

__all__ = ["clock", "enrolled", "twilio_api"]
