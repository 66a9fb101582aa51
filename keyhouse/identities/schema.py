"""Request shapes the serializers check in code, stated in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension


class LinkProofExtension(OpenApiSerializerExtension):
    """A link is proven by a password or by a code, one of them."""

    target_class = "keyhouse.identities.serializers.LinkInputSerializer"

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {
            **schema,
            "oneOf": [
                {"required": ["password"], "not": {"required": ["code"]}},
                {"required": ["code"], "not": {"required": ["password"]}},
            ],
        }


class IdentityAddExtension(OpenApiSerializerExtension):
    """An identity is added from an ID token or from a browser flow's code, not both."""

    target_class = "keyhouse.identities.serializers.IdentityAddInputSerializer"

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        native = ["provider", "id_token"]
        browser = ["code", "code_verifier"]
        return {
            **schema,
            "oneOf": [
                {"required": native, "not": {"anyOf": [{"required": [f]} for f in browser]}},
                {"required": browser, "not": {"anyOf": [{"required": [f]} for f in native]}},
            ],
        }
