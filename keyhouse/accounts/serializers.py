from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyhouse.core.fields import OneTimeCodeField, StrictCharField
from keyhouse.tokens.serializers import TokenTransportInputSerializer
from keyhouse.users.managers import normalize_email
from keyhouse.users.models import User
from keyhouse.users.services import user_password_validate

PASSWORD_MAX_LENGTH = 4096


def _password_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, **kwargs)


class LoginInputSerializer(TokenTransportInputSerializer):
    email = StrictCharField(max_length=254)
    password = _password_field()


class SignupInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = _password_field()
    display_name = StrictCharField(max_length=150, required=False, default="", allow_blank=True)

    def validate_email(self, email: str) -> str:
        return normalize_email(email)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(email=attrs["email"], display_name=attrs["display_name"])
        user_password_validate(user=candidate, password=attrs["password"])
        return attrs


class EmailInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)

    def validate_email(self, email: str) -> str:
        return normalize_email(email)


class EmailVerifyInputSerializer(TokenTransportInputSerializer, EmailInputSerializer):
    code = OneTimeCodeField()


class AcceptedOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()


class PasswordResetInputSerializer(EmailInputSerializer):
    code = OneTimeCodeField()
    new_password = _password_field()


class ReauthenticateInputSerializer(serializers.Serializer):
    password = _password_field(required=False)
    code = OneTimeCodeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("password" in attrs) == ("code" in attrs):
            raise serializers.ValidationError("Send either a password or a code.", code="invalid")
        return attrs


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = _password_field(required=False)
    new_password = _password_field()


class CodeInputSerializer(serializers.Serializer):
    code = OneTimeCodeField()


class ProfileUpdateInputSerializer(serializers.Serializer):
    display_name = StrictCharField(max_length=150, allow_blank=True)


class PhoneInputSerializer(serializers.Serializer):
    phone = StrictCharField(max_length=32, help_text="E.164, e.g. +14155550100.")


class PhoneVerifyInputSerializer(TokenTransportInputSerializer, PhoneInputSerializer):
    code = OneTimeCodeField()
