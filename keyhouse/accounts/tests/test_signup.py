"""Sign-up by email with real mail: an SMTP server on loopback receives every message."""

from __future__ import annotations

import io
import re
import threading
import time
from http import HTTPStatus

import jwt as pyjwt
import pytest
import time_machine
from django.contrib.auth.hashers import get_hasher
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from keyhouse.accounts.models import PendingSignup
from keyhouse.accounts.services.signup import signup as signup_service
from keyhouse.audit.models import AuditEvent
from keyhouse.codes.models import OneTimeCode
from keyhouse.codes.services import CodeCooldown
from keyhouse.conftest import CLIENT
from keyhouse.delivery.models import Delivery
from keyhouse.testing import (
    at_once,
    code_in_mail,
    headers_but_request_id,
    holds_in_clear,
)
from keyhouse.users.models import User

SIGNUP = "/api/v1/auth/signup"
VERIFY = "/api/v1/auth/email/verify"
RESEND = "/api/v1/auth/email/resend"
PASSPHRASE = "a long and unusual passphrase"
# 250 characters as sent; 274 once its domain is IDNA-encoded, past the limit of 254.
_IDN_DOMAIN = ".".join(["ü" * 40] * 4) + ".de"
LONG_ONCE_ENCODED = "a" * (250 - len(_IDN_DOMAIN) - 1) + "@" + _IDN_DOMAIN
# A first label of 63 characters, 69 once IDNA-encoded: past DNS's 63, so no mail reaches it.
UNENCODABLE = "a@" + "ß" * 63 + ".de"

# Real commits, so that mail queued "on commit" is sent as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def signup(api_client, email="ada@example.com", password=PASSPHRASE, **extra):
    return api_client.post(SIGNUP, {"email": email, "password": password, **extra}, format="json")


def verify(api_client, code, email="ada@example.com", **extra):
    return api_client.post(VERIFY, {"email": email, "code": code, **extra}, format="json")


def login(api_client, password, email="ada@example.com"):
    return api_client.post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json"
    )


def test_sign_up_verify_by_mailed_code_and_refresh(api_client, smtp_mailer):
    response = signup(api_client, display_name="Ada")
    assert response.status_code == HTTPStatus.ACCEPTED
    (message,) = smtp_mailer.messages
    assert message["To"] == "ada@example.com"
    code = code_in_mail(message)
    assert code in message.get_body(("html",)).get_content()

    verified = verify(api_client, code)
    assert verified.status_code == HTTPStatus.OK, verified.content
    body = verified.json()
    assert body["user"]["email_verified"] is True
    assert body["user"]["display_name"] == "Ada"
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["otp"]
    assert claims["email_verified"] is True

    refreshed = api_client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == HTTPStatus.OK
    login = api_client.post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSPHRASE}, format="json"
    )
    assert login.status_code == HTTPStatus.OK
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {"signed_up", "code_sent", "code_checked", "email_verified", "login_succeeded"} <= types


def test_the_database_holds_only_the_hmac_of_the_code(api_client, smtp_mailer):
    signup(api_client)
    code = code_in_mail(smtp_mailer.messages[0])
    for model in (OneTimeCode, PendingSignup, Delivery, AuditEvent):
        for row in model.objects.values():
            assert not holds_in_clear(row, code), (model.__name__, row)


def test_signup_answers_the_same_for_a_registered_address(api_client, smtp_mailer, verified_user):
    fresh = signup(api_client, email="new@example.com")
    taken = signup(api_client, email="ADA@example.com")
    assert taken.status_code == fresh.status_code == HTTPStatus.ACCEPTED
    assert taken.content == fresh.content
    assert headers_but_request_id(taken) == headers_but_request_id(fresh)
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1
    notice = next(m for m in smtp_mailer.messages if m["To"] == "ada@example.com")
    assert "sign up" in notice["Subject"].lower()
    assert not re.search(r"\b\d{6}\b", notice.get_body(("plain",)).get_content())
    verified_user.refresh_from_db()
    assert verified_user.check_password("correct horse battery staple")


LATER = 61  # seconds: past the resend cooldown, while the first code is live
EXPIRED = 11 * 60  # seconds: past the first code's lifetime
PURGED = 2 * 24 * 3600  # seconds: past the first code's retention, so the purge takes it


def test_no_account_exists_until_the_code_is_entered(api_client, smtp_mailer):
    signup(api_client, display_name="Ada")
    assert not User.objects.exists()
    pending = PendingSignup.objects.get()
    assert (pending.email, pending.display_name) == ("ada@example.com", "Ada")
    assert pending.password.startswith("argon2$argon2id$")
    assert PASSPHRASE not in pending.password
    unknown = login(APIClient(), PASSPHRASE, email="nobody@example.com")
    pending_login = login(api_client, PASSPHRASE)
    assert pending_login.status_code == unknown.status_code == HTTPStatus.UNAUTHORIZED
    assert pending_login.content == unknown.content

    assert verify(api_client, code_in_mail(smtp_mailer.messages[0])).status_code == HTTPStatus.OK
    user = User.objects.get()
    assert (user.email, user.display_name, user.email_verified) == ("ada@example.com", "Ada", True)
    assert user.check_password(PASSPHRASE)
    assert not PendingSignup.objects.exists()


def test_signing_up_again_with_the_same_password_sends_a_new_code(api_client, smtp_mailer):
    signup(api_client, password="one long passphrase", display_name="First")
    first = code_in_mail(smtp_mailer.messages[0])
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(api_client, password="one long passphrase", display_name="Second")
        second = code_in_mail(smtp_mailer.messages[1])
        if first != second:
            assert verify(api_client, first).json()["code"] == "code_invalid"
        assert verify(api_client, second).status_code == HTTPStatus.OK
        assert login(api_client, "one long passphrase").status_code == HTTPStatus.OK
    assert User.objects.get().display_name == "Second"


def _password_reset(password, smtp_mailer, email="ada@example.com"):
    APIClient().post("/api/v1/auth/password/forgot", {"email": email}, format="json")
    code = code_in_mail(smtp_mailer.messages[-1])
    body = {"email": email, "code": code, "new_password": password}
    return APIClient().post("/api/v1/auth/password/reset", body, format="json")


def test_a_newer_sign_up_with_another_password_leaves_no_password_to_sign_in_with(
    api_client, smtp_mailer
):
    """Someone who knows only the address signs up after the owner: the newest name and
    code apply, but neither password does. The owner enters the newest code, is signed
    in, and sets a password by reset; the code of the replaced sign-up opens nothing."""
    signup(api_client, password="the owner's own passphrase", display_name="Owner")
    first = code_in_mail(smtp_mailer.messages[0])
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(APIClient(), password="someone else's passphrase", display_name="Other")
        second = code_in_mail(smtp_mailer.messages[1])
        if first != second:
            assert verify(api_client, first).json()["code"] == "code_invalid"
        verified = verify(api_client, second)
        assert verified.status_code == HTTPStatus.OK
        assert verified.json()["access_token"]
        user = User.objects.get()
        assert user.display_name == "Other"
        assert not user.has_usable_password()
        for password in ("the owner's own passphrase", "someone else's passphrase"):
            assert login(APIClient(), password).status_code == HTTPStatus.UNAUTHORIZED
        reset = _password_reset("the owner's new passphrase", smtp_mailer)
        assert reset.status_code == HTTPStatus.OK, reset.content
        assert login(APIClient(), "the owner's new passphrase").status_code == HTTPStatus.OK


def test_a_sign_up_before_the_owner_s_own_leaves_no_password_to_sign_in_with(
    api_client, smtp_mailer
):
    """The same when someone signs up with the address first and the owner after."""
    signup(APIClient(), password="someone else's passphrase")
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(api_client, password="the owner's own passphrase")
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
        assert not User.objects.get().has_usable_password()
        for password in ("the owner's own passphrase", "someone else's passphrase"):
            assert login(APIClient(), password).status_code == HTTPStatus.UNAUTHORIZED


def test_a_sign_up_with_no_usable_password_keeps_none(api_client, smtp_mailer):
    """Once two passwords met, a third sign-up, even with one of them, brings none back."""
    signup(api_client, password="the owner's own passphrase")
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(APIClient(), password="someone else's passphrase")
    with time_machine.travel(time.time() + 2 * LATER, tick=False):
        signup(APIClient(), password="someone else's passphrase")
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
    assert not User.objects.get().has_usable_password()


def test_a_sign_up_refused_as_too_soon_replaces_nothing(api_client, smtp_mailer):
    signup(api_client, password="the first long passphrase", display_name="First")
    refused = signup(APIClient(), password="the second long passphrase", display_name="Second")
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused.json()["code"] == "code_cooldown"
    assert len(smtp_mailer.messages) == 1
    assert verify(api_client, code_in_mail(smtp_mailer.messages[0])).status_code == HTTPStatus.OK
    user = User.objects.get()
    assert user.check_password("the first long passphrase")
    assert user.display_name == "First"


def test_resend_then_verify_creates_the_account_the_sign_up_asked_for(api_client, smtp_mailer):
    signup(api_client, password="the one long passphrase", display_name="Ada")
    first = code_in_mail(smtp_mailer.messages[0])
    with time_machine.travel(time.time() + EXPIRED, tick=False):
        assert verify(api_client, first).json()["code"] == "code_invalid"
        resent = api_client.post(RESEND, {"email": "ADA@example.com "}, format="json")
        assert resent.status_code == HTTPStatus.ACCEPTED
        assert verify(api_client, code_in_mail(smtp_mailer.messages[1])).status_code == (
            HTTPStatus.OK
        )
        assert login(APIClient(), "the one long passphrase").status_code == HTTPStatus.OK
    assert User.objects.get().display_name == "Ada"


def test_the_purge_keeps_a_pending_sign_up_while_its_code_is_kept(api_client, smtp_mailer):
    signup(APIClient(), email="grace@example.com")
    with time_machine.travel(time.time() + PURGED, tick=False):
        signup(api_client)
        call_command("purge_expired", stdout=io.StringIO())
        assert list(PendingSignup.objects.values_list("email", flat=True)) == ["ada@example.com"]
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
    assert list(User.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_a_sign_up_purged_before_its_code_comes_back_is_over(api_client, smtp_mailer):
    """The purge takes a pending sign-up with its code: the code opens nothing, a resend
    sends none, and the address signs up afresh."""
    signup(api_client, password="the old long passphrase")
    code = code_in_mail(smtp_mailer.messages[0])
    with time_machine.travel(time.time() + PURGED, tick=False):
        call_command("purge_expired", stdout=io.StringIO())
        assert not PendingSignup.objects.exists()
        assert verify(api_client, code).json()["code"] == "code_invalid"
        resent = api_client.post(RESEND, {"email": "ada@example.com"}, format="json")
        assert resent.status_code == HTTPStatus.ACCEPTED
        assert len(smtp_mailer.messages) == 1
    with time_machine.travel(time.time() + PURGED + LATER, tick=False):
        signup(api_client, password="the new long passphrase")
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
    assert User.objects.get().check_password("the new long passphrase")


@pytest.mark.parametrize(
    "passwords",
    [("the owner's own passphrase", "someone else's passphrase"), (PASSPHRASE, PASSPHRASE)],
    ids=["different-passwords", "double-submit"],
)
def test_two_first_sign_ups_at_once(smtp_mailer, passwords):
    """The resend cooldown lets one through and refuses the other (429) before it
    changes anything: the one code mailed creates the account with its own password."""
    chosen = iter(passwords)

    def sign_up() -> str:
        password = next(chosen)
        signup_service(email="ada@example.com", password=password, display_name="", client=CLIENT)
        return password

    outcomes = at_once(2, sign_up)

    [accepted] = [outcome for outcome in outcomes if isinstance(outcome, str)]
    [refused] = [outcome for outcome in outcomes if not isinstance(outcome, str)]
    assert isinstance(refused, CodeCooldown)
    assert PendingSignup.objects.count() == 1
    [message] = smtp_mailer.messages
    assert verify(APIClient(), code_in_mail(message)).status_code == HTTPStatus.OK
    assert User.objects.get().check_password(accepted)
    for password in set(passwords) - {accepted}:
        assert login(APIClient(), password).status_code == HTTPStatus.UNAUTHORIZED


def test_two_sign_ups_with_other_passwords_at_once_leave_no_password(smtp_mailer):
    """Two sign-ups with passwords other than the pending one's race to replace it: the
    cooldown lets one through, which leaves no usable password, and refuses the other."""
    passwords = ["the owner's own passphrase", "one stranger's passphrase", "another's one"]
    signup(APIClient(), password=passwords[0])
    others = iter(passwords[1:])

    def sign_up() -> None:
        signup_service(
            email="ada@example.com", password=next(others), display_name="", client=CLIENT
        )

    with time_machine.travel(time.time() + LATER, tick=False):
        outcomes = at_once(2, sign_up)
        assert sorted(type(outcome).__name__ for outcome in outcomes) == [
            "CodeCooldown",
            "NoneType",
        ]
        assert verify(APIClient(), code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
    assert not User.objects.get().has_usable_password()
    for password in passwords:
        assert login(APIClient(), password).status_code == HTTPStatus.UNAUTHORIZED


def test_an_address_taken_while_its_sign_up_is_pending_fails_like_a_wrong_code(
    api_client, auth_client, smtp_mailer
):
    """Another account may prove the address first (a change of address): the sign-up's
    code then answers like any wrong code, and its pending sign-up goes."""
    signup(api_client, email="shared@example.com")
    code = code_in_mail(smtp_mailer.messages[-1])
    with time_machine.travel(time.time() + LATER, tick=False):
        auth_client.post("/api/v1/me/email", {"email": "shared@example.com"}, format="json")
        change_code = code_in_mail(smtp_mailer.messages[-1])
        changed = auth_client.post("/api/v1/me/email/verify", {"code": change_code}, format="json")
        assert changed.status_code == HTTPStatus.OK, changed.content
        failed = verify(api_client, code, email="shared@example.com")
    assert failed.status_code == HTTPStatus.BAD_REQUEST
    assert failed.json()["code"] == "code_invalid"
    assert User.objects.filter(email="shared@example.com").get().display_name == "Ada"
    assert not PendingSignup.objects.exists()


def test_a_sign_up_and_a_change_of_address_racing_for_one_address_end_with_one_owner(
    api_client, auth_client, smtp_mailer, verified_user
):
    """The unique constraint on addresses settles it: the loser of the sign-up answers
    like a wrong code, the loser of the change 409 ``email_taken``."""
    signup(api_client, email="shared@example.com")
    signup_code = code_in_mail(smtp_mailer.messages[-1])
    auth_client.post("/api/v1/me/email", {"email": "shared@example.com"}, format="json")
    change_code = code_in_mail(smtp_mailer.messages[-1])
    actions = iter(
        [
            lambda: verify(APIClient(), signup_code, email="shared@example.com"),
            lambda: auth_client.post(
                "/api/v1/me/email/verify", {"code": change_code}, format="json"
            ),
        ]
    )

    verified, changed = at_once(2, lambda: next(actions)())

    outcomes = {
        (verified.status_code, verified.json().get("code")),
        (changed.status_code, changed.json().get("code")),
    }
    assert outcomes in (
        {(HTTPStatus.OK, None), (HTTPStatus.CONFLICT, "email_taken")},
        {(HTTPStatus.BAD_REQUEST, "code_invalid"), (HTTPStatus.OK, None)},
    )
    assert User.objects.filter(email="shared@example.com").count() == 1


def test_a_sign_up_never_touches_an_account_whose_address_is_unverified(
    client, admin_user, password, smtp_mailer
):
    """Admins created by createsuperuser or the admin have unverified addresses; a
    stranger's sign-up with one only mails the notice, and the admin still signs in."""
    assert admin_user.email_verified_at is None
    signup(APIClient(), email=admin_user.email, password="whatever a stranger types")
    admin_user.refresh_from_db()
    assert admin_user.check_password(password)
    assert not PendingSignup.objects.exists()
    [notice] = smtp_mailer.messages
    assert not re.search(r"\b\d{6}\b", notice.get_body(("plain",)).get_content())
    response = client.post("/admin/login/", {"username": admin_user.email, "password": password})
    assert response.status_code == HTTPStatus.FOUND


def _counted(method, name, calls):
    def spy(self, *args, **kwargs):
        calls.append(name)
        return method(self, *args, **kwargs)

    return spy


def test_every_sign_up_costs_one_password_hash(api_client, smtp_mailer, verified_user, monkeypatch):
    """A new, a pending (with the same password or another) and a registered address,
    and a request refused as too soon, all hash the password once with the default
    hasher and check none."""
    calls = []
    hasher = type(get_hasher())
    for name in ("encode", "verify"):
        monkeypatch.setattr(hasher, name, _counted(getattr(hasher, name), name, calls))
    costs = []
    start = time.time()
    for email, password, at in [
        ("new@example.com", PASSPHRASE, 0),
        ("new@example.com", PASSPHRASE, 1),  # refused: the cooldown runs
        ("new@example.com", PASSPHRASE, LATER),  # the pending sign-up, the same password
        ("new@example.com", "another long passphrase", 2 * LATER),  # another password
        (verified_user.email, PASSPHRASE, LATER),
    ]:
        calls.clear()
        with time_machine.travel(start + at, tick=False):
            status = signup(api_client, email=email, password=password).status_code
        costs.append((status, list(calls)))
    assert costs == [
        (HTTPStatus.ACCEPTED, ["encode"]),
        (HTTPStatus.TOO_MANY_REQUESTS, ["encode"]),
        (HTTPStatus.ACCEPTED, ["encode"]),
        (HTTPStatus.ACCEPTED, ["encode"]),
        (HTTPStatus.ACCEPTED, ["encode"]),
    ]


@pytest.mark.parametrize("case", ["wrong", "expired", "used", "unknown-email"])
def test_failed_verifications_all_look_the_same(api_client, smtp_mailer, case):
    signup(api_client)
    code = code_in_mail(smtp_mailer.messages[0])
    email = "ada@example.com"
    if case == "wrong":
        code = f"{(int(code) + 1) % 1_000_000:06d}"
    elif case == "used":
        assert verify(api_client, code).status_code == HTTPStatus.OK
    elif case == "unknown-email":
        email = "nobody@example.com"
    travel = 11 * 60 if case == "expired" else 0
    with time_machine.travel(time.time() + travel, tick=False):
        response = verify(api_client, code, email=email)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "The code is not valid.",
        "code": "code_invalid",
    }


def test_five_wrong_codes_kill_the_code(api_client, smtp_mailer):
    signup(api_client)
    code = code_in_mail(smtp_mailer.messages[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert verify(api_client, wrong).status_code == HTTPStatus.BAD_REQUEST
    assert verify(api_client, code).json()["code"] == "code_invalid"
    assert not User.objects.exists()


def test_resend_sends_a_new_code_after_the_cooldown(api_client, smtp_mailer):
    signup(api_client)
    too_soon = api_client.post(RESEND, {"email": "ada@example.com"}, format="json")
    assert too_soon.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert too_soon.json()["code"] == "code_cooldown"
    assert 0 < int(too_soon["Retry-After"]) <= 60
    with time_machine.travel(time.time() + 61, tick=False):
        response = api_client.post(RESEND, {"email": "ada@example.com"}, format="json")
        assert response.status_code == HTTPStatus.ACCEPTED
        assert (
            verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == HTTPStatus.OK
        )
    assert len(smtp_mailer.messages) == 2


def test_resend_answers_the_same_for_unknown_verified_and_pending_addresses(
    api_client, smtp_mailer, verified_user
):
    signup(api_client, email="pending@example.com")
    with time_machine.travel(time.time() + 61, tick=False):
        answers = [
            api_client.post(RESEND, {"email": email}, format="json")
            for email in ("pending@example.com", "nobody@example.com", verified_user.email)
        ]
    assert {a.status_code for a in answers} == {HTTPStatus.ACCEPTED}
    assert len({a.content for a in answers}) == 1
    recipients = [m["To"] for m in smtp_mailer.messages]
    assert recipients == ["pending@example.com", "pending@example.com"]


@pytest.mark.usefixtures("window_start")
def test_resend_is_capped_per_address(api_client, smtp_mailer):
    signup(api_client)
    start = time.time()
    statuses = []
    for minute in range(1, 7):
        with time_machine.travel(start + minute * 61, tick=False):
            statuses.append(
                api_client.post(RESEND, {"email": "ada@example.com"}, format="json").status_code
            )
    assert statuses[:4] == [HTTPStatus.ACCEPTED] * 4
    assert HTTPStatus.TOO_MANY_REQUESTS in statuses[4:]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSPHRASE}, "email"),
        ({"email": "ada@", "password": PASSPHRASE}, "email"),
        ({"email": "ada\x00@example.com", "password": PASSPHRASE}, "email"),
        ({"email": "a" * 250 + "@example.com", "password": PASSPHRASE}, "email"),
        ({"email": LONG_ONCE_ENCODED, "password": PASSPHRASE}, "email"),
        ({"email": UNENCODABLE, "password": PASSPHRASE}, "email"),
        ({"email": "ada@example.com"}, "password"),
        ({"email": "ada@example.com", "password": None}, "password"),
        ({"email": "ada@example.com", "password": 1234567890}, "password"),
        ({"email": "ada@example.com", "password": ["x"]}, "password"),
        ({"email": "ada@example.com", "password": "short"}, "password"),
        ({"email": "ada@example.com", "password": "password123"}, "password"),
        ({"email": "ada.lovelace@example.com", "password": "ada.lovelace"}, "password"),
        ({"email": "ada@example.com", "password": "x" * 5000}, "password"),
        (
            {"email": "ada@example.com", "password": PASSPHRASE, "display_name": "x" * 151},
            "display_name",
        ),
        ({"password": PASSPHRASE}, "email"),
    ],
)
def test_bad_signups_are_refused_per_field_and_store_nothing(api_client, smtp_mailer, body, field):
    response = api_client.post(SIGNUP, body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["errors"]
    assert not User.objects.exists()
    assert not PendingSignup.objects.exists()
    assert smtp_mailer.messages == []


def test_password_errors_carry_their_codes(api_client, db):
    response = signup(api_client, password="short")
    codes = {error["code"] for error in response.json()["errors"]["password"]}
    assert "password_too_short" in codes


def test_addresses_take_their_canonical_form_before_anything_else(api_client, smtp_mailer):
    signup(api_client, email="  Ada@BÜCHER.Example ")
    assert PendingSignup.objects.get().email == "ada@xn--bcher-kva.example"
    assert smtp_mailer.messages[0]["To"] == "ada@xn--bcher-kva.example"
    code = code_in_mail(smtp_mailer.messages[0])
    verified = verify(api_client, code, email="ADA@bücher.example")
    assert verified.status_code == HTTPStatus.OK
    assert verified.json()["user"]["email"] == "ada@xn--bcher-kva.example"
    assert User.objects.get().email == "ada@xn--bcher-kva.example"


def test_a_long_passphrase_is_accepted(api_client, smtp_mailer):
    assert signup(api_client, password="w" * 3 + " ".join(["tangerine"] * 12)).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_concurrent_signups_in_different_case_keep_one_pending_sign_up(settings):
    emails = ["Race@example.com", "race@EXAMPLE.com", "RACE@example.com", "race@example.com"]
    barrier = threading.Barrier(len(emails))
    errors: list[Exception] = []

    def worker(email: str) -> None:
        barrier.wait()
        try:
            signup_service(email=email, password=PASSPHRASE, display_name="", client=CLIENT)
        except Exception as exc:  # a 429 from the cooldown is an answer, not a duplicate
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert PendingSignup.objects.filter(email="race@example.com").count() == 1
    assert len(errors) == len(emails) - 1
    assert all(getattr(error, "status", None) == HTTPStatus.TOO_MANY_REQUESTS for error in errors)


def test_two_verifications_of_one_code_at_once_succeed_once(api_client, smtp_mailer):
    signup(api_client)
    code = code_in_mail(smtp_mailer.messages[0])

    responses = at_once(2, lambda: verify(APIClient(), code))

    outcomes = sorted((r.status_code, r.json().get("code")) for r in responses)
    assert outcomes == [(HTTPStatus.OK, None), (HTTPStatus.BAD_REQUEST, "code_invalid")]
    assert AuditEvent.objects.filter(type=AuditEvent.Type.EMAIL_VERIFIED).count() == 1


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", "١٢٣٤٥٦", 123456, "", None])
def test_malformed_codes_are_refused_before_any_check(api_client, code):
    response = verify(api_client, code)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "validation_error"
    assert "code" in response.json()["errors"]


def test_a_code_with_spaces_is_accepted(api_client, smtp_mailer):
    signup(api_client)
    code = code_in_mail(smtp_mailer.messages[0])
    assert verify(api_client, f"{code[:3]} {code[3:]}").status_code == HTTPStatus.OK
