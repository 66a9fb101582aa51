"""The GoTrue API under /auth/v1/, request by request, with real codes by SMTP and SMS."""

from __future__ import annotations

import time
from http import HTTPStatus

import jwt
import pyotp
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import CLIENT, PASSWORD
from keyhouse.mfa.models import MfaChallenge
from keyhouse.mfa.tests.conftest import STEP
from keyhouse.mfa.tests.conftest import enrol as native_enrol
from keyhouse.testing import code_in_mail, code_in_sms
from keyhouse.testing import token_claims as claims_of
from keyhouse.tokens import keys
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import session_start, signing_key_rotate
from keyhouse.tokens.tests.test_keys import rotated_elsewhere
from keyhouse.users.models import User
from keyhouse.users.services import user_create

API_VERSION = {"HTTP_X_SUPABASE_API_VERSION": "2024-01-01"}
NEW_PASSWORD = "a brand new passphrase"

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, path, body, **extra):
    return client.post(f"/auth/v1/{path}", body, format="json", **API_VERSION, **extra)


def sign_in(client, email="ada@example.com", password=PASSWORD):
    return post(client, "token?grant_type=password", {"email": email, "password": password})


def bearer(client, session):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access_token']}")
    return client


def test_password_grant_answers_a_gotrue_session_with_gotrue_claims(api_client, verified_user):
    response = sign_in(api_client)

    assert response.status_code == HTTPStatus.OK
    assert response["X-Supabase-Api-Version"] == "2024-01-01"
    session = response.json()
    assert session["token_type"] == "bearer"
    assert session["expires_in"] == 900
    assert session["user"]["id"] == str(verified_user.pk)
    assert session["user"]["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert [i["provider"] for i in session["user"]["identities"]] == ["email"]
    claims = claims_of(session["access_token"])
    assert claims["session_id"] == claims["sid"]
    assert claims["role"] == "authenticated"
    assert claims["is_anonymous"] is False
    assert claims["aal"] == "aal1"
    assert [entry["method"] for entry in claims["amr"]] == ["password"]


def test_wrong_password_is_a_gotrue_error(api_client, verified_user):
    response = sign_in(api_client, password="not the password")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["X-Supabase-Api-Version"] == "2024-01-01"
    assert response.json()["code"] == "invalid_credentials"
    assert response.json()["msg"]


def test_signup_answers_the_same_for_a_registered_address(api_client, smtp_mailer, verified_user):
    body = {"email": "ada@example.com", "password": NEW_PASSWORD, "data": {}}
    known = post(api_client, "signup", body).json()
    fresh = post(api_client, "signup", {**body, "email": "grace@example.com"}).json()

    assert set(known) == set(fresh)
    assert known["identities"] == fresh["identities"] == []
    assert "access_token" not in fresh


def test_weak_password_names_gotrue_reasons(api_client):
    response = post(api_client, "signup", {"email": "grace@example.com", "password": "short"})

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["code"] == "weak_password"
    assert response.json()["weak_password"]["reasons"] == ["length"]


def test_signup_code_verifies_and_signs_in(api_client, smtp_mailer):
    post(api_client, "signup", {"email": "grace@example.com", "password": NEW_PASSWORD})
    code = code_in_mail(smtp_mailer.messages[-1])

    response = post(
        api_client, "verify", {"type": "email", "email": "grace@example.com", "token": code}
    )

    assert response.status_code == HTTPStatus.OK
    assert response.json()["user"]["email_confirmed_at"] is not None
    assert sign_in(api_client, "grace@example.com", NEW_PASSWORD).status_code == HTTPStatus.OK


def test_a_wrong_code_is_otp_expired(api_client, smtp_mailer, verified_user):
    post(api_client, "otp", {"email": "ada@example.com"})

    response = post(
        api_client, "verify", {"type": "email", "email": "ada@example.com", "token": "000000"}
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "otp_expired"


def test_email_otp_signs_in_an_account_and_creates_none(api_client, smtp_mailer, verified_user):
    assert post(api_client, "otp", {"email": "nobody@example.com"}).json() == {}
    assert post(api_client, "otp", {"email": "ada@example.com"}).json() == {}

    assert len(smtp_mailer.messages) == 1
    code = code_in_mail(smtp_mailer.messages[0])
    response = post(
        api_client, "verify", {"type": "email", "email": "ada@example.com", "token": code}
    )
    assert response.status_code == HTTPStatus.OK
    assert [e["method"] for e in claims_of(response.json()["access_token"])["amr"]] == ["otp"]


def test_code_send_limits_say_which_channel(api_client, smtp_mailer, verified_user):
    post(api_client, "otp", {"email": "ada@example.com"})

    response = post(api_client, "otp", {"email": "ada@example.com"})

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["code"] == "over_email_send_rate_limit"
    assert int(response["Retry-After"]) > 0


def test_sms_otp_signs_in_and_shows_a_phone_identity(api_client, sms_outbox):
    post(api_client, "otp", {"phone": "+14155550101"})
    code = sms_outbox[-1].body.split()[0]

    response = post(api_client, "verify", {"type": "sms", "phone": "+14155550101", "token": code})

    assert response.status_code == HTTPStatus.OK
    user = response.json()["user"]
    assert user["phone"] == "14155550101"
    assert user["app_metadata"] == {"provider": "phone", "providers": ["phone"]}


def test_refresh_rotates_and_a_replay_ends_the_session(api_client, verified_user, settings):
    settings.KEYHOUSE_REFRESH_GRACE_PERIOD = 0
    first = sign_in(api_client).json()
    body = {"refresh_token": first["refresh_token"]}

    second = post(api_client, "token?grant_type=refresh_token", body)
    replay = post(api_client, "token?grant_type=refresh_token", body)

    assert second.status_code == HTTPStatus.OK
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert replay.json()["code"] == "refresh_token_already_used"
    after = post(
        api_client,
        "token?grant_type=refresh_token",
        {"refresh_token": second.json()["refresh_token"]},
    )
    assert after.json()["code"] == "session_not_found"


def test_recovery_code_signs_in_and_the_session_sets_a_password(
    api_client, smtp_mailer, verified_user
):
    post(api_client, "recover", {"email": "ada@example.com"})
    code = code_in_mail(smtp_mailer.messages[-1])
    session = post(
        api_client, "verify", {"type": "recovery", "email": "ada@example.com", "token": code}
    ).json()

    response = bearer(api_client, session).put(
        "/auth/v1/user", {"password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == HTTPStatus.OK
    api_client.credentials()
    assert sign_in(api_client, password=NEW_PASSWORD).status_code == HTTPStatus.OK


def test_user_update_merges_metadata(auth_client, tokens):
    auth_client.put("/auth/v1/user", {"data": {"theme": "dark", "plan": "pro"}}, format="json")
    response = auth_client.put("/auth/v1/user", {"data": {"plan": None}}, format="json")

    assert response.json()["user_metadata"] == {"display_name": "Ada", "theme": "dark"}


# A contact change: the code goes to the new address or number, the session says whose.

CHANGES = {
    "email": ("email_change", "new@example.org", "new@example.org"),
    "phone": ("phone_change", "+14155550123", "14155550123"),
}


def session_client(user):
    client = APIClient()
    pair = session_start(user=user, amr=["pwd"], client=CLIENT)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    return client


def last_code(field, smtp_mailer, sms_outbox):
    return (
        code_in_mail(smtp_mailer.messages[-1]) if field == "email" else code_in_sms(sms_outbox[-1])
    )


@pytest.mark.parametrize("field", ["email", "phone"])
def test_a_change_code_confirms_the_change_of_the_session_that_asked(
    api_client, auth_client, tokens, smtp_mailer, sms_outbox, field
):
    kind, target, shown = CHANGES[field]
    auth_client.put("/auth/v1/user", {field: target}, format="json")
    body = {"type": kind, field: target, "token": last_code(field, smtp_mailer, sms_outbox)}

    anonymous = post(api_client, "verify", body)
    confirmed = post(auth_client, "verify", body)

    assert anonymous.status_code == HTTPStatus.UNAUTHORIZED
    assert anonymous.json()["code"] == "no_authorization"
    assert confirmed.status_code == HTTPStatus.OK, confirmed.json()
    assert confirmed.json()["user"][field] == shown


@pytest.mark.parametrize("field", ["email", "phone"])
def test_the_newest_code_for_an_address_confirms_no_other_accounts_change(
    api_client, auth_client, tokens, smtp_mailer, sms_outbox, settings, field
):
    settings.KEYHOUSE_CODE_RESEND_COOLDOWN = 0
    kind, target, _shown = CHANGES[field]
    other = user_create(email="eve@example.com", password=PASSWORD, display_name="Eve")
    auth_client.put("/auth/v1/user", {field: target}, format="json")
    # Another account asks for the same address: its code replaces the first one.
    session_client(other).put("/auth/v1/user", {field: target}, format="json")
    body = {"type": kind, field: target, "token": last_code(field, smtp_mailer, sms_outbox)}

    anonymous = post(api_client, "verify", body)
    as_first = post(auth_client, "verify", body)

    assert anonymous.json()["code"] == "no_authorization"
    assert as_first.status_code == HTTPStatus.FORBIDDEN
    assert as_first.json()["code"] == "otp_expired"
    assert not User.objects.filter(**{field: target}).exists()


def test_logout_scopes(api_client, verified_user):
    sessions = [sign_in(api_client).json() for _ in range(3)]

    others = bearer(api_client, sessions[0]).post("/auth/v1/logout?scope=others")
    assert others.status_code == HTTPStatus.NO_CONTENT
    live = LoginSession.objects.filter(revoked_at__isnull=True)
    assert [str(s.pk) for s in live] == [claims_of(sessions[0]["access_token"])["sid"]]

    local = api_client.post("/auth/v1/logout?scope=local")
    assert local.status_code == HTTPStatus.NO_CONTENT
    again = api_client.get("/auth/v1/user")
    assert again.status_code == HTTPStatus.FORBIDDEN
    assert again.json()["code"] == "session_not_found"


def test_jwks_serves_rs256_and_es256_keys_only(api_client, settings):
    signing_key_rotate(algorithm="EdDSA", immediately=True)
    signing_key_rotate(algorithm="ES256", immediately=True)
    keys.keyring_clear()

    published = api_client.get("/.well-known/jwks.json").json()["keys"]
    served = api_client.get("/auth/v1/.well-known/jwks.json").json()["keys"]

    assert {key["alg"] for key in published} == {"RS256", "EdDSA", "ES256"}
    assert {key["alg"] for key in served} == {"RS256", "ES256"}


def test_settings_and_unknown_paths(api_client):
    settings_body = api_client.get("/auth/v1/settings").json()
    missing = api_client.get("/auth/v1/sso")

    assert settings_body["external"]["email"] is True
    assert missing.status_code == HTTPStatus.NOT_FOUND
    assert missing.json()["code"] == "not_found"
    assert missing["X-Supabase-Api-Version"] == "2024-01-01"


def test_cors_preflight_grants_the_supabase_headers(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    response = api_client.options(
        "/auth/v1/token",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="apikey,authorization,content-type,x-client-info,x-supabase-api-version",
    )

    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "x-supabase-api-version" in response["Access-Control-Allow-Headers"]


def test_the_sign_in_limit_counts_each_request_once(
    api_client, verified_user, settings, window_start
):
    settings.KEYHOUSE_RATE_LIMITS = {**settings.KEYHOUSE_RATE_LIMITS, "login": "2/m/ip"}

    answers = [sign_in(api_client).status_code for _ in range(3)]

    assert answers == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]
    limited = sign_in(api_client)
    assert limited.json()["code"] == "over_request_rate_limit"
    assert int(limited["Retry-After"]) > 0


def test_reauthenticate_mails_a_nonce_for_the_password_change(auth_client, tokens, smtp_mailer):
    assert auth_client.get("/auth/v1/reauthenticate").json() == {}
    nonce = code_in_mail(smtp_mailer.messages[-1])
    body = {"password": NEW_PASSWORD, "nonce": "000000"}

    wrong = auth_client.put("/auth/v1/user", body, format="json")
    right = auth_client.put("/auth/v1/user", {**body, "nonce": nonce}, format="json")

    assert wrong.json()["code"] == "otp_expired"
    assert right.status_code == HTTPStatus.OK
    tokens.user.refresh_from_db()
    assert tokens.user.check_password(NEW_PASSWORD)


def enrol(client):
    factor = client.post("/auth/v1/factors", {"factor_type": "totp"}, format="json").json()
    challenge = client.post(f"/auth/v1/factors/{factor['id']}/challenge").json()
    return factor, challenge


def test_mfa_verify_raises_the_session_and_retires_its_refresh_token(
    api_client, verified_user, settings
):
    settings.KEYHOUSE_REFRESH_GRACE_PERIOD = 0
    first = sign_in(api_client).json()
    factor, challenge = enrol(bearer(api_client, first))
    code = pyotp.TOTP(factor["totp"]["secret"]).now()

    verified = api_client.post(
        f"/auth/v1/factors/{factor['id']}/verify",
        {"challenge_id": challenge["id"], "code": code},
        format="json",
    ).json()

    assert claims_of(verified["access_token"])["aal"] == "aal2"
    assert verified["user"]["factors"][0]["status"] == "verified"
    api_client.credentials()
    old = post(
        api_client, "token?grant_type=refresh_token", {"refresh_token": first["refresh_token"]}
    )
    assert old.json()["code"] == "refresh_token_already_used"


def test_the_first_factor_comes_with_recovery_codes_that_sign_in(
    api_client, verified_user, smtp_mailer
):
    client = bearer(api_client, sign_in(api_client).json())
    factor, challenge = enrol(client)
    totp = pyotp.TOTP(factor["totp"]["secret"])

    first = client.post(
        f"/auth/v1/factors/{factor['id']}/verify",
        {"challenge_id": challenge["id"], "code": totp.now()},
        format="json",
    ).json()
    another, challenge = enrol(bearer(api_client, first))
    second = api_client.post(
        f"/auth/v1/factors/{another['id']}/verify",
        {"challenge_id": challenge["id"], "code": pyotp.TOTP(another["totp"]["secret"]).now()},
        format="json",
    ).json()

    assert len(first["recovery_codes"]) == 10
    assert "recovery_codes" not in second
    api_client.credentials()
    login = {"email": "ada@example.com", "password": PASSWORD}
    pending = api_client.post("/api/v1/auth/login", login, format="json").json()
    signed_in = api_client.post(
        "/api/v1/auth/mfa/verify",
        {"mfa_token": pending["mfa_token"], "recovery_code": first["recovery_codes"][0]},
        format="json",
    )
    assert signed_in.status_code == HTTPStatus.OK, signed_in.json()


def test_a_challenge_binds_its_factor_and_session(api_client, verified_user):
    first, second = sign_in(api_client).json(), sign_in(api_client).json()
    factor, challenge = enrol(bearer(api_client, first))
    code = pyotp.TOTP(factor["totp"]["secret"]).now()
    body = {"challenge_id": challenge["id"], "code": code}

    forged = api_client.post(
        f"/auth/v1/factors/{factor['id']}/verify",
        {**body, "challenge_id": challenge["id"] + "x"},
        format="json",
    )
    elsewhere = bearer(api_client, second).post(
        f"/auth/v1/factors/{factor['id']}/verify", body, format="json"
    )

    assert forged.json()["code"] == "mfa_challenge_expired"
    assert elsewhere.json()["code"] == "mfa_challenge_expired"
    assert LoginSession.objects.filter(aal="aal2").count() == 0


def test_a_policy_that_requires_a_factor_lets_the_session_enrol_one(
    api_client, verified_user, settings
):
    settings.KEYHOUSE_MFA_POLICY = "required"
    client = bearer(api_client, sign_in(api_client).json())

    assert client.get("/auth/v1/user").status_code == HTTPStatus.OK
    factor, challenge = enrol(client)
    updated = client.put("/auth/v1/user", {"data": {"a": 1}}, format="json")
    code = pyotp.TOTP(factor["totp"]["secret"]).now()
    verified = client.post(
        f"/auth/v1/factors/{factor['id']}/verify",
        {"challenge_id": challenge["id"], "code": code},
        format="json",
    )

    assert challenge["type"] == "totp"
    assert updated.status_code == HTTPStatus.OK
    assert verified.status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "body",
    [
        {"password": NEW_PASSWORD, "current_password": PASSWORD},
        {"email": "new@example.org"},
        {"phone": "+14155550123"},
    ],
)
def test_a_policy_that_requires_a_factor_refuses_changes_before_one_is_enrolled(
    api_client, verified_user, smtp_mailer, sms_outbox, settings, body
):
    settings.KEYHOUSE_MFA_POLICY = "required"
    client = bearer(api_client, sign_in(api_client).json())

    response = client.put("/auth/v1/user", body, format="json")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "insufficient_aal"
    assert User.objects.get().check_password(PASSWORD)
    assert not smtp_mailer.messages
    assert not sms_outbox


def test_a_policy_that_requires_a_factor_refuses_confirming_a_change_before_one(
    api_client, verified_user, smtp_mailer, settings
):
    client = bearer(api_client, sign_in(api_client).json())
    client.put("/auth/v1/user", {"email": "new@example.org"}, format="json")
    settings.KEYHOUSE_MFA_POLICY = "required"
    body = {"type": "email_change", "email": "new@example.org"}

    response = post(client, "verify", {**body, "token": code_in_mail(smtp_mailer.messages[-1])})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "insufficient_aal"
    assert User.objects.get().email == "ada@example.com"


# An account with an authenticator app: sign-in answers an MFA-pending session.


def pending_sign_in(client):
    response = sign_in(client)
    assert response.status_code == HTTPStatus.OK, response.json()
    return response.json()


def answer(client, factor_id, code):
    challenge = client.post(f"/auth/v1/factors/{factor_id}/challenge")
    assert challenge.status_code == HTTPStatus.OK, challenge.json()
    return client.post(
        f"/auth/v1/factors/{factor_id}/verify",
        {"challenge_id": challenge.json()["id"], "code": code},
        format="json",
    )


def test_a_second_factor_sign_in_answers_an_mfa_pending_session(
    api_client, enrolled, verified_user, settings
):
    sessions = LoginSession.objects.count()

    pending = pending_sign_in(api_client)

    challenge = MfaChallenge.objects.get()
    claims = claims_of(pending["access_token"])
    assert jwt.get_unverified_header(pending["access_token"])["typ"] == "mfa-pending+jwt"
    assert claims["sub"] == str(verified_user.pk)
    assert claims["aal"] == "aal1"
    assert [entry["method"] for entry in claims["amr"]] == ["password"]
    assert claims["mfa_challenge"] == str(challenge.pk)
    assert claims["exp"] == int(challenge.expires_at.timestamp())
    assert claims["aud"] != settings.KEYHOUSE_JWT_AUDIENCE
    # A service that verifies Keyhouse's access tokens with the published keys refuses it.
    kid = jwt.get_unverified_header(pending["access_token"])["kid"]
    key = keys.keyring_current().verify_keys[kid]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            pending["access_token"],
            key.public_key,
            algorithms=[key.algorithm],
            audience=settings.KEYHOUSE_JWT_AUDIENCE,
        )
    assert "sid" not in claims
    assert "role" not in claims
    assert pending["expires_in"] == 300
    assert pending["token_type"] == "bearer"
    assert [f["status"] for f in pending["user"]["factors"]] == ["verified"]
    assert LoginSession.objects.count() == sessions


def test_the_mfa_pending_token_works_only_where_the_second_factor_is_answered(api_client, enrolled):
    pending = pending_sign_in(api_client)
    client = bearer(api_client, pending)

    assert client.get("/auth/v1/user").status_code == HTTPStatus.OK
    refused = [
        client.put("/auth/v1/user", {"data": {"a": 1}}, format="json"),
        client.post("/auth/v1/factors", {"factor_type": "totp"}, format="json"),
        client.delete(f"/auth/v1/factors/{enrolled.factor_id}"),
        client.get("/auth/v1/reauthenticate"),
    ]
    assert [(r.status_code, r.json()["code"]) for r in refused] == [
        (HTTPStatus.FORBIDDEN, "insufficient_aal")
    ] * 4
    me = client.get("/api/v1/me")
    assert me.status_code == HTTPStatus.UNAUTHORIZED
    assert me.json()["code"] == "token_invalid"
    client.credentials()
    refresh = post(
        client, "token?grant_type=refresh_token", {"refresh_token": pending["refresh_token"]}
    )
    assert refresh.status_code == HTTPStatus.BAD_REQUEST
    assert refresh.json()["code"] == "refresh_token_not_found"


def test_verify_answers_the_sign_in_challenge_once_with_an_aal2_session(
    api_client, enrolled, clock
):
    client = bearer(api_client, pending_sign_in(api_client))
    clock.shift(STEP)

    wrong = answer(client, enrolled.factor_id, enrolled.wrong_code(time.time()))
    verified = answer(client, enrolled.factor_id, enrolled.code(time.time()))

    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert wrong.json()["code"] == "mfa_verification_failed"
    assert wrong.json()["attempts_left"] == 4
    assert verified.status_code == HTTPStatus.OK, verified.json()
    session = verified.json()
    claims = claims_of(session["access_token"])
    assert claims["aal"] == "aal2"
    assert [entry["method"] for entry in claims["amr"]] == ["password", "otp", "totp"]
    assert LoginSession.objects.get(pk=claims["sid"]).aal == "aal2"
    assert MfaChallenge.objects.get().used_at is not None
    assert AuditEvent.objects.filter(type=AuditEvent.Type.MFA_CHALLENGE_SUCCEEDED).count() == 1
    # The pending token is spent with its challenge, even with a fresh code.
    clock.shift(STEP)
    again = client.post(
        f"/auth/v1/factors/{enrolled.factor_id}/verify",
        {"challenge_id": "x", "code": enrolled.code(time.time())},
        format="json",
    )
    assert (again.status_code, again.json()["code"]) == (HTTPStatus.FORBIDDEN, "session_not_found")
    assert client.get("/auth/v1/user").json()["code"] == "session_not_found"
    assert bearer(client, session).get("/api/v1/me").status_code == HTTPStatus.OK


def test_logout_gives_up_the_pending_sign_in_and_ends_no_session(api_client, enrolled, tokens):
    client = bearer(api_client, pending_sign_in(api_client))

    response = client.post("/auth/v1/logout?scope=global")

    assert response.status_code == HTTPStatus.NO_CONTENT
    challenge = MfaChallenge.objects.get()
    assert challenge.used_at is not None
    logout = AuditEvent.objects.get(type=AuditEvent.Type.LOGOUT)
    assert logout.detail == {"challenge": challenge.pk}
    assert client.get("/auth/v1/user").json()["code"] == "session_not_found"
    assert LoginSession.objects.get(pk=tokens.session.pk).revoked_at is None


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_code_sign_in_of_a_second_factor_account_is_pending(
    api_client, enrolled, verified_user, smtp_mailer, sms_outbox, clock, channel
):
    verified_user.phone, verified_user.phone_verified_at = "+14155550101", timezone.now()
    verified_user.save(update_fields=["phone", "phone_verified_at"])
    if channel == "email":
        post(api_client, "otp", {"email": "ada@example.com"})
        body = {"type": "email", "email": "ada@example.com"}
        code = code_in_mail(smtp_mailer.messages[-1])
    else:
        post(api_client, "otp", {"phone": "+14155550101"})
        body = {"type": "sms", "phone": "+14155550101"}
        code = sms_outbox[-1].body.split()[0]

    pending = post(api_client, "verify", {**body, "token": code}).json()
    clock.shift(STEP)
    verified = answer(bearer(api_client, pending), enrolled.factor_id, enrolled.code(time.time()))

    assert claims_of(pending["access_token"])["aal"] == "aal1"
    assert "mfa_challenge" in claims_of(pending["access_token"])
    assert claims_of(verified.json()["access_token"])["aal"] == "aal2"
    assert LoginSession.objects.filter(aal="aal2").count() == 2  # the enrolment's, and this


def test_a_step_up_takes_only_the_named_factors_code(api_client, enrolled, tokens, clock):
    clock.shift(STEP)
    other = native_enrol(
        bearer(api_client, {"access_token": tokens.access_token}), now=time.time(), name="Tablet"
    )
    aal1 = session_start(user=tokens.user, amr=["pwd"], client=CLIENT)
    client = bearer(api_client, {"access_token": aal1.access_token})
    clock.shift(STEP)

    wrong = answer(client, enrolled.factor_id, other.code(time.time()))
    right = answer(client, enrolled.factor_id, enrolled.code(time.time()))

    assert wrong.json()["code"] == "mfa_verification_failed"
    assert right.status_code == HTTPStatus.OK
    assert claims_of(right.json()["access_token"])["aal"] == "aal2"


def test_a_pending_token_is_refused_once_its_key_is_withdrawn_elsewhere(
    api_client, enrolled, settings, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_KEYRING_TTL = 3600
    client = bearer(api_client, pending_sign_in(api_client))
    assert client.get("/auth/v1/user").status_code == HTTPStatus.OK

    rotated_elsewhere(django_capture_on_commit_callbacks, "--withdraw-old")

    refused = client.get("/auth/v1/user")
    assert (refused.status_code, refused.json()["code"]) == (HTTPStatus.FORBIDDEN, "bad_jwt")
