from __future__ import annotations

import io
from http import HTTPStatus
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, parsers


class PayloadTooLarge(exceptions.APIException):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


class JSONParser(parsers.JSONParser):
    """Parse JSON, refusing bodies above DATA_UPLOAD_MAX_MEMORY_SIZE with 413.

    DRF reads the request stream directly, which bypasses Django's own size check,
    so the limit is applied here while reading, whatever Content-Length claims.
    Nesting deeper than the interpreter's recursion limit is malformed input too:
    DRF's parser turns only ValueError into a parse error, not RecursionError.
    """

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(_("JSON parse error - nested too deeply.")) from exc
