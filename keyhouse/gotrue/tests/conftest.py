from __future__ import annotations

from keyhouse.delivery.tests.fake_twilio import twilio_api
from keyhouse.identities.tests.conftest import local_provider, oidc

__all__ = ["local_provider", "oidc", "twilio_api"]
