from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from keyhouse.core.fields import StrictCharField
from keyhouse.tokens.serializers import TokenTransportInputSerializer
from keyhouse.users.managers import normalize_email
from keyhouse.users.models import User

PASSWORD_MAX_LENGTH = 4096


def _password_field() -> StrictCharField:
    return StrictCharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)


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
        """Apply the password policy (NIST SP 800-63B) with the user's own details."""
        candidate = User(email=attrs["email"], display_name=attrs["display_name"])
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            errors = [
                serializers.ErrorDetail(message, code=error.code)
                for error in exc.error_list
                for message in error.messages
            ]
            raise serializers.ValidationError({"password": errors}) from exc
        return attrs


class EmailInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)

    def validate_email(self, email: str) -> str:
        return normalize_email(email)


class EmailVerifyInputSerializer(TokenTransportInputSerializer, EmailInputSerializer):
    code = StrictCharField(max_length=16)


class AcceptedOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()
