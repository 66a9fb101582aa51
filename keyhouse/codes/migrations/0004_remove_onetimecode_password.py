from django.db import migrations
from django.utils import timezone


def contests_to_accounts(apps, schema_editor):
    """A code that carried a password other than its account's (a later sign-up's, or
    none usable) contested its unverified address; the mark now lives on the account."""
    OneTimeCode = apps.get_model("codes", "OneTimeCode")
    User = apps.get_model("users", "User")
    carried = OneTimeCode.objects.exclude(password="").filter(
        user__email_verified_at__isnull=True
    )
    contested = {
        user_id
        for user_id, password, account_password in carried.values_list(
            "user_id", "password", "user__password"
        )
        if password != account_password
    }
    User.objects.filter(pk__in=contested).update(email_contested_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("codes", "0003_onetimecode_password"),
        ("users", "0004_user_email_contested_at"),
    ]

    operations = [
        migrations.RunPython(contests_to_accounts, migrations.RunPython.noop),
        migrations.RemoveField(model_name="onetimecode", name="password"),
    ]
