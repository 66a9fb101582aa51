from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyhouse.core.fields import OneTimeCodeField, StrictCharField
from keyhouse.mfa.serializers import PasskeyAnswerInputSerializer, TotpCodeField
from keyhouse.tokens.serializers import TokenTransportInputSerializer
from keyhouse.users.emails import email_canonical, validate_email_domain
from keyhouse.users.models import User
from keyhouse.users.services import user_password_validate

PASSWORD_MAX_LENGTH = 4096
EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a path, as User.email


class AddressField(serializers.EmailField):
    """An email address in its canonical form, and within the limit in that form (an
    internationalised domain grows when it is IDNA-encoded); like User.email, it
    refuses a domain IDNA cannot encode, which no mail could reach."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=EMAIL_MAX_LENGTH, validators=[validate_email_domain], **kwargs)

    def to_internal_value(self, data: Any) -> str:
        email = email_canonical(super().to_internal_value(data))
        if len(email) > EMAIL_MAX_LENGTH:
            self.fail("max_length", max_length=EMAIL_MAX_LENGTH)
        return email


class PasswordField(StrictCharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, **kwargs)


class NewPasswordField(PasswordField):
    """A password being chosen: the policy judges it (``user_password_validate``), with
    its own error codes, and the OpenAPI document declares its minimum length."""


class PhoneField(StrictCharField):
    """A phone number as typed; ``phone_normalize`` reads it as E.164, or refuses it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=32, **kwargs)


class LoginInputSerializer(TokenTransportInputSerializer):
    # Not an AddressField: a malformed address fails like an unknown one (401), so that
    # the answer never tells which addresses Keyhouse would accept.
    email = StrictCharField(max_length=254)
    password = PasswordField()

    def validate_email(self, value: str) -> str:
        return email_canonical(value)


class SignupInputSerializer(serializers.Serializer):
    email = AddressField()
    password = NewPasswordField()
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
    new_password = NewPasswordField()


class ReauthenticateInputSerializer(serializers.Serializer):
    password = PasswordField(required=False)
    code = OneTimeCodeField(
        required=False,
        help_text="A code sent to the verified phone, or to the verified email of an account "
        "with no verified phone.",
    )
    totp_code = TotpCodeField(required=False)
    passkey = PasskeyAnswerInputSerializer(required=False)
    exactly_one_of = ("password", "code", "totp_code", "passkey")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if sum(name in attrs for name in self.exactly_one_of) != 1:
            raise serializers.ValidationError(
                "Send one of password, code, totp_code or passkey.", code="invalid"
            )
        return attrs


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = PasswordField(required=False)
    new_password = NewPasswordField()


class CodeInputSerializer(serializers.Serializer):
    code = OneTimeCodeField()


class ProfileUpdateInputSerializer(serializers.Serializer):
    """The fields to change: any of them, or none."""

    display_name = StrictCharField(max_length=150, allow_blank=True, required=False)


class PhoneInputSerializer(serializers.Serializer):
    phone = PhoneField(
        help_text="E.164, e.g. +14155550100; spaces, dashes, dots and brackets are ignored."
    )


class PhoneVerifyInputSerializer(TokenTransportInputSerializer, PhoneInputSerializer):
    code = OneTimeCodeField()
