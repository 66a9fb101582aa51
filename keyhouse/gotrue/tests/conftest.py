from __future__ import annotations

from keyhouse.delivery.tests.fake_twilio import twilio_api
from keyhouse.identities.tests.conftest import local_provider, oidc
from keyhouse.mfa.tests.conftest import clock, enrolled

__all__ = ["clock", "enrolled", "local_provider", "oidc", "twilio_api"]
