from __future__ import annotations

from rest_framework import serializers

from keyhouse.users.models import User


class UserOutputSerializer(serializers.ModelSerializer):
    email = serializers.SerializerMethodField()
    email_verified = serializers.BooleanField(read_only=True)
    phone_verified = serializers.BooleanField(read_only=True)
    phone = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "email_verified",
            "phone",
            "phone_verified",
            "display_name",
            "date_joined",
        )
        read_only_fields = fields

    def get_email(self, user: User) -> str | None:
        return user.email or None
