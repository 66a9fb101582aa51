from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from keyhouse.core.fields import OneTimeCodeField, StrictCharField
from keyhouse.mfa import totp
from keyhouse.mfa.models import Passkey, TotpFactor
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
    passkey = serializers.BooleanField(
        help_text="A passkey of the account may answer (options from "
        "POST /api/v1/auth/passkey/options)."
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


class Base64UrlField(StrictCharField):
    """Binary data as WebAuthn's JSON carries it: base64url without padding."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validators=[RegexValidator(r"^[A-Za-z0-9_-]+$", "Not base64url.", code="base64url")],
            **kwargs,
        )


class PasskeyAssertionResponseInputSerializer(serializers.Serializer):
    clientDataJSON = Base64UrlField(max_length=4096)
    authenticatorData = Base64UrlField(max_length=4096)
    signature = Base64UrlField(max_length=1024)
    userHandle = Base64UrlField(max_length=128, required=False, allow_null=True)


class PasskeyAssertionCredentialInputSerializer(serializers.Serializer):
    """A ``PublicKeyCredential`` from ``navigator.credentials.get()``, as its ``toJSON()``
    gives it (WebAuthn Level 3 ``AuthenticationResponseJSON``)."""

    id = Base64UrlField(max_length=1400)
    rawId = Base64UrlField(max_length=1400)
    type = serializers.ChoiceField(choices=["public-key"])
    response = PasskeyAssertionResponseInputSerializer()


class PasskeyAnswerInputSerializer(serializers.Serializer):
    """An assertion answering the challenge of POST /api/v1/auth/passkey/options."""

    challenge_id = serializers.UUIDField()
    credential = PasskeyAssertionCredentialInputSerializer()


class PasskeySignInInputSerializer(TokenTransportInputSerializer, PasskeyAnswerInputSerializer):
    pass


class PasskeyAttestationResponseInputSerializer(serializers.Serializer):
    clientDataJSON = Base64UrlField(max_length=4096)
    attestationObject = Base64UrlField(max_length=65536)
    transports = serializers.ListField(
        child=StrictCharField(max_length=32, allow_blank=True), max_length=16, required=False
    )


class PasskeyRegistrationCredentialInputSerializer(serializers.Serializer):
    """A ``PublicKeyCredential`` from ``navigator.credentials.create()``, as its
    ``toJSON()`` gives it (WebAuthn Level 3 ``RegistrationResponseJSON``)."""

    id = Base64UrlField(max_length=1400)
    rawId = Base64UrlField(max_length=1400)
    type = serializers.ChoiceField(choices=["public-key"])
    response = PasskeyAttestationResponseInputSerializer()


class PasskeyRegisterInputSerializer(serializers.Serializer):
    credential = PasskeyRegistrationCredentialInputSerializer()
    name = StrictCharField(max_length=64, required=False, default="Passkey")


class PasskeyUpdateInputSerializer(serializers.Serializer):
    """The fields to change: the name, or nothing."""

    name = StrictCharField(max_length=64, required=False)


class PasskeyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Passkey
        fields = (
            "id",
            "name",
            "transports",
            "backup_eligible",
            "backed_up",
            "created_at",
            "last_used_at",
        )
        read_only_fields = fields


class PasskeyOptionsOutputSerializer(serializers.Serializer):
    challenge_id = serializers.UUIDField(help_text="Send it back with the answer to sign in.")
    expires_in = serializers.IntegerField(help_text="Seconds the challenge lives.")
    options = serializers.DictField(
        help_text="The publicKey options of the WebAuthn call, as JSON: pass them through "
        "PublicKeyCredential.parseCreationOptionsFromJSON() or "
        "parseRequestOptionsFromJSON()."
    )


class PasskeyRegistrationOutputSerializer(serializers.Serializer):
    passkey = PasskeyOutputSerializer()
    recovery_codes = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="Ten new recovery codes with the account's first factor, shown this once; "
        "null when the account had some.",
    )


class MfaVerifyInputSerializer(TokenTransportInputSerializer):
    mfa_token = StrictCharField(max_length=128)
    factor_id = serializers.UUIDField(required=False)
    code = TotpCodeField(required=False)
    recovery_code = RecoveryCodeField(required=False)
    passkey = PasskeyAnswerInputSerializer(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        with_code = "factor_id" in attrs and "code" in attrs
        answers = [with_code, "recovery_code" in attrs, "passkey" in attrs]
        partial_code = ("factor_id" in attrs or "code" in attrs) and not with_code
        if answers.count(True) != 1 or partial_code:
            raise serializers.ValidationError(
                "Send either factor_id and code, recovery_code, or passkey.", code="invalid"
            )
        return attrs
