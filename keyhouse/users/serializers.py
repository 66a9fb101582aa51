from __future__ import annotations

from rest_framework import serializers

from keyhouse.users.models import User


class UserOutputSerializer(serializers.Serializer):
    """The user as the API shows it.

    Declared field by field rather than as a ModelSerializer, which inspects the model
    anew for every instance: this one is rendered on every ``GET /api/v1/me``.
    """

    id = serializers.UUIDField(read_only=True)
    email = serializers.SerializerMethodField()
    email_verified = serializers.BooleanField(read_only=True)
    phone = serializers.CharField(read_only=True, allow_null=True)
    phone_verified = serializers.BooleanField(read_only=True)
    display_name = serializers.CharField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)

    def get_email(self, user: User) -> str | None:
        return user.email or None


_USER_OUTPUT = UserOutputSerializer()


def user_output(user: User) -> dict:
    """Render ``user`` with one serializer bound at import: binding a serializer's fields
    costs several times what rendering them does, and this runs on every token response
    and ``GET /api/v1/me``. Rendering keeps no state, so threads can share it."""
    return _USER_OUTPUT.to_representation(user)
