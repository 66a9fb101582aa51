"""Serializer fields stricter than DRF's defaults."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text.

    DRF's CharField accepts ``12345678`` as the string ``"12345678"``; for passwords and
    codes a client sending a number has a bug that should be reported, not hidden.
    """

    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        # The length the OpenAPI document states is the text's as sent: count it before
        # trimming, which strips control characters such as U+001C too.
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class OneTimeCodeField(StrictCharField):
    """A one-time code: exactly ``length`` digits (KEYHOUSE_CODE_LENGTH by default);
    spaces are ignored."""

    default_error_messages = {
        **StrictCharField.default_error_messages,
        "code_format": "Enter the {length}-digit code.",
    }

    def __init__(self, *, length: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)
        self.length = length

    def to_internal_value(self, data: Any) -> str:
        code = "".join(super().to_internal_value(data).split())
        length = self.length or settings.KEYHOUSE_CODE_LENGTH
        if len(code) != length or not code.isascii() or not code.isdigit():
            self.fail("code_format", length=length)
        return code
