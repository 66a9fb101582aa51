"""Request constraints the MFA serializers enforce in code, stated in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)

from keyhouse.mfa.services.recovery import ALPHABET, LENGTH


def _character_class(alphabet: str) -> str:
    return "".join(sorted({*alphabet, *alphabet.lower()}))


class RecoveryCodeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "keyhouse.mfa.serializers.RecoveryCodeField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        character = f"[{_character_class(ALPHABET)}]"
        return {
            **schema,
            "pattern": f"^[ -]*(?:{character}[ -]*){{{LENGTH}}}$",
            "description": f"A recovery code: {LENGTH} letters and digits; case, spaces and "
            "hyphens do not matter.",
        }


class MfaVerifyInputExtension(OpenApiSerializerExtension):
    """An answer is a factor and its code, a recovery code or a passkey: one of them."""

    target_class = "keyhouse.mfa.serializers.MfaVerifyInputSerializer"

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        with_factor = {"required": ["factor_id"]}, {"required": ["code"]}
        recovery, passkey = {"required": ["recovery_code"]}, {"required": ["passkey"]}
        return {
            **schema,
            "oneOf": [
                {"required": ["factor_id", "code"], "not": {"anyOf": [recovery, passkey]}},
                {**recovery, "not": {"anyOf": [*with_factor, passkey]}},
                {**passkey, "not": {"anyOf": [*with_factor, recovery]}},
            ],
        }
