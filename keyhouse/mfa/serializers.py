from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyhouse.core.fields import OneTimeCodeField, StrictCharField
from keyhouse.mfa import totp
from keyhouse.mfa.models import TotpFactor
from keyhouse.mfa.services.recovery import recovery_code_normalize
from keyhouse.tokens.serializers import TokenTransportInputSerializer


class TotpCodeField(OneTimeCodeField):
    """The 6 digits an authenticator app shows, whatever KEYHOUSE_CODE_LENGTH says."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "The 6 digits the authenticator app shows.")
        super().__init__(length=totp.DIGITS, **kwargs)


class RecoveryCodeField(StrictCharField):
    """A recovery code, in any case, with or without spaces and hyphens."""

    default_error_messages = {
        **StrictCharField.default_error_messages,
        "recovery_code_format": "Enter a recovery code: 10 letters and digits.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=32, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        code = recovery_code_normalize(super().to_internal_value(data))
        if code is None:
            self.fail("recovery_code_format")
        return code


class MfaFactorOutputSerializer(serializers.ModelSerializer):
    type = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = TotpFactor
        fields = ("id", "type", "name", "status", "created_at", "confirmed_at", "last_used_at")
        read_only_fields = fields

    def get_type(self, factor: TotpFactor) -> str:
        return "totp"

    def get_status(self, factor: TotpFactor) -> str:
        return "confirmed" if factor.confirmed_at else "pending"


class MfaChallengeFactorOutputSerializer(serializers.ModelSerializer):
    type = serializers.SerializerMethodField()

    class Meta:
        model = TotpFactor
        fields = ("id", "type", "name")
        read_only_fields = fields

    def get_type(self, factor: TotpFactor) -> str:
        return "totp"


class MfaChallengeOutputSerializer(serializers.Serializer):
    mfa_required = serializers.BooleanField(default=True)
    mfa_token = serializers.CharField(help_text="Answer with POST /api/v1/auth/mfa/verify.")
    expires_in = serializers.IntegerField(help_text="Seconds the challenge lives.")
    factors = MfaChallengeFactorOutputSerializer(many=True)
    recovery_code = serializers.BooleanField(
        default=True, help_text="A recovery code may answer instead of a factor."
    )


class RecoveryCodesSummaryOutputSerializer(serializers.Serializer):
    remaining = serializers.IntegerField()


class MfaStatusOutputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Whether sign-ins ask for a second factor.")
    factors = MfaFactorOutputSerializer(many=True)
    recovery_codes = RecoveryCodesSummaryOutputSerializer()


class TotpEnrolInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=64, required=False, default="Authenticator app")


class TotpEnrolmentOutputSerializer(serializers.Serializer):
    factor = MfaFactorOutputSerializer()
    secret = serializers.CharField(help_text="Base32 seed, for typing into an app by hand.")
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="An SVG document showing otpauth_uri as a QR code.")
    expires_in = serializers.IntegerField(help_text="Seconds left to confirm the factor.")


class TotpConfirmInputSerializer(serializers.Serializer):
    code = TotpCodeField()


class TotpConfirmationOutputSerializer(serializers.Serializer):
    factor = MfaFactorOutputSerializer()
    recovery_codes = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="Ten new recovery codes, shown this once; null when the account had some.",
    )


class RecoveryCodesOutputSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Shown this once; each works once."
    )


class MfaVerifyInputSerializer(TokenTransportInputSerializer):
    mfa_token = StrictCharField(max_length=128)
    factor_id = serializers.UUIDField(required=False)
    code = TotpCodeField(required=False)
    recovery_code = RecoveryCodeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        with_code = "factor_id" in attrs and "code" in attrs
        if with_code == ("recovery_code" in attrs) or (
            "recovery_code" in attrs and ("factor_id" in attrs or "code" in attrs)
        ):
            raise serializers.ValidationError(
                "Send either factor_id and code, or recovery_code.", code="invalid"
            )
        return attrs
