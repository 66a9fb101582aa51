"""Request bodies as ``@supabase/auth-js`` sends them; Keyhouse's own fields check them."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyhouse.accounts.serializers import (
    AddressField,
    NewPasswordField,
    PasswordField,
    PhoneField,
    SignupInputSerializer,
)
from keyhouse.core.fields import OneTimeCodeField, StrictCharField
from keyhouse.mfa.serializers import TotpCodeField
from keyhouse.users.emails import email_canonical

# GoTrue's ``data`` keys that Keyhouse reads as the display name at sign-up.
DISPLAY_NAME_KEYS = ("display_name", "full_name", "name")


class GoTrueSignupInputSerializer(SignupInputSerializer):
    """Keyhouse's sign-up, with the display name read from GoTrue's ``data``."""

    email = AddressField(required=False)
    phone = PhoneField(required=False)
    data = serializers.DictField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "email" not in attrs:
            raise serializers.ValidationError(
                {"email": ["Sign up by email; a phone number signs up with a code (POST /otp)."]}
            )
        name = next((attrs["data"][k] for k in DISPLAY_NAME_KEYS if k in attrs["data"]), "")
        attrs["display_name"] = name[:150] if isinstance(name, str) else ""
        return super().validate(attrs)


class GoTruePasswordGrantInputSerializer(serializers.Serializer):
    # Not an AddressField: a malformed address fails like an unknown one.
    email = StrictCharField(max_length=254, required=False)
    phone = PhoneField(required=False)
    password = PasswordField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["email"] = email_canonical(attrs.get("email", ""))
        return attrs


class GoTrueRefreshGrantInputSerializer(serializers.Serializer):
    refresh_token = StrictCharField(max_length=512)


class GoTrueOtpInputSerializer(serializers.Serializer):
    email = AddressField(required=False)
    phone = PhoneField(required=False)
    channel = serializers.ChoiceField(choices=("sms",), default="sms")
    create_user = serializers.BooleanField(default=True)
    data = serializers.DictField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("email" in attrs) == ("phone" in attrs):
            raise serializers.ValidationError("Send either an email or a phone.")
        return attrs


VERIFY_TYPES = ("signup", "email", "recovery", "sms", "email_change", "phone_change")


class GoTrueVerifyInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=VERIFY_TYPES)
    token = OneTimeCodeField()
    email = AddressField(required=False)
    phone = PhoneField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        wants = "phone" if attrs["type"] in ("sms", "phone_change") else "email"
        if wants not in attrs:
            raise serializers.ValidationError({wants: ["This field is required."]})
        return attrs


class GoTrueResendInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=("signup", "sms"))
    email = AddressField(required=False)
    phone = PhoneField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        wants = "phone" if attrs["type"] == "sms" else "email"
        if wants not in attrs:
            raise serializers.ValidationError({wants: ["This field is required."]})
        return attrs


class GoTrueRecoverInputSerializer(serializers.Serializer):
    email = AddressField()


class GoTrueUserUpdateInputSerializer(serializers.Serializer):
    email = AddressField(required=False)
    phone = PhoneField(required=False)
    password = NewPasswordField(required=False)
    current_password = PasswordField(required=False)
    nonce = OneTimeCodeField(required=False)
    data = serializers.DictField(required=False)


class GoTrueFactorEnrolInputSerializer(serializers.Serializer):
    factor_type = serializers.ChoiceField(choices=("totp", "phone", "webauthn"))
    friendly_name = StrictCharField(max_length=64, required=False, allow_blank=True)
    issuer = StrictCharField(max_length=255, required=False, allow_blank=True)


class GoTrueFactorVerifyInputSerializer(serializers.Serializer):
    challenge_id = StrictCharField(max_length=512)
    code = TotpCodeField()
