"""Turn the accounts that sign-up made and nobody verified into pending sign-ups.

Sign-up used to create the account at once, before anyone had proven the address;
now it keeps a pending sign-up and creates the account when the code comes back.
This migration moves today's sign-ups in flight to the new shape:

- An account that sign-up made, whose address is unverified and that shows no sign of
  use, becomes a pending sign-up of its address (its password hash and display name)
  bound to its live verification code, and the account row goes: entering that code
  creates the account as a sign-up now does. If the address had been claimed by a
  second sign-up with another password (``email_contested_at``), the pending sign-up
  carries no usable password: whoever enters the code sets one by reset, as before.
- Such an account whose code is no longer live (expired, used up or replaced without
  a successor) is deleted: its sign-up is over, and the address can sign up again.

Sign-up made the account if the audit trail records its sign-up by email, or a
verification code or email was sent to it, and the admin did not add it. It shows no
sign of use if it is active, never signed in (no ``last_login``, no session), has no
phone number, no staff or superuser flag, no groups and no permissions.

Every other account stays as it is: those the admin or ``createsuperuser`` made,
phone accounts, accounts that signed in or were changed (possible where
KEYHOUSE_LOGIN_REQUIRES_VERIFIED_EMAIL was off), deactivated ones, and sign-up
accounts whose records have all been purged. Those with an unverified address can
sign in with their password from now on; the admin's "email verified: no" filter
lists them. Audit events and delivery records of a deleted account stay, no longer
tied to it, until their own retention ends.

Reversing the migration deletes the pending sign-ups; it cannot bring accounts back.
"""

from django.contrib.admin.models import ADDITION
from django.contrib.auth.hashers import make_password
from django.db import migrations
from django.db.models import Exists, OuterRef
from django.utils import timezone

from keyhouse.users.emails import email_canonical

VERIFY_EMAIL = "verify_email"
SIGNED_UP = "signed_up"


def _signup_accounts(apps):
    """The accounts that sign-up made, unverified and unused (see the module's notes)."""
    User = apps.get_model("users", "User")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    OneTimeCode = apps.get_model("codes", "OneTimeCode")
    Delivery = apps.get_model("delivery", "Delivery")
    LoginSession = apps.get_model("tokens", "LoginSession")
    LogEntry = apps.get_model("admin", "LogEntry")

    signed_up = AuditEvent.objects.filter(user=OuterRef("pk"), type=SIGNED_UP).exclude(
        detail__by="phone"
    )
    coded = OneTimeCode.objects.filter(user=OuterRef("pk"), purpose=VERIFY_EMAIL)
    mailed = Delivery.objects.filter(user=OuterRef("pk"), template=VERIFY_EMAIL)
    # The admin's log names the account it added by str(pk), text a query cannot match
    # with a UUID column the same way on every database: compared here instead.
    added_by_admin = set(
        LogEntry.objects.filter(
            content_type__app_label="users", content_type__model="user", action_flag=ADDITION
        ).values_list("object_id", flat=True)
    )
    accounts = (
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
        .filter(Exists(signed_up) | Exists(coded) | Exists(mailed))
        .exclude(Exists(LoginSession.objects.filter(user=OuterRef("pk"))))
        .distinct()
    )
    return [user for user in accounts if str(user.pk) not in added_by_admin]


def signups_to_pending(apps, schema_editor):
    OneTimeCode = apps.get_model("codes", "OneTimeCode")
    PendingSignup = apps.get_model("accounts", "PendingSignup")
    now = timezone.now()
    for user in _signup_accounts(apps):
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
            PendingSignup.objects.create(
                email=email,
                password=make_password(None) if user.email_contested_at else user.password,
                display_name=user.display_name,
                code=code,
            )
        user.delete()


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
