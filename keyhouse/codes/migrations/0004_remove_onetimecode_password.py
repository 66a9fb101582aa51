from django.db import migrations
from django.utils import timezone


def contests_to_accounts(apps, schema_editor):
    """A code that carried a password marked its unverified address as contested; the
    mark now lives on the account."""
    OneTimeCode = apps.get_model("codes", "OneTimeCode")
    User = apps.get_model("users", "User")
    contested = OneTimeCode.objects.exclude(password="").values("user_id")
    User.objects.filter(pk__in=contested, email_verified_at__isnull=True).update(
        email_contested_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("codes", "0003_onetimecode_password"),
        ("users", "0004_user_email_contested_at"),
    ]

    operations = [
        migrations.RunPython(contests_to_accounts, migrations.RunPython.noop),
        migrations.RemoveField(model_name="onetimecode", name="password"),
    ]
