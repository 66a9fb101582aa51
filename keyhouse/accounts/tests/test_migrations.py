"""The migration that turns the accounts sign-up made unverified into pending sign-ups.

The old state is built with the models as they were (accounts made by sign-up before
their address was proven), the migrations run on it, and the outcome is checked on
the rows and through the API.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.admin.models import ADDITION, CHANGE
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from keyhouse.accounts.models import PendingSignup
from keyhouse.codes.models import OneTimeCode, Purpose
from keyhouse.codes.services import code_issue
from keyhouse.testing import code_in_mail
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = (("accounts", "0001_initial"), ("users", "0004_user_email_contested_at"))
PASSPHRASE = "the registrant's own passphrase"
NEW = "the owner's new passphrase"


def migrate(targets: list[tuple[str, str]] | None = None):
    """Migrate the apps of ``targets`` to them and the others to their latest migrations
    (all of them if None); return the apps of that state."""
    executor = MigrationExecutor(connection)
    targets = targets or []
    named = {app for app, _name in targets}
    targets += [leaf for leaf in executor.loader.graph.leaf_nodes() if leaf[0] not in named]
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps():
    """The models before pending sign-ups; the latest state is restored afterwards."""
    apps = migrate(list(BEFORE))
    yield apps
    migrate()


class OldState:
    """Accounts as sign-up, the admin and phone sign-in made them before."""

    def __init__(self, apps) -> None:
        self.apps = apps
        self.User = apps.get_model("users", "User")

    def account(self, email: str, **fields):
        fields.setdefault("password", make_password(PASSPHRASE))
        return self.User.objects.create(email=email, **fields)

    def signed_up(self, email: str, **fields):
        user = self.account(email, **fields)
        self.apps.get_model("audit", "AuditEvent").objects.create(type="signed_up", user=user)
        return user

    def code(self, user, *, expired: bool = False) -> str:
        """Mail ``user`` a verification code as sign-up did; return the code."""
        issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=user.email)
        expires_at = timezone.now() - timedelta(minutes=1) if expired else None
        OneTimeCode.objects.filter(pk=issued.record.pk).update(
            user_id=user.pk, **({"expires_at": expires_at} if expired else {})
        )
        return issued.code

    def in_admin_log(self, user, action_flag: int = ADDITION) -> None:
        """Log that the admin added ``user`` (or changed it: ``CHANGE``)."""
        ContentType = self.apps.get_model("contenttypes", "ContentType")
        self.apps.get_model("admin", "LogEntry").objects.create(
            user=self.User.objects.get(is_superuser=True),
            content_type=ContentType.objects.get(app_label="users", model="user"),
            object_id=str(user.pk),
            object_repr=user.email,
            action_flag=action_flag,
        )


def login(email: str, password: str = PASSPHRASE):
    return APIClient().post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json"
    )


def test_unverified_sign_ups_become_pending_and_everything_else_stays(old_apps):
    old = OldState(old_apps)
    admin = old.account("root@example.com", is_staff=True, is_superuser=True)
    pending = old.signed_up("Ada@example.com", display_name="Ada")
    pending_code = old.code(pending)
    contested = old.signed_up("grace@example.com", email_contested_at=timezone.now())
    contested_code = old.code(contested)
    lapsed = old.signed_up("lapsed@example.com")
    old.code(lapsed, expired=True)
    kept = {
        "verified": old.signed_up("verified@example.com", email_verified_at=timezone.now()),
        "signed in": old.signed_up("used@example.com", last_login=timezone.now()),
        "with a phone": old.signed_up("phoned@example.com", phone="+14155550100"),
        "deactivated": old.signed_up("inactive@example.com", is_active=False),
        "phone only": old.account("", phone="+14155550101", password="!"),
        "superuser": admin,
    }
    kept["added in the admin"] = old.account("added@example.com")
    old.code(kept["added in the admin"])  # asked for a code, as the old resend sent one
    old.in_admin_log(kept["added in the admin"])
    kept["changed in the admin"] = old.account("changed@example.com")
    old.in_admin_log(kept["changed in the admin"], CHANGE)
    kept["signed up, then changed in the admin"] = old.signed_up("edited@example.com")
    old.code(kept["signed up, then changed in the admin"])
    old.in_admin_log(kept["signed up, then changed in the admin"], CHANGE)
    kept_without_password = {
        "no trace of sign-up": old.account("quiet@example.com"),
        "sign-up purged": old.account("purged@example.com", email_contested_at=timezone.now()),
        "imported, asked for a code": old.account("imported@example.com"),
        "imported, has a live code": old.account("coded@example.com"),
    }
    old.code(kept_without_password["imported, asked for a code"], expired=True)
    old.code(kept_without_password["imported, has a live code"])
    with_session = old.signed_up("session@example.com")
    now = timezone.now()
    old_apps.get_model("tokens", "LoginSession").objects.create(
        user=with_session, last_refreshed_at=now, authenticated_at=now, expires_at=now
    )
    kept["with a session"] = with_session

    migrate()

    assert set(User.objects.values_list("pk", flat=True)) == {
        u.pk for u in [*kept.values(), *kept_without_password.values()]
    }
    for name, old_user in kept.items():
        assert User.objects.get(pk=old_user.pk).password == old_user.password, name
    for name, old_user in kept_without_password.items():
        user = User.objects.get(pk=old_user.pk)
        assert not user.has_usable_password(), name
        assert login(user.email).status_code == HTTPStatus.UNAUTHORIZED, name
    assert login("added@example.com").status_code == HTTPStatus.OK
    assert set(PendingSignup.objects.values_list("email", "display_name")) == {
        ("ada@example.com", "Ada"),
        ("grace@example.com", ""),
    }
    assert not OneTimeCode.objects.filter(pending_signup__isnull=False, user__isnull=False)

    owner = APIClient()
    verified = owner.post(
        "/api/v1/auth/email/verify",
        {"email": "ada@example.com", "code": pending_code},
        format="json",
    )
    assert verified.status_code == HTTPStatus.OK, verified.content
    assert login("ada@example.com").status_code == HTTPStatus.OK

    claimed = owner.post(
        "/api/v1/auth/email/verify",
        {"email": "grace@example.com", "code": contested_code},
        format="json",
    )
    assert claimed.status_code == HTTPStatus.OK, claimed.content
    assert not User.objects.get(email="grace@example.com").has_usable_password()


def test_the_owner_of_a_kept_unproven_account_sets_its_password_by_reset(old_apps, smtp_mailer):
    old = OldState(old_apps)
    # Sign-up made it long ago; its event, code and delivery have been purged since.
    old.account("purged@example.com", email_contested_at=timezone.now())

    migrate()

    owner = APIClient()
    forgot = owner.post(
        "/api/v1/auth/password/forgot", {"email": "purged@example.com"}, format="json"
    )
    assert forgot.status_code == HTTPStatus.ACCEPTED
    (message,) = smtp_mailer.messages
    reset = owner.post(
        "/api/v1/auth/password/reset",
        {"email": "purged@example.com", "code": code_in_mail(message), "new_password": NEW},
        format="json",
    )
    assert reset.status_code == HTTPStatus.OK, reset.content
    assert login("purged@example.com", NEW).status_code == HTTPStatus.OK
    assert User.objects.get().email_verified_at is not None


def test_stored_addresses_take_their_canonical_form(old_apps):
    old = OldState(old_apps)
    mixed = old.account("Ada.Lovelace@Example.com", email_verified_at=timezone.now())
    phone = old.account("", phone="+14155550101", password="!")

    migrate()

    assert User.objects.get(pk=mixed.pk).email == "ada.lovelace@example.com"
    assert User.objects.get(pk=phone.pk).email == ""
