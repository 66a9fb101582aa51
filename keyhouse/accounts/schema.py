"""Request constraints the serializers enforce in code, stated in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)

from keyhouse.users.phones import E164_PATTERN
from keyhouse.users.services import password_min_length


class NewPasswordFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "keyhouse.accounts.serializers.NewPasswordField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        minimum = password_min_length()
        if minimum is None:
            return schema
        return {
            **schema,
            "minLength": minimum,
            "description": f"At least {minimum} characters, not common, not close to the "
            "email or name.",
        }


class PhoneFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "keyhouse.accounts.serializers.PhoneField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "pattern": E164_PATTERN}


class ExactlyOneOfExtension(OpenApiSerializerExtension):
    """A serializer whose ``exactly_one_of`` fields must be sent alone: one, not both."""

    target_class = "keyhouse.accounts.serializers.ReauthenticateInputSerializer"

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        names = self.target.exactly_one_of
        return {**schema, "oneOf": [{"required": [name]} for name in names]}
