"""Passkeys through the API, driven by a software authenticator with real P-256 keys."""

from __future__ import annotations

import secrets
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import CLIENT, PASSWORD
from keyhouse.mfa.models import Passkey, PasskeyUserHandle, RecoveryCode
from keyhouse.mfa.testing import SoftAuthenticator, StoredCredential, b64url
from keyhouse.testing import at_once
from keyhouse.testing import bearer_client as bearer
from keyhouse.testing import token_claims as claims
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import TokenPair, session_start
from keyhouse.users.services import user_create

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "http://localhost:3000"


@pytest.fixture(autouse=True)
def relying_party(settings):
    settings.KEYHOUSE_WEBAUTHN_RP_ID = "localhost"
    settings.KEYHOUSE_WEBAUTHN_RP_NAME = "Keyhouse"
    settings.KEYHOUSE_WEBAUTHN_ORIGINS = [ORIGIN]


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


def register(client: APIClient, authenticator: SoftAuthenticator, **bend) -> dict:
    """Register a passkey as a browser would: options, create(), then the answer."""
    options = client.post("/api/v1/me/passkeys/options")
    assert options.status_code == HTTPStatus.OK, options.json()
    credential = authenticator.create(options.json()["options"], **bend)
    response = client.post(
        "/api/v1/me/passkeys", {"credential": credential, "name": "Laptop"}, format="json"
    )
    return {"status": response.status_code, **response.json()}


def sign_in_options() -> dict:
    response = APIClient().post("/api/v1/auth/passkey/options")
    assert response.status_code == HTTPStatus.OK, response.json()
    return response.json()


def passkey_sign_in(authenticator: SoftAuthenticator, **bend) -> tuple[int, dict]:
    options = sign_in_options()
    body = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.get(options["options"], **bend),
    }
    response = APIClient().post("/api/v1/auth/passkey/verify", body, format="json")
    return response.status_code, response.json()


@pytest.fixture
def registered(auth_client, authenticator) -> dict:
    answer = register(auth_client, authenticator)
    assert answer["status"] == HTTPStatus.CREATED, answer
    return answer


def test_registration_options_ask_for_a_passkey_and_exclude_the_users_own(
    auth_client, authenticator, verified_user
):
    register(auth_client, authenticator)
    response = auth_client.post("/api/v1/me/passkeys/options")
    assert response.status_code == HTTPStatus.OK
    assert response["Cache-Control"] == "no-store"
    options = response.json()["options"]
    assert options["rp"] == {"id": "localhost", "name": "Keyhouse"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert [item["id"] for item in options["excludeCredentials"]] == [
        authenticator.credentials[0].id
    ]
    # The user handle is opaque: neither the email nor the account's id.
    handle = PasskeyUserHandle.objects.get(user=verified_user).handle
    assert options["user"]["id"] == handle
    assert options["user"]["name"] == verified_user.email
    assert str(verified_user.pk) not in handle
    assert response.json()["expires_in"] == 300


def test_a_first_passkey_is_a_factor_that_brings_recovery_codes(
    registered, auth_client, tokens, verified_user
):
    assert registered["passkey"]["name"] == "Laptop"
    assert registered["passkey"]["transports"] == ["internal"]
    assert registered["passkey"]["backed_up"] is True
    assert len(registered["recovery_codes"]) == 10
    session = LoginSession.objects.get(pk=tokens.session.pk)
    assert (session.aal, session.amr) == ("aal2", ["pwd", "hwk", "user", "mfa"])
    listed = auth_client.get("/api/v1/me/passkeys").json()
    assert [passkey["id"] for passkey in listed] == [registered["passkey"]["id"]]
    assert auth_client.get("/api/v1/me/mfa").json()["enabled"] is True
    event = AuditEvent.objects.get(type=AuditEvent.Type.PASSKEY_REGISTERED)
    assert (event.user_id, event.detail["passkey"]) == (
        verified_user.pk,
        registered["passkey"]["id"],
    )


def test_a_passkey_signs_in_alone_at_aal2(registered, authenticator, verified_user):
    status, body = passkey_sign_in(authenticator)
    assert status == HTTPStatus.OK, body
    assert body["user"]["email"] == verified_user.email
    token = claims(body["access_token"])
    assert (token["aal"], token["amr"], token["sub"]) == (
        "aal2",
        ["hwk", "user"],
        str(verified_user.pk),
    )
    passkey = Passkey.objects.get()
    assert (passkey.sign_count, passkey.last_used_at is not None) == (1, True)
    event = AuditEvent.objects.filter(type=AuditEvent.Type.LOGIN_SUCCEEDED).get()
    assert event.detail["method"] == "passkey"


@pytest.mark.parametrize(
    ("bend", "code"),
    [
        ({"origin": "http://evil.localhost:3000"}, "passkey_invalid"),
        ({"rp_id": "example.com"}, "passkey_invalid"),
        ({"user_verified": False}, "passkey_user_verification_required"),
        ({"user_handle": b"someone else"}, "passkey_invalid"),
    ],
    ids=["wrong origin", "wrong RP ID hash", "user verification off", "another user handle"],
)
def test_a_bent_assertion_is_refused_and_recorded(registered, authenticator, bend, code):
    status, body = passkey_sign_in(authenticator, **bend)
    assert (status, body["code"]) == (HTTPStatus.BAD_REQUEST, code)
    assert "access_token" not in body
    event = AuditEvent.objects.get(type=AuditEvent.Type.LOGIN_FAILED)
    assert event.detail["method"] == "passkey"
    assert event.user_id == Passkey.objects.get().user_id


def test_a_passkey_nobody_registered_is_refused(registered):
    stranger = SoftAuthenticator(origin=ORIGIN)
    stranger.create(
        {"rp": {"id": "localhost"}, "user": {"id": b64url(b"x")}, "challenge": b64url(b"c")}
    )
    status, body = passkey_sign_in(stranger)
    assert (status, body["code"]) == (HTTPStatus.BAD_REQUEST, "passkey_invalid")
    assert AuditEvent.objects.get(type=AuditEvent.Type.LOGIN_FAILED).user_id is None


def test_a_forged_signature_is_refused(registered, authenticator):
    options = sign_in_options()
    credential = authenticator.get(options["options"])
    credential["response"]["signature"] = authenticator.get(sign_in_options()["options"])[
        "response"
    ]["signature"]
    response = APIClient().post(
        "/api/v1/auth/passkey/verify",
        {"challenge_id": options["challenge_id"], "credential": credential},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "passkey_invalid")


def test_a_challenge_answers_once(registered, authenticator):
    options = sign_in_options()
    body = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.get(options["options"]),
    }
    assert APIClient().post("/api/v1/auth/passkey/verify", body, format="json").status_code == 200
    replay = APIClient().post("/api/v1/auth/passkey/verify", body, format="json")
    assert (replay.status_code, replay.json()["code"]) == (400, "passkey_challenge_invalid")


def test_a_challenge_expires_after_five_minutes(registered, authenticator):
    options = sign_in_options()
    body = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.get(options["options"]),
    }
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        response = APIClient().post("/api/v1/auth/passkey/verify", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "passkey_challenge_invalid")


def test_a_sign_count_that_goes_back_is_refused_and_recorded(registered, authenticator):
    assert passkey_sign_in(authenticator)[0] == HTTPStatus.OK  # the counter is at 1
    status, body = passkey_sign_in(authenticator, sign_count=1)  # a clone's counter
    assert (status, body["code"]) == (HTTPStatus.BAD_REQUEST, "passkey_sign_count_regressed")
    event = AuditEvent.objects.get(type=AuditEvent.Type.PASSKEY_SIGN_COUNT_REGRESSED)
    assert (event.detail["stored"], event.detail["received"]) == (1, 1)
    assert Passkey.objects.get().sign_count == 1


def test_passkeys_without_a_counter_sign_in_again_and_again(auth_client):
    synced = SoftAuthenticator(origin=ORIGIN, counts=False)
    assert register(auth_client, synced)["status"] == HTTPStatus.CREATED
    assert passkey_sign_in(synced)[0] == HTTPStatus.OK
    assert passkey_sign_in(synced)[0] == HTTPStatus.OK


@pytest.mark.parametrize(
    "bend",
    [{"origin": "http://localhost:4000"}, {"rp_id": "evil.example"}],
    ids=["wrong origin", "wrong RP ID hash"],
)
def test_a_bent_registration_is_refused_and_spends_its_challenge(auth_client, authenticator, bend):
    options = auth_client.post("/api/v1/me/passkeys/options").json()["options"]
    credential = authenticator.create(options, **bend)
    body = {"credential": credential}
    response = auth_client.post("/api/v1/me/passkeys", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "passkey_invalid")
    again = auth_client.post("/api/v1/me/passkeys", body, format="json")
    assert (again.status_code, again.json()["code"]) == (400, "passkey_challenge_invalid")
    assert not Passkey.objects.exists()


def made_credential(length: int) -> StoredCredential:
    """A passkey with a credential ID of ``length`` bytes, as an authenticator may claim."""
    return StoredCredential(
        credential_id=secrets.token_bytes(length),
        private_key=ec.generate_private_key(ec.SECP256R1()),
        rp_id="localhost",
        user_handle=b"",
    )


@pytest.mark.parametrize(
    "bend",
    [
        {"credential": made_credential(1024)},
        # A short rawId, and 48 KB attested (as much as attestationObject may carry): far
        # longer than the column, which PostgreSQL refuses.
        {"credential": made_credential(48_000), "raw_id": secrets.token_bytes(16)},
        {"raw_id": secrets.token_bytes(16)},
    ],
    ids=["1024 bytes", "48 KB", "rawId not the attested ID"],
)
def test_a_bent_credential_id_is_refused(auth_client, authenticator, bend):
    answer = register(auth_client, authenticator, **bend)
    assert (answer["status"], answer["code"]) == (HTTPStatus.BAD_REQUEST, "passkey_invalid")
    assert not Passkey.objects.exists()


def test_a_credential_id_of_1023_bytes_registers(auth_client, authenticator):
    credential = made_credential(1023)
    assert register(auth_client, authenticator, credential=credential)["status"] == 201
    assert Passkey.objects.get().credential_id == credential.id


def test_registration_needs_a_recent_authentication(auth_client):
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        response = auth_client.post("/api/v1/me/passkeys/options")
    assert (response.status_code, response.json()["code"]) == (403, "reauthentication_required")


def test_the_challenge_of_another_user_registers_nothing(auth_client, authenticator):
    other = user_create(email="grace@example.com", password=PASSWORD, display_name="Grace")
    grace = bearer(session_start(user=other, amr=["pwd"], client=CLIENT).access_token)
    options = grace.post("/api/v1/me/passkeys/options").json()["options"]
    credential = authenticator.create(options)
    response = auth_client.post("/api/v1/me/passkeys", {"credential": credential}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "passkey_challenge_invalid")


def test_an_account_has_at_most_ten_passkeys(auth_client, settings):
    settings.KEYHOUSE_RATE_LIMITS = {}
    for _ in range(10):
        assert register(auth_client, SoftAuthenticator(origin=ORIGIN))["status"] == 201
    answer = register(auth_client, SoftAuthenticator(origin=ORIGIN))
    assert (answer["status"], answer["code"]) == (HTTPStatus.CONFLICT, "passkey_limit")


def test_a_passkey_registers_once(auth_client, authenticator):
    register(auth_client, authenticator)
    options = auth_client.post("/api/v1/me/passkeys/options").json()["options"]
    # An authenticator that ignores excludeCredentials answers with the same passkey.
    credential = authenticator.create(options, credential=authenticator.credentials[0])
    response = auth_client.post("/api/v1/me/passkeys", {"credential": credential}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "passkey_already_registered")
    assert Passkey.objects.count() == 1


@pytest.fixture
def password_session(registered, verified_user) -> TokenPair:
    """A session that proved the password only, on an account with a passkey."""
    return session_start(user=verified_user, amr=["pwd"], client=CLIENT)


def test_a_password_sign_in_is_challenged_and_a_passkey_answers(registered, authenticator):
    challenge = (
        APIClient()
        .post(
            "/api/v1/auth/login",
            {"email": "ada@example.com", "password": PASSWORD},
            format="json",
        )
        .json()
    )
    assert (challenge["mfa_required"], challenge["passkey"], challenge["factors"]) == (
        True,
        True,
        [],
    )
    options = sign_in_options()
    passkey = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.get(options["options"], user_verified=False),
    }
    response = APIClient().post(
        "/api/v1/auth/mfa/verify",
        {"mfa_token": challenge["mfa_token"], "passkey": passkey},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK, response.json()
    token = claims(response.json()["access_token"])
    assert (token["aal"], token["amr"]) == ("aal2", ["pwd", "hwk", "mfa"])
    event = AuditEvent.objects.get(type=AuditEvent.Type.MFA_CHALLENGE_SUCCEEDED)
    assert event.detail["method"] == "passkey"


def test_a_passkey_of_another_account_does_not_answer_a_challenge(registered, auth_client):
    other = user_create(email="grace@example.com", password=PASSWORD, display_name="Grace")
    grace = bearer(session_start(user=other, amr=["pwd"], client=CLIENT).access_token)
    graces = SoftAuthenticator(origin=ORIGIN)
    assert register(grace, graces)["status"] == HTTPStatus.CREATED
    challenge = APIClient().post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}, format="json"
    )
    options = sign_in_options()
    passkey = {
        "challenge_id": options["challenge_id"],
        "credential": graces.get(options["options"]),
    }
    response = APIClient().post(
        "/api/v1/auth/mfa/verify",
        {"mfa_token": challenge.json()["mfa_token"], "passkey": passkey},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "passkey_invalid")
    assert response.json()["attempts_left"] == 4
    failed = AuditEvent.objects.get(type=AuditEvent.Type.MFA_CHALLENGE_FAILED)
    assert failed.detail["reason"] == "another_user"


def test_a_passkey_steps_a_session_up_for_a_sensitive_operation(
    password_session, registered, authenticator
):
    client = bearer(password_session.access_token)
    passkey_id = registered["passkey"]["id"]
    refused = client.delete(f"/api/v1/me/passkeys/{passkey_id}")
    assert (refused.status_code, refused.json()["code"]) == (403, "aal2_required")
    options = sign_in_options()
    passkey = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.get(options["options"]),
    }
    response = client.post("/api/v1/auth/reauthenticate", {"passkey": passkey}, format="json")
    assert response.status_code == HTTPStatus.NO_CONTENT
    session = LoginSession.objects.get(pk=password_session.session.pk)
    assert (session.aal, session.amr) == ("aal2", ["pwd", "hwk", "user", "mfa"])
    assert client.delete(f"/api/v1/me/passkeys/{passkey_id}").status_code == 204


def test_reauthentication_refuses_a_passkey_of_another_account(password_session, auth_client):
    other = user_create(email="grace@example.com", password=PASSWORD, display_name="Grace")
    grace = bearer(session_start(user=other, amr=["pwd"], client=CLIENT).access_token)
    graces = SoftAuthenticator(origin=ORIGIN)
    register(grace, graces)
    options = sign_in_options()
    passkey = {
        "challenge_id": options["challenge_id"],
        "credential": graces.get(options["options"]),
    }
    response = bearer(password_session.access_token).post(
        "/api/v1/auth/reauthenticate", {"passkey": passkey}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "passkey_invalid")
    assert AuditEvent.objects.filter(type=AuditEvent.Type.REAUTHENTICATION_FAILED).exists()


def test_a_passkey_is_renamed_and_removed_with_the_recovery_codes(
    registered, auth_client, verified_user, mailoutbox
):
    passkey_id = registered["passkey"]["id"]
    renamed = auth_client.patch(
        f"/api/v1/me/passkeys/{passkey_id}", {"name": "Phone"}, format="json"
    )
    assert renamed.json()["name"] == "Phone"
    assert auth_client.delete(f"/api/v1/me/passkeys/{passkey_id}").status_code == 204
    assert not Passkey.objects.exists()
    assert not RecoveryCode.objects.filter(user=verified_user).exists()
    assert AuditEvent.objects.filter(type=AuditEvent.Type.PASSKEY_REMOVED).count() == 1
    assert [message.subject for message in mailoutbox][-1].startswith("A passkey was removed")
    gone = auth_client.delete(f"/api/v1/me/passkeys/{passkey_id}")
    assert (gone.status_code, gone.json()["code"]) == (404, "passkey_not_found")


def test_another_accounts_passkey_is_not_found(registered):
    other = user_create(email="grace@example.com", password=PASSWORD, display_name="Grace")
    grace = bearer(session_start(user=other, amr=["pwd"], client=CLIENT).access_token)
    path = f"/api/v1/me/passkeys/{registered['passkey']['id']}"
    assert grace.patch(path, {"name": "Mine"}, format="json").status_code == 404
    assert grace.delete(path).status_code == 404
    assert Passkey.objects.get().name == "Laptop"


@pytest.mark.parametrize(
    ("credential", "field"),
    [
        ({"id": "not base64url!", "rawId": "AA", "type": "public-key"}, "credential.id"),
        (
            {
                "id": "AA",
                "rawId": "AA",
                "type": "public-key",
                "response": {"clientDataJSON": 1, "authenticatorData": "AA", "signature": "AA"},
            },
            "credential.response.clientDataJSON",
        ),
    ],
)
def test_malformed_credentials_are_validation_errors(credential, field):
    body = {"challenge_id": sign_in_options()["challenge_id"], "credential": credential}
    response = APIClient().post("/api/v1/auth/passkey/verify", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert field in response.json()["errors"]


def test_well_formed_garbage_is_a_passkey_error(registered, authenticator):
    options = sign_in_options()
    credential = authenticator.get(options["options"])
    credential["response"]["clientDataJSON"] = b64url(b"not json")
    credential["response"]["authenticatorData"] = "AAAA"
    body = {"challenge_id": options["challenge_id"], "credential": credential}
    response = APIClient().post("/api/v1/auth/passkey/verify", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "passkey_invalid")


def test_an_admin_sees_a_passkey_without_its_key_and_removes_it(
    registered, client, admin_user, verified_user, mailoutbox
):
    client.force_login(admin_user)
    passkey = Passkey.objects.get()
    listed = client.get("/admin/mfa/passkey/")
    assert listed.status_code == HTTPStatus.OK
    assert b"Laptop" in listed.content
    page = client.get(f"/admin/users/user/{verified_user.pk}/change/")
    assert b"passkey, added" in page.content
    assert b64url(bytes(passkey.public_key)).encode() not in page.content
    response = client.post(f"/admin/mfa/passkey/{passkey.pk}/delete/", {"post": "yes"})
    assert response.status_code == HTTPStatus.FOUND
    assert not Passkey.objects.exists()
    assert not RecoveryCode.objects.filter(user=verified_user).exists()
    event = AuditEvent.objects.get(type=AuditEvent.Type.PASSKEY_REMOVED)
    assert (event.user_id, event.detail["admin"]) == (verified_user.pk, str(admin_user.pk))
    assert "administrator removed" in mailoutbox[-1].body


def test_the_admin_action_removes_passkeys_with_the_other_factors(
    registered, client, admin_user, verified_user
):
    client.force_login(admin_user)
    response = client.post(
        "/admin/users/user/",
        {"action": "remove_second_factors", "_selected_action": [str(verified_user.pk)]},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert not Passkey.objects.exists()


def test_of_two_answers_to_one_challenge_at_once_one_signs_in(registered, authenticator):
    options = sign_in_options()
    body = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.get(options["options"]),
    }
    statuses = at_once(
        2,
        lambda: APIClient().post("/api/v1/auth/passkey/verify", body, format="json").status_code,
    )
    assert sorted(statuses) == [HTTPStatus.OK, HTTPStatus.BAD_REQUEST]
    assert LoginSession.objects.filter(amr=["hwk", "user"]).count() == 1
