from __future__ import annotations

from datetime import datetime

from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "keyhouse.delivery"
    label = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        from keyhouse.delivery import checks  # noqa: F401 - registers the system checks

    def purge_expired(self, *, now: datetime) -> int:
        """Delete old delivery records; called by ``manage.py purge_expired``."""
        from keyhouse.delivery.services import delivery_purge_old

        return delivery_purge_old(now=now)
