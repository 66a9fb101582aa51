from __future__ import annotations

from rest_framework import serializers

from keyhouse.audit.models import AuditEvent


class AuditEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ("id", "type", "created_at", "ip", "user_agent", "detail")
        read_only_fields = fields


class AuditEventsInputSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
