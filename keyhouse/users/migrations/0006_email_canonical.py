"""Store every address in its canonical form (``email_canonical``): lower-cased whole.

Addresses were stored with their local part's capitals ("Ada@example.com"), although
they were unique and looked up case-insensitively. Now every use of an address takes
one form; this lower-cases the local parts stored before. The unique index on
LOWER(email) already kept apart the addresses that differ only by case, so no two
accounts can end with one address.
"""

from django.db import migrations
from django.db.models import F
from django.db.models.functions import Lower

from keyhouse.users.emails import email_canonical


def emails_canonical(apps, schema_editor):
    User = apps.get_model("users", "User")
    mixed_case = User.objects.exclude(email="").exclude(email=Lower(F("email")))
    for user in mixed_case.only("pk", "email").iterator():
        User.objects.filter(pk=user.pk).update(email=email_canonical(user.email))


class Migration(migrations.Migration):
    dependencies = [("users", "0005_remove_user_email_contested_at")]

    operations = [migrations.RunPython(emails_canonical, migrations.RunPython.noop)]
