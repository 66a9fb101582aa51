from __future__ import annotations

from keyhouse.delivery.tests.fake_twilio import twilio_api

__all__ = ["twilio_api"]
