from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import ACTING_ADMIN


class AuditEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ("id", "type", "created_at", "ip", "user_agent", "detail")
        read_only_fields = fields

    def to_representation(self, event: AuditEvent) -> dict[str, Any]:
        """Show what an operator did to the account, but not who they are or where from."""
        data = super().to_representation(event)
        if ACTING_ADMIN in event.detail:
            detail = {key: value for key, value in event.detail.items() if key != ACTING_ADMIN}
            data.update(ip=None, user_agent="", detail=detail)
        return data


class AuditEventsInputSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
