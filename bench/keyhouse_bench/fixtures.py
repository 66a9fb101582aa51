"""Fixtures for the Keyhouse side of the benchmark, served to bench/run.py (see bench/agent.py).

Users are bulk-created with one password hash computed once and reused for every row,
so a million of them take seconds (PostgreSQL builds the rows itself). Refresh tokens,
codes, sign-in challenges, passkeys and provider identities are made through Keyhouse's
own services (``session_start``, ``code_issue``, ``signin_complete``, the passkey
ceremonies, ``identity_sign_in``), so each is exactly what a real sign-in or sign-up
would have made.
"""

from __future__ import annotations

import django

django.setup()

import importlib.metadata  # noqa: E402 - after django.setup()
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

import jwt as pyjwt  # noqa: E402
import pyotp  # noqa: E402
from agent import count_queries, serve, write_lines  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import (  # noqa: E402
    check_password,
    identify_hasher,
    make_password,
)
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from keyhouse.accounts.models import PendingSignup  # noqa: E402
from keyhouse.codes.models import Purpose  # noqa: E402
from keyhouse.codes.services import code_issue  # noqa: E402
from keyhouse.core.crypto import encrypt  # noqa: E402
from keyhouse.core.http import ClientInfo  # noqa: E402
from keyhouse.identities.clients import Profile  # noqa: E402
from keyhouse.identities.services import identity_sign_in  # noqa: E402
from keyhouse.mfa import totp  # noqa: E402
from keyhouse.mfa.models import TotpFactor  # noqa: E402
from keyhouse.mfa.services.challenges import signin_complete  # noqa: E402
from keyhouse.mfa.services.factors import SECRET_PURPOSE  # noqa: E402
from keyhouse.mfa.services.passkeys import (  # noqa: E402
    passkey_authentication_begin,
    passkey_register,
    passkey_registration_begin,
)
from keyhouse.mfa.testing import SoftAuthenticator  # noqa: E402
from keyhouse.tokens import jwt, keys  # noqa: E402
from keyhouse.tokens.models import LoginSession, RefreshToken  # noqa: E402
from keyhouse.tokens.services import session_start  # noqa: E402
from keyhouse.users.models import User  # noqa: E402
from keyhouse_bench.provider import Issuer  # noqa: E402

CLIENT = ClientInfo(ip="127.0.0.1", user_agent="keyhouse-bench")
PACKAGES = ("django", "djangorestframework", "gunicorn", "pyjwt", "cryptography", "argon2-cffi")
PACKAGES_DB = ("psycopg", "redis")
BATCH = 5000

_state: dict[str, Any] = {"password": None, "hash": None, "users": 0, "next_user": 0}
# Users with an authenticator app, all sharing one seed: a factor accepts one code a
# 30-second step (and the next step's code early), so each body needs its own factor.
MFA_USERS = 4000
_mfa: dict[str, Any] = {"secret": totp.secret_generate(), "factors": [], "last_step": {}}
# Users with a passkey, each held by one software authenticator. Bodies take the
# passkeys in turn, each with a counter one above its last: a passkey refuses a counter
# that does not grow, and with far more passkeys than requests in flight, a body reaches
# the server after the earlier ones of its passkey. 240 is a multiple of every wrk
# thread count up to 6, and of 8, so that all the bodies of a passkey go to one thread.
PASSKEY_USERS = 240
_passkeys: dict[str, Any] = {"authenticator": None, "next": 0}
# Users who signed up with the "bench" OpenID provider (bench settings), signing in
# again with a fresh ID token and nonce each.
OIDC_USERS = 500
OIDC_TOKEN_LIFETIME = 3600  # as Google's
_oidc: dict[str, Any] = {"issuer": None, "next": 0}


def email_of(index: int) -> str:
    return f"bench-{index:07d}@example.com"


def _password_hash(password: str) -> str:
    if _state["password"] != password:
        _state["password"], _state["hash"] = password, make_password(password)
    return _state["hash"]


def setup(*, users: int, password: str) -> dict[str, Any]:
    """Create ``users`` verified users bench-0000000@example.com... sharing one password."""
    hashed = _password_hash(password)
    now = timezone.now()
    table = User._meta.db_table
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table} (id, password, last_login, is_superuser, email, phone,
                    email_verified_at, phone_verified_at, display_name, is_active, is_staff,
                    date_joined)
                SELECT gen_random_uuid(), %s, NULL, false,
                    'bench-' || lpad(i::text, 7, '0') || '@example.com', NULL,
                    %s, NULL, 'Bench ' || i, true, false, %s
                FROM generate_series(0, %s - 1) AS i
                """,  # noqa: S608 - the table name is the model's own
                [hashed, now, now, users],
            )
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    else:
        for start in range(0, users, BATCH):
            User.objects.bulk_create(
                User(
                    email=email_of(i),
                    password=hashed,
                    email_verified_at=now,
                    display_name=f"Bench {i}",
                    date_joined=now,
                )
                for i in range(start, min(users, start + BATCH))
            )
    _state["users"] = User.objects.filter(email__startswith="bench-").count()
    return {"users": _state["users"]}


def _sample(count: int, seed: int) -> list[int]:
    """Indices of ``count`` users spread over the whole table, cycling when it is small."""
    rng = random.Random(seed)  # noqa: S311 - a spread, not a secret
    total = _state["users"]
    if count <= total:
        return rng.sample(range(total), count)
    indices: list[int] = []
    while len(indices) < count:
        cycle = list(range(total))
        rng.shuffle(cycle)
        indices.extend(cycle)
    return indices[:count]


def login_pool(*, path: str, count: int, password: str) -> int:
    """Write login bodies for ``count`` users spread over the table (used in a cycle)."""
    bodies = [
        json.dumps({"email": email_of(i), "password": password}) for i in _sample(count, seed=1)
    ]
    return write_lines(path, bodies)


def _users(count: int) -> list[User]:
    """The next ``count`` users, spread over the table, cycling."""
    emails = [email_of(i) for i in _sample(count, seed=_state["next_user"])]
    _state["next_user"] += 1
    by_email = {user.email: user for user in User.objects.filter(email__in=set(emails))}
    return [by_email[email] for email in emails]


def _refresh_bodies(count: int) -> list[str]:
    bodies = []
    for start in range(0, count, BATCH):
        users = _users(min(BATCH, count - start))
        with transaction.atomic():
            for user in users:
                pair = session_start(user=user, amr=[LoginSession.Method.PASSWORD], client=CLIENT)
                bodies.append(json.dumps({"refresh_token": pair.refresh_token}))
    return bodies


def mint_refresh(*, path: str, count: int) -> int:
    """Start ``count`` sessions and write their refresh tokens (each works once)."""
    return write_lines(path, _refresh_bodies(count))


def _verify_bodies(count: int) -> list[str]:
    hashed = _password_hash(_state["password"] or "bench password")
    tag = uuid.uuid4().hex[:8]
    bodies = []
    for start in range(0, count, BATCH):
        pending = []
        with transaction.atomic():
            for i in range(start, min(count, start + BATCH)):
                email = f"verify-{tag}-{i}@example.com"
                issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=email)
                pending.append(
                    PendingSignup(
                        email=email, password=hashed, display_name="Verify", code=issued.record
                    )
                )
                bodies.append(json.dumps({"email": email, "code": issued.code}))
            PendingSignup.objects.bulk_create(pending)
    return bodies


def mint_verify(*, path: str, count: int) -> int:
    """Keep ``count`` pending sign-ups waiting for their codes; write the codes."""
    return write_lines(path, _verify_bodies(count))


def _new_users(prefix: str, count: int) -> list[User]:
    """``count`` verified users <prefix>-0000000@example.com... with the bench password."""
    hashed = _password_hash(_state["password"] or "bench password")
    now = timezone.now()
    return User.objects.bulk_create(
        User(
            email=f"{prefix}-{i:07d}@example.com",
            password=hashed,
            email_verified_at=now,
            display_name=f"{prefix.title()} {i}",
            date_joined=now,
        )
        for i in range(count)
    )


def _mfa_factors() -> list[TotpFactor]:
    """Create the users with a confirmed authenticator app on first use."""
    if not _mfa["factors"]:
        users = _new_users("mfa", MFA_USERS)
        now = timezone.now()
        secret = encrypt(_mfa["secret"].encode(), purpose=SECRET_PURPOSE)
        _mfa["factors"] = TotpFactor.objects.bulk_create(
            TotpFactor(user=user, name="Bench app", secret=secret, confirmed_at=now)
            for user in users
        )
    return _mfa["factors"]


def _mfa_bodies(count: int) -> list[str]:
    """Answers to fresh sign-in challenges with a code of the current step, or the next."""
    factors = _mfa_factors()
    step = totp.time_step(timezone.now())
    last = _mfa["last_step"]
    chosen = [(f, step) for f in factors if last.get(f.pk, 0) < step]
    chosen += [(f, step + 1) for f in factors if last.get(f.pk, 0) == step]
    if len(chosen) < count:
        raise RuntimeError(f"{count} MFA answers asked, {len(chosen)} factors free this step")
    otp = pyotp.TOTP(_mfa["secret"], digits=totp.DIGITS, interval=totp.PERIOD)
    bodies = []
    with transaction.atomic():
        for factor, at_step in chosen[:count]:
            last[factor.pk] = at_step
            challenge = signin_complete(
                user=factor.user, amr=[LoginSession.Method.PASSWORD], client=CLIENT
            )
            bodies.append(
                json.dumps(
                    {
                        "mfa_token": challenge.token,
                        "factor_id": str(factor.pk),
                        "code": otp.generate_otp(at_step),
                    }
                )
            )
    return bodies


def mint_mfa(*, path: str, count: int) -> int:
    """Open ``count`` sign-in challenges and write their answers (each works once)."""
    return write_lines(path, _mfa_bodies(count))


# The owners' "passkey added" notices go nowhere: the bench measures no mail.
@override_settings(MAILERS={"default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}})
def _authenticator() -> SoftAuthenticator:
    """Register a passkey for each passkey user on first use, as a browser would: a
    fresh password session, the registration options, the authenticator's answer."""
    if _passkeys["authenticator"] is None:
        authenticator = SoftAuthenticator(origin=settings.KEYHOUSE_WEBAUTHN_ORIGINS[0])
        for user in _new_users("passkey", PASSKEY_USERS):
            session = session_start(
                user=user, amr=[LoginSession.Method.PASSWORD], client=CLIENT
            ).session
            options = passkey_registration_begin(user=user, session_id=session.pk)
            passkey_register(
                user=user,
                session_id=session.pk,
                credential=authenticator.create(options.options),
                name="Bench passkey",
                client=CLIENT,
            )
        _passkeys["authenticator"] = authenticator
    return _passkeys["authenticator"]


def _passkey_bodies(count: int) -> list[str]:
    """Fresh sign-in challenges, each with a passkey's assertion over it."""
    authenticator = _authenticator()
    credentials = authenticator.credentials
    bodies = []
    with transaction.atomic():
        for _ in range(count):
            credential = credentials[_passkeys["next"] % len(credentials)]
            _passkeys["next"] += 1
            issued = passkey_authentication_begin()
            answer = authenticator.get(issued.options, credential=credential)
            bodies.append(
                json.dumps({"challenge_id": str(issued.challenge_id), "credential": answer})
            )
    return bodies


def mint_passkey(*, path: str, count: int) -> int:
    """Open ``count`` passkey challenges and write their answers (each works once, within
    5 minutes)."""
    return write_lines(path, _passkey_bodies(count))


def _oidc_subject(index: int) -> str:
    return f"bench-{index:07d}"


def _oidc_issuer() -> Issuer:
    """Start the stand-in provider on first use, and sign its users up as their first
    sign-in with it would (``identity_sign_in``)."""
    if _oidc["issuer"] is None:
        issuer = Issuer(settings.KEYHOUSE_OIDC_PROVIDERS["bench"]["issuer"])
        issuer.start()
        for i in range(OIDC_USERS):
            profile = Profile(
                provider="bench",
                subject=_oidc_subject(i),
                email=f"oidc-{i:07d}@example.com",
                email_verified=True,
                name=f"Oidc {i}",
            )
            identity_sign_in(profile=profile, client=CLIENT)
        _oidc["issuer"] = issuer
    return _oidc["issuer"]


def _oidc_bodies(count: int) -> list[str]:
    """ID tokens of the provider's users in turn, as a platform SDK gets them: each with
    its own nonce (sent beside it, raw) and id."""
    issuer = _oidc_issuer()
    audience = settings.KEYHOUSE_OIDC_PROVIDERS["bench"]["client_id"]
    now = int(time.time())
    bodies = []
    for _ in range(count):
        index = _oidc["next"] % OIDC_USERS
        _oidc["next"] += 1
        nonce = secrets.token_urlsafe(16)
        id_token = issuer.id_token(
            {
                "aud": audience,
                "sub": _oidc_subject(index),
                "email": f"oidc-{index:07d}@example.com",
                "email_verified": True,
                "name": f"Oidc {index}",
                "iat": now,
                "exp": now + OIDC_TOKEN_LIFETIME,
                "nonce": nonce,
                "jti": uuid.uuid4().hex,
            }
        )
        bodies.append(json.dumps({"id_token": id_token, "nonce": nonce}))
    return bodies


def mint_oidc(*, path: str, count: int) -> int:
    """Write ``count`` ID tokens of known identities with their nonces."""
    return write_lines(path, _oidc_bodies(count))


def signing(*, count: int = 200, rounds: int = 5) -> dict[str, Any]:
    """What signing and verifying an access token costs with each algorithm Keyhouse
    offers: the claims of a real token, signed and verified by keyhouse.tokens.jwt, the
    median of ``rounds`` batches of ``count``."""
    claims = pyjwt.decode(access_token(), options={"verify_signature": False})
    found = {}
    for algorithm in keys.ALGORITHMS:
        private_key = keys.generate_private_key(algorithm)
        kid = keys.public_jwk(private_key)["kid"]
        signer = keys.Signer(kid, algorithm, private_key)
        verify_key = keys.VerifyKey(kid, algorithm, private_key.public_key())
        token = jwt.encode(claims, signer=signer)

        def sign(signer: keys.Signer = signer) -> None:
            jwt.encode(claims, signer=signer)

        def verify(token: str = token, verify_key: keys.VerifyKey = verify_key) -> None:
            jwt.decode(
                token,
                find_key=lambda _kid: verify_key,
                issuer=claims["iss"],
                audience=claims["aud"],
                leeway=0,
            )

        found[algorithm] = {
            "sign_us": _median_us(sign, count, rounds),
            "verify_us": _median_us(verify, count, rounds),
            "token_bytes": len(token),
        }
    return found


def _median_us(call: Any, count: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count):
            call()
        times.append((time.perf_counter() - started) / count)
    return round(statistics.median(times) * 1e6, 1)


def sessions_state() -> dict[str, int]:
    """Counts to find duplicated sessions with after a run under concurrency."""
    forked = (
        RefreshToken.objects.filter(rotated_at__isnull=True)
        .values("session_id")
        .annotate(live=Count("id"))
        .filter(live__gt=1)
        .count()
    )
    return {
        "sessions": LoginSession.objects.count(),
        "rotated": RefreshToken.objects.filter(rotated_at__isnull=False).count(),
        "forked_sessions": forked,
    }


def access_token() -> str:
    """A fresh access token of a bench user (they live 15 minutes)."""
    user = _users(1)[0]
    return session_start(user=user, amr=[LoginSession.Method.PASSWORD], client=CLIENT).access_token


def queries(*, scenarios: dict[str, dict[str, str]], password: str) -> dict[str, Any]:
    """Count the database queries of each scenario (see agent.count_queries)."""

    def prepare(kind: str) -> tuple[dict[str, str], str]:
        if kind == "bearer":
            return {"Authorization": f"Bearer {access_token()}"}, ""
        if kind == "refresh":
            return {}, _refresh_bodies(1)[0]
        if kind == "verify":
            return {}, _verify_bodies(1)[0]
        if kind == "mfa":
            return {}, _mfa_bodies(1)[0]
        if kind == "passkey":
            return {}, _passkey_bodies(1)[0]
        if kind == "oidc":
            return {}, _oidc_bodies(1)[0]
        if kind == "login":
            return {}, json.dumps({"email": email_of(0), "password": password})
        return {}, ""

    return count_queries(scenarios, prepare)


def hashing() -> dict[str, Any]:
    """The password hasher of new users, its parameters and the time of one check."""
    hashed = _password_hash(_state["password"] or "bench password")
    hasher = identify_hasher(hashed)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        check_password(_state["password"] or "bench password", hashed)
        times.append(time.perf_counter() - started)
    return {
        "algorithm": hasher.algorithm,
        "parameters": {
            key: value
            for key, value in hasher.decode(hashed).items()
            if key in {"iterations", "memory_cost", "time_cost", "parallelism"}
        },
        "check_ms": round(statistics.median(times) * 1000, 1),
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES + PACKAGES_DB:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    if connection.vendor == "sqlite":
        found["sqlite"] = sqlite3.sqlite_version
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            found["postgresql"] = cursor.fetchone()[0]
    return found


if __name__ == "__main__":
    serve(
        {
            "setup": setup,
            "login_pool": login_pool,
            "mint_refresh": mint_refresh,
            "mint_verify": mint_verify,
            "mint_mfa": mint_mfa,
            "mint_passkey": mint_passkey,
            "mint_oidc": mint_oidc,
            "signing": signing,
            "sessions_state": sessions_state,
            "access_token": access_token,
            "queries": queries,
            "versions": versions,
            "hashing": hashing,
        }
    )
