from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyhouse.core.fields import OneTimeCodeField, StrictCharField
from keyhouse.mfa.serializers import TotpCodeField
from keyhouse.tokens.serializers import TokenTransportInputSerializer
from keyhouse.users.managers import normalize_email, validate_email_domain
from keyhouse.users.models import User
from keyhouse.users.services import user_password_validate

PASSWORD_MAX_LENGTH = 4096
EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a path, as User.email


class AddressField(serializers.EmailField):
    """An email address, normalised as stored, and within the limit once normalised
    (an internationalised domain grows when it is IDNA-encoded); like User.email, it
    refuses a domain IDNA cannot encode, which no mail could reach."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=EMAIL_MAX_LENGTH, validators=[validate_email_domain], **kwargs)

    def to_internal_value(self, data: Any) -> str:
        email = normalize_email(super().to_internal_value(data))
        if len(email) > EMAIL_MAX_LENGTH:
            self.fail("max_length", max_length=EMAIL_MAX_LENGTH)
        return email


def _password_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, **kwargs)


class LoginInputSerializer(TokenTransportInputSerializer):
    email = StrictCharField(max_length=254)
    password = _password_field()


class SignupInputSerializer(serializers.Serializer):
    email = AddressField()
    password = _password_field()
    display_name = StrictCharField(max_length=150, required=False, default="", allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(email=attrs["email"], display_name=attrs["display_name"])
        user_password_validate(user=candidate, password=attrs["password"])
        return attrs


class EmailInputSerializer(serializers.Serializer):
    email = AddressField()


class EmailVerifyInputSerializer(TokenTransportInputSerializer, EmailInputSerializer):
    code = OneTimeCodeField()


class AcceptedOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()


class PasswordResetInputSerializer(EmailInputSerializer):
    code = OneTimeCodeField()
    new_password = _password_field()


class ReauthenticateInputSerializer(serializers.Serializer):
    password = _password_field(required=False)
    code = OneTimeCodeField(required=False, help_text="A phone sign-in code.")
    totp_code = TotpCodeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError(
                "Send one of password, code or totp_code.", code="invalid"
            )
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
