"""Turn the accounts that sign-up made and nobody verified into pending sign-ups.

Sign-up used to create the account at once, before anyone had proven the address;
now it keeps a pending sign-up and creates the account when the code comes back, and
an unverified address no longer stops its account from signing in. This migration
moves the accounts whose address is unverified and that show no sign of use: active,
never signed in (no ``last_login``, no session of any age), no phone number, no staff
or superuser flag, no groups and no permissions.

Among them, sign-up made those whose audit trail records their sign-up by email (a
``signed_up`` event), and only those: a verification code or email proves nothing, as
the old resend mailed codes to any unverified account.

- An account that sign-up made with a live verification code becomes a pending
  sign-up of its address (its password hash and display name) bound to that code, and
  the account row goes: entering the code creates the account as a sign-up now does.
  If the address had been claimed by a second sign-up with another password
  (``email_contested_at``), the pending sign-up carries no usable password: whoever
  enters the code sets one by reset, as before.
- An account that sign-up made whose code is no longer live (expired, used up or
  replaced without a successor) is deleted: its sign-up is over, and the address can
  sign up again. Its audit events and delivery records stay, no longer tied to it,
  until their own retention ends.
- Any other such account (made by a script or import, or by a sign-up whose records
  have all been purged) stays, but its password becomes unusable: whoever chose it
  never proved the address, and would otherwise sign in with it now. Its owner sets a
  password by reset, which proves the address.

Accounts the admin added or changed (an admin log entry) stay as they are, whatever
made them: an operator has looked after them.

Every account outside that set stays as it is: verified ones, those ``createsuperuser``
made, phone accounts, accounts that signed in or have a session, and deactivated ones.

Reversing the migration deletes the pending sign-ups; it cannot bring accounts back
or restore passwords.
"""

from django.contrib.admin.models import ADDITION, CHANGE
from django.contrib.auth.hashers import make_password
from django.db import migrations
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from keyhouse.users.emails import email_canonical

VERIFY_EMAIL = "verify_email"
SIGNED_UP = "signed_up"


def _unverified_unused_accounts(apps):
    """The accounts with an unverified address and no sign of use, each marked
    ``signed_up`` if sign-up made it (see the module's notes)."""
    User = apps.get_model("users", "User")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    LoginSession = apps.get_model("tokens", "LoginSession")
    # Sign-up by email records no "by"; excluding by="phone" alone would drop those
    # events too, as SQL's comparison of the missing key with "phone" is NULL.
    signed_up = AuditEvent.objects.filter(
        Q(detail__by__isnull=True) | ~Q(detail__by="phone"), user=OuterRef("pk"), type=SIGNED_UP
    )
    return list(
        User.objects.exclude(email="")
        .filter(
            email_verified_at__isnull=True,
            is_active=True,
            is_staff=False,
            is_superuser=False,
            last_login__isnull=True,
            phone__isnull=True,
            groups__isnull=True,
            user_permissions__isnull=True,
        )
        .exclude(Exists(LoginSession.objects.filter(user=OuterRef("pk"))))
        .annotate(signed_up=Exists(signed_up))
        .distinct()
    )


def _touched_in_admin(apps) -> set[str]:
    """The primary keys, as text, of the accounts the admin added or changed."""
    # The admin's log names the account by str(pk), text a query cannot match with a
    # UUID column the same way on every database: compared in Python instead.
    return set(
        apps.get_model("admin", "LogEntry")
        .objects.filter(
            content_type__app_label="users",
            content_type__model="user",
            action_flag__in=[ADDITION, CHANGE],
        )
        .values_list("object_id", flat=True)
    )


def _signup_to_pending(apps, user, now) -> None:
    """Keep sign-up's account ``user`` as a pending sign-up if its code is live; delete it."""
    OneTimeCode = apps.get_model("codes", "OneTimeCode")
    email = email_canonical(user.email)
    code = (
        OneTimeCode.objects.filter(
            user=user,
            purpose=VERIFY_EMAIL,
            target=email,
            consumed_at__isnull=True,
            invalidated_at__isnull=True,
            expires_at__gt=now,
        )
        .order_by("-created_at")
        .first()
    )
    if code is not None:
        code.user = None
        code.save(update_fields=["user"])
        apps.get_model("accounts", "PendingSignup").objects.create(
            email=email,
            password=make_password(None) if user.email_contested_at else user.password,
            display_name=user.display_name,
            code=code,
        )
    user.delete()


def signups_to_pending(apps, schema_editor):
    now = timezone.now()
    touched_in_admin = _touched_in_admin(apps)
    for user in _unverified_unused_accounts(apps):
        if str(user.pk) in touched_in_admin:
            continue
        if user.signed_up:
            _signup_to_pending(apps, user, now)
        else:
            user.password = make_password(None)
            user.save(update_fields=["password"])


def pending_to_nothing(apps, schema_editor):
    apps.get_model("accounts", "PendingSignup").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("audit", "0003_alter_auditevent_type"),
        ("codes", "0004_remove_onetimecode_password"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("delivery", "0001_initial"),
        ("tokens", "0002_signing_key_activation"),
        ("users", "0004_user_email_contested_at"),
    ]

    operations = [migrations.RunPython(signups_to_pending, pending_to_nothing)]
