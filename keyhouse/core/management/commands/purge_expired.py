"""``manage.py purge_expired``: delete the records each app no longer needs. Safe for cron."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.utils import timezone


class Command(BaseCommand):
    help = (
        "Delete expired records: every installed app whose AppConfig has a "
        "purge_expired(now=...) method removes its own and reports how many."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        for app_config in apps.get_app_configs():
            purge = getattr(app_config, "purge_expired", None)
            if purge is not None:
                removed = purge(now=now)
                self.stdout.write(f"{app_config.verbose_name}: {removed} removed")
