"""Keyhouse's own settings, with the changes the benchmark needs and nothing else.

Everything production-like (DEBUG, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL)
still comes from the environment, which bench/run.py sets. What this module changes:

- the URLconf adds the floor views of keyhouse_bench.urls after Keyhouse's own routes;
- rate limits and login throttling stay counted, as in production, but their limits are
  raised out of reach, so that the benchmark measures what a request costs instead of
  how many requests the limits let through. ``BENCH_RATE_LIMITS=off`` turns the
  per-action limits off entirely instead. A new limit setting belongs in
  the list below, or the bench will start measuring 429s;
- one-time codes live a day instead of 10 minutes, because the bench mints its pool of
  codes ahead of the measurements that use them (expiry is checked the same way);
- passkeys belong to the bench's host (the relying party 127.0.0.1, the issuer's host)
  and are used from one app page, an allowed CORS origin, as in production;
- the ``oidc`` scenario's OpenID provider, "bench", is the stand-in of
  keyhouse_bench/provider.py at the address bench/run.py gives in BENCH_OIDC_ISSUER;

Mail: no measured request sends any, and codes are minted with ``code_issue`` alone
(nothing is queued), so bench/run.py points EMAIL_URL at an SMTP port where nothing
listens, which also satisfies the deploy check that gunicorn runs.
"""

from __future__ import annotations

import os
import re

from config import settings as _config
from config.settings import *  # noqa: F403

ROOT_URLCONF = "keyhouse_bench.urls"


def _raised(rate: str) -> str:
    """Keep a rule's period and key ("30/m/ip"), with a count nothing reaches."""
    return re.sub(r"^\s*\d+", "1000000000", rate)


# Per-action limits ("30/m/ip,10/m/target").
if os.environ.get("BENCH_RATE_LIMITS", "raise") == "off":
    KEYHOUSE_RATE_LIMITS = dict.fromkeys(_config.KEYHOUSE_RATE_LIMITS, "")
else:
    KEYHOUSE_RATE_LIMITS = {
        action: ",".join(_raised(rule) for rule in spec.split(",") if rule.strip())
        for action, spec in _config.KEYHOUSE_RATE_LIMITS.items()
    }

# Single rates ("5/15m"): failed sign-ins and code requests.
KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP = _raised(_config.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP)
KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT = _raised(_config.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT)
KEYHOUSE_CODE_RATE_PER_TARGET = _raised(_config.KEYHOUSE_CODE_RATE_PER_TARGET)
KEYHOUSE_CODE_RATE_PER_IP = _raised(_config.KEYHOUSE_CODE_RATE_PER_IP)

KEYHOUSE_CODE_TTL = 24 * 3600

# The page that asks for a passkey (the software authenticator's clientDataJSON names it).
BENCH_APP_ORIGIN = "http://127.0.0.1:3000"
CORS_ALLOWED_ORIGINS = [*_config.CORS_ALLOWED_ORIGINS, BENCH_APP_ORIGIN]
KEYHOUSE_WEBAUTHN_RP_ID = "127.0.0.1"
KEYHOUSE_WEBAUTHN_ORIGINS = [BENCH_APP_ORIGIN]

# The provider's name is in the ``oidc`` scenario's path (bench/run.py).
if os.environ.get("BENCH_OIDC_ISSUER"):
    KEYHOUSE_OIDC_PROVIDERS = {
        **_config.KEYHOUSE_OIDC_PROVIDERS,
        "bench": {
            "issuer": os.environ["BENCH_OIDC_ISSUER"],
            "client_id": "keyhouse-bench-app",
            "nonce_required": True,
        },
    }
