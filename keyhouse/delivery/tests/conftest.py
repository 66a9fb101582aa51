from __future__ import annotations

from keyhouse.delivery.testing import sms_outbox
from keyhouse.delivery.tests.fake_twilio import twilio_api

__all__ = ["sms_outbox", "twilio_api"]
