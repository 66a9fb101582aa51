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
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.accounts.services.account import user_set_active
from keyhouse.accounts.services.signup import signup as signup_service
from keyhouse.audit.models import AuditEvent
from keyhouse.codes.models import OneTimeCode
from keyhouse.conftest import CLIENT
from keyhouse.delivery.models import Delivery
from keyhouse.testing import (
    at_once,
    code_in_mail,
    code_in_sms,
    headers_but_request_id,
    holds_in_clear,
)
from keyhouse.users.models import User

SIGNUP = "/api/v1/auth/signup"
VERIFY = "/api/v1/auth/email/verify"
RESEND = "/api/v1/auth/email/resend"
PASSPHRASE = "a long and unusual passphrase"
SQUATTER_PHONE = "+14155550100"
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


def forgot_and_reset(api_client, smtp_mailer, new_password):
    api_client.post("/api/v1/auth/password/forgot", {"email": "ada@example.com"}, format="json")
    reset = {
        "email": "ada@example.com",
        "code": code_in_mail(smtp_mailer.messages[-1]),
        "new_password": new_password,
    }
    return api_client.post("/api/v1/auth/password/reset", reset, format="json")


def phone_added(api_client, session, sms_outbox, phone=SQUATTER_PHONE):
    """Add and verify a phone number in a session, as a signed-in user would."""
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {session['access_token']}"}
    api_client.post("/api/v1/me/phone", {"phone": phone}, format="json", **bearer)
    confirmed = api_client.post(
        "/api/v1/me/phone/verify", {"code": code_in_sms(sms_outbox[-1])}, format="json", **bearer
    )
    assert confirmed.status_code == HTTPStatus.OK, confirmed.content


def phone_sign_in(api_client, sms_outbox, phone=SQUATTER_PHONE):
    api_client.post("/api/v1/auth/phone/send-code", {"phone": phone}, format="json")
    if not sms_outbox:
        return None
    return api_client.post(
        "/api/v1/auth/phone/verify",
        {"phone": phone, "code": code_in_sms(sms_outbox[-1])},
        format="json",
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
    for model in (OneTimeCode, Delivery, AuditEvent):
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


def test_signing_up_again_with_the_same_password_sends_a_new_code(api_client, smtp_mailer):
    signup(api_client, password="one long passphrase")
    first = code_in_mail(smtp_mailer.messages[0])
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(api_client, password="one long passphrase")
        second = code_in_mail(smtp_mailer.messages[1])
        if first != second:
            assert verify(api_client, first).json()["code"] == "code_invalid"
        assert verify(api_client, second).status_code == HTTPStatus.OK
        assert login(api_client, "one long passphrase").status_code == HTTPStatus.OK


def test_a_repeated_sign_up_changes_nothing_until_its_code_verifies(api_client, smtp_mailer):
    signup(api_client, password="first long passphrase", display_name="Ada")
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(api_client, password="second long passphrase", display_name="Mallory")
    user = User.objects.get()
    assert user.check_password("first long passphrase")
    assert user.display_name == "Ada"


def test_a_sign_up_answered_too_soon_still_contests_the_address(api_client, smtp_mailer):
    """The owner, told to wait out the cooldown, may enter the code the other sign-up
    sent: it must not leave that sign-up's password on the account."""
    signup(APIClient(), password="the squatter's passphrase")
    assert signup(api_client, password="the owner's own passphrase").json()["code"] == (
        "code_cooldown"
    )
    assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == HTTPStatus.OK
    assert login(api_client, "the squatter's passphrase").json()["code"] == "invalid_credentials"


@pytest.mark.parametrize("next_code", ["owner-resends", "first-registrant-signs-up-again"])
def test_a_contest_outlives_the_purge_of_expired_codes(api_client, smtp_mailer, next_code):
    signup(APIClient(), password="the squatter's passphrase")
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(api_client, password="the owner's own passphrase")
    with time_machine.travel(time.time() + 2 * 24 * 3600, tick=False):
        call_command("purge_expired", stdout=io.StringIO())
        assert not OneTimeCode.objects.exists()
        if next_code == "owner-resends":
            api_client.post(RESEND, {"email": "ada@example.com"}, format="json")
        else:
            signup(APIClient(), password="the squatter's passphrase")
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
        assert login(APIClient(), "the squatter's passphrase").json()["code"] == (
            "invalid_credentials"
        )


@pytest.mark.parametrize(
    "passwords",
    [("the owner's own passphrase", "the squatter's passphrase"), (PASSPHRASE, PASSPHRASE)],
    ids=["different-passwords", "double-submit"],
)
def test_two_first_sign_ups_at_once(smtp_mailer, passwords):
    """Whichever creates the account, the other is a repeated sign-up, whether it saw the
    account (and was told to wait) or lost the race to create it: different passwords
    contest the address, a double submit of one password does not."""
    chosen = iter(passwords)
    at_once(
        2,
        lambda: signup_service(
            email="ada@example.com", password=next(chosen), display_name="", client=CLIENT
        ),
    )
    assert User.objects.count() == 1
    code = code_in_mail(smtp_mailer.messages[-1])
    assert verify(APIClient(), code).status_code == HTTPStatus.OK
    signed_in = [login(APIClient(), p).status_code == HTTPStatus.OK for p in set(passwords)]
    assert signed_in == ([True] if len(set(passwords)) == 1 else [False, False])


def test_a_contest_racing_a_sign_up_with_the_registered_password_still_holds(
    api_client, smtp_mailer
):
    signup(APIClient(), password="the squatter's passphrase")
    with time_machine.travel(time.time() + LATER, tick=False):
        chosen = iter(["the squatter's passphrase", "the owner's own passphrase"])
        at_once(
            2,
            lambda: signup_service(
                email="ada@example.com", password=next(chosen), display_name="", client=CLIENT
            ),
        )
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
    assert login(APIClient(), "the squatter's passphrase").json()["code"] == "invalid_credentials"


def test_a_contest_outlives_a_code_entered_while_the_account_was_deactivated(
    api_client, smtp_mailer
):
    signup(APIClient(), password="the squatter's passphrase")
    user_set_active(user=User.objects.get(), active=False)
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(api_client, password="the owner's own passphrase")
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).json()["code"] == (
            "code_invalid"
        )
    user_set_active(user=User.objects.get(), active=True)
    with time_machine.travel(time.time() + 2 * LATER, tick=False):
        api_client.post(RESEND, {"email": "ada@example.com"}, format="json")
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
    assert login(APIClient(), "the squatter's passphrase").json()["code"] == "invalid_credentials"


def test_a_code_for_an_address_the_account_moved_away_from_opens_nothing(api_client, smtp_mailer):
    """A sign-up's code may leave just as the account moves to another address (its
    codes for the old one are ended first): it must not open the moved account."""
    signup(api_client)
    code = code_in_mail(smtp_mailer.messages[-1])
    User.objects.update(email="moved@example.net", email_verified_at=timezone.now())
    assert verify(api_client, code).json()["code"] == "code_invalid"


def test_an_address_change_ends_the_contest_mark_of_the_old_address(
    api_client, smtp_mailer, settings
):
    settings.KEYHOUSE_LOGIN_REQUIRES_VERIFIED_EMAIL = False
    signup(api_client, password="the registrant's passphrase")
    session = login(api_client, "the registrant's passphrase").json()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {session['access_token']}"}
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(APIClient(), password="someone else's passphrase")
        assert User.objects.get().email_contested_at is not None
        api_client.post("/api/v1/me/email", {"email": "mine@example.net"}, format="json", **bearer)
        confirmed = api_client.post(
            "/api/v1/me/email/verify",
            {"code": code_in_mail(smtp_mailer.messages[-1])},
            format="json",
            **bearer,
        )
        assert confirmed.status_code == HTTPStatus.OK, confirmed.content
    user = User.objects.get()
    assert (user.email, user.email_contested_at) == ("mine@example.net", None)


@pytest.mark.parametrize(
    ("new_email", "mark_kept"),
    [("ada.real@example.org", False), ("Ada@example.com", True)],
    ids=["another-address", "same-address-in-capitals"],
)
def test_an_admin_correcting_a_contested_address_drops_the_mark(
    api_client, smtp_mailer, client, admin_user, new_email, mark_kept
):
    signup(api_client, password="the registrant's passphrase")
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(APIClient(), password="someone else's passphrase")
    user = User.objects.get(email="ada@example.com")
    client.force_login(admin_user)
    form = {
        "email": new_email,
        "display_name": "",
        "phone": "",
        "is_active": "on",
        "login_sessions-TOTAL_FORMS": "0",
        "login_sessions-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/users/user/{user.pk}/change/", form)
    assert response.status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.email == new_email
    assert (user.email_contested_at is not None) is mark_kept
    assert user.check_password("the registrant's passphrase")


def test_a_password_set_in_a_contested_account_does_not_survive_the_owner_verifying(
    api_client, smtp_mailer, sms_outbox, settings
):
    """Where sign-in before verifying is allowed, the first registrant may set a new
    password in their session after the owner contested the address: the owner's
    code still hands the account over."""
    settings.KEYHOUSE_LOGIN_REQUIRES_VERIFIED_EMAIL = False
    signup(api_client, password="the squatter's passphrase")
    squatter = login(api_client, "the squatter's passphrase").json()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {squatter['access_token']}"}
    with time_machine.travel(time.time() + LATER, tick=False):
        owner = APIClient()
        signup(owner, password="the owner's own passphrase")
        changed = api_client.post(
            "/api/v1/me/password",
            {"current_password": "the squatter's passphrase", "new_password": "a comeback phrase"},
            format="json",
            **bearer,
        )
        assert changed.status_code == HTTPStatus.NO_CONTENT, changed.content
        code = next(
            code_in_mail(m)
            for m in reversed(smtp_mailer.messages)
            if "verify" in m["Subject"].lower()
        )
        assert verify(owner, code).status_code == HTTPStatus.OK
        assert login(APIClient(), "a comeback phrase").json()["code"] == "invalid_credentials"
        assert api_client.get("/api/v1/me", **bearer).status_code == HTTPStatus.UNAUTHORIZED


def test_a_sign_up_never_touches_an_admin_account_whose_address_is_unverified(
    client, admin_user, password
):
    """Admins created by createsuperuser or the admin have unverified addresses; a
    stranger's sign-up with one only mails a code, and the admin still signs in."""
    assert admin_user.email_verified_at is None
    signup(APIClient(), email=admin_user.email, password="whatever a stranger types")
    admin_user.refresh_from_db()
    assert admin_user.check_password(password)
    response = client.post("/admin/login/", {"username": admin_user.email, "password": password})
    assert response.status_code == HTTPStatus.FOUND


@pytest.mark.parametrize("first", ["owner", "intruder"])
def test_two_sign_ups_with_different_passwords_at_once_set_neither(api_client, smtp_mailer, first):
    """The owner and someone else both sign up while a code is live, in either order:
    the owner verifies with the newest code, is signed in, and sets a password by reset."""
    passwords = {"owner": "the owner's own passphrase", "intruder": "the intruder's passphrase"}
    second = "intruder" if first == "owner" else "owner"
    signup(api_client, password=passwords[first])
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(api_client, password=passwords[second])
        verified = verify(api_client, code_in_mail(smtp_mailer.messages[-1]))
        assert verified.status_code == HTTPStatus.OK
        for password in passwords.values():
            assert login(api_client, password).json()["code"] == "invalid_credentials"
    assert not User.objects.get().has_usable_password()

    with time_machine.travel(time.time() + 2 * LATER, tick=False):
        assert forgot_and_reset(
            api_client, smtp_mailer, "the owner's new passphrase"
        ).status_code == (HTTPStatus.OK)
        assert login(api_client, "the owner's new passphrase").status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "settings_override",
    [{}, {"KEYHOUSE_LOGIN_REQUIRES_VERIFIED_EMAIL": False}],
    ids=["login-needs-verified-email", "unverified-login-allowed"],
)
def test_an_address_registered_by_someone_else_cannot_be_hijacked(
    api_client, smtp_mailer, sms_outbox, settings, settings_override
):
    """Someone registers the owner's address first, and where sign-in before verifying
    is allowed, signs in and adds their own phone. Long after, the owner signs up and
    verifies: the squatter's password, sessions and phone are gone, and the owner sets
    a password of their own by reset."""
    for name, value in settings_override.items():
        setattr(settings, name, value)
    signup(api_client, password="the squatter's passphrase")
    squatter_session = None
    if not settings.KEYHOUSE_LOGIN_REQUIRES_VERIFIED_EMAIL:
        squatter_session = login(api_client, "the squatter's passphrase").json()
        phone_added(api_client, squatter_session, sms_outbox)
    with time_machine.travel(time.time() + EXPIRED, tick=False):
        signup(api_client, password="the owner's own passphrase")
        owner_code = code_in_mail(smtp_mailer.messages[-1])
        assert verify(api_client, owner_code).status_code == HTTPStatus.OK

        for password in ("the squatter's passphrase", "the owner's own passphrase"):
            assert login(api_client, password).json()["code"] == "invalid_credentials"
        user = User.objects.get()
        assert user.phone is None
        assert user.phone_verified_at is None
        sms_outbox.clear()
        by_phone = phone_sign_in(APIClient(), sms_outbox)
        assert by_phone is None or by_phone.json().get("user", {}).get("id") != str(user.pk)
        if squatter_session is not None:
            refreshed = api_client.post(
                "/api/v1/auth/token/refresh",
                {"refresh_token": squatter_session["refresh_token"]},
                format="json",
            )
            assert refreshed.status_code == HTTPStatus.UNAUTHORIZED
        assert forgot_and_reset(
            api_client, smtp_mailer, "the owner's new passphrase"
        ).status_code == (HTTPStatus.OK)
        assert login(api_client, "the owner's new passphrase").status_code == HTTPStatus.OK


@pytest.mark.parametrize("owner_step", ["verifies-the-newest-code", "asks-for-a-resend"])
def test_a_sign_up_after_the_owners_code_expired_cannot_take_the_account(
    api_client, smtp_mailer, owner_step
):
    """The owner signs up and lets the code lapse; someone else then signs up with their
    own password. Whatever code the owner enters next, nobody's password is set by it."""
    signup(api_client, password="the owner's own passphrase")
    with time_machine.travel(time.time() + EXPIRED, tick=False):
        signup(APIClient(), password="the squatter's passphrase")
    with time_machine.travel(time.time() + EXPIRED + LATER, tick=False):
        if owner_step == "asks-for-a-resend":
            resent = api_client.post(RESEND, {"email": "ada@example.com"}, format="json")
            assert resent.status_code == HTTPStatus.ACCEPTED
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
        assert login(APIClient(), "the squatter's passphrase").json()["code"] == (
            "invalid_credentials"
        )
    assert not User.objects.get().has_usable_password()


def test_signing_up_again_with_the_same_password_keeps_sessions_and_phone(
    api_client, smtp_mailer, sms_outbox, settings
):
    """Only someone who knows the account's password could have signed in before, so a
    repeated sign-up with that password, once verified, takes nothing away."""
    settings.KEYHOUSE_LOGIN_REQUIRES_VERIFIED_EMAIL = False
    signup(api_client)
    session = login(api_client, PASSPHRASE).json()
    phone_added(api_client, session, sms_outbox)
    with time_machine.travel(time.time() + EXPIRED, tick=False):
        signup(api_client)
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
        refreshed = api_client.post(
            "/api/v1/auth/token/refresh", {"refresh_token": session["refresh_token"]}, format="json"
        )
        assert refreshed.status_code == HTTPStatus.OK
    assert User.objects.get().phone == SQUATTER_PHONE


def test_a_contested_address_stays_contested_until_a_code_is_entered(api_client, smtp_mailer):
    """Once someone signed up with another password, the registrant signing up again
    with their own cannot tell the owner from the other: the code still sets none."""
    signup(api_client)
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(APIClient(), password="someone else's passphrase")
    with time_machine.travel(time.time() + EXPIRED, tick=False):
        signup(api_client)
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
        assert login(api_client, PASSPHRASE).json()["code"] == "invalid_credentials"
    assert not User.objects.get().has_usable_password()


def test_a_password_hashed_the_old_way_counts_as_another_on_a_repeated_sign_up(
    api_client, smtp_mailer
):
    """Checking an older, slower hash would make a registered address answer slower;
    it is not checked, so signing up again with it contests the address."""
    signup(api_client)
    pbkdf2 = PBKDF2PasswordHasher()
    User.objects.update(password=pbkdf2.encode(PASSPHRASE, pbkdf2.salt()))
    with time_machine.travel(time.time() + LATER, tick=False):
        signup(api_client)
        assert verify(api_client, code_in_mail(smtp_mailer.messages[-1])).status_code == (
            HTTPStatus.OK
        )
    assert not User.objects.get().has_usable_password()


def test_login_before_verifying_is_refused(api_client, smtp_mailer):
    signup(api_client)
    response = api_client.post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSPHRASE}, format="json"
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "email_not_verified"


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
    assert not User.objects.get().email_verified


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
    assert smtp_mailer.messages == []


def test_password_errors_carry_their_codes(api_client, db):
    response = signup(api_client, password="short")
    codes = {error["code"] for error in response.json()["errors"]["password"]}
    assert "password_too_short" in codes


def test_addresses_are_normalised_before_storage(api_client, smtp_mailer):
    signup(api_client, email="  Ada@BÜCHER.Example ")
    assert User.objects.get().email == "Ada@xn--bcher-kva.example"
    assert smtp_mailer.messages[0]["To"] == "Ada@xn--bcher-kva.example"
    code = code_in_mail(smtp_mailer.messages[0])
    assert verify(api_client, code, email="ada@bücher.example").status_code == HTTPStatus.OK


def test_a_long_passphrase_is_accepted(api_client, smtp_mailer):
    assert signup(api_client, password="w" * 3 + " ".join(["tangerine"] * 12)).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_concurrent_signups_in_different_case_create_one_user(settings):
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
    assert User.objects.filter(email__iexact="race@example.com").count() == 1
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
