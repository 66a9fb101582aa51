from __future__ import annotations

import codecs
import io
import json
import re
from http import HTTPStatus
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, parsers

# A \u escape of a UTF-16 surrogate (D800-DFFF), as it reads in UTF-8 JSON text.
_SURROGATE_ESCAPE = re.compile(rb"\\ud[89a-f]", re.IGNORECASE)


class PayloadTooLarge(exceptions.APIException):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


def _read_limited(stream: IO[bytes]) -> bytes:
    """Read a body, refusing one above DATA_UPLOAD_MAX_MEMORY_SIZE with 413.

    DRF reads the request stream directly, which bypasses Django's own size check, so
    the limit is applied here while reading, whatever Content-Length claims.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge
    return raw


def _is_unicode(data: Any) -> bool:
    """Say whether every string in parsed JSON is valid Unicode: an escaped surrogate
    without its pair parses to a lone code point that UTF-8 cannot encode."""
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


class JSONParser(parsers.JSONParser):
    """Parse JSON, refusing bodies above DATA_UPLOAD_MAX_MEMORY_SIZE with 413.

    Nesting deeper than the interpreter's recursion limit is malformed input too:
    DRF's parser turns only ValueError into a parse error, not RecursionError.
    So is a lone surrogate ("\\ud800"), which would fail wherever the string went next
    (an error message echoing it, a rate-limit key hashing it); only a UTF-8 body with
    a surrogate escape, or a body in another charset, has its strings checked, so the
    common case stays cheap.
    """

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        raw = _read_limited(stream)
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(_("JSON parse error - nested too deeply.")) from exc
        # In UTF-8, JSON can spell a lone surrogate only as an escape, so a body without
        # one needs no check; in any other charset (UTF-16, or unicode_escape, which
        # decodes escapes itself) the strings are always checked.
        encoding = codecs.lookup(parsers.get_encoding(parser_context or {})).name
        if (encoding != "utf-8" or _SURROGATE_ESCAPE.search(raw)) and not _is_unicode(data):
            raise exceptions.ParseError(_("JSON parse error - a string is not valid Unicode."))
        return data


class FormParser(parsers.FormParser):
    """Parse a form body within the same size limit as JSON.

    Only the OAuth endpoints take forms, so the OpenAPI document declares an OAuth error
    (RFC 6749 section 5.2) for every operation whose view parses one.

    Too many fields (DATA_UPLOAD_MAX_NUMBER_FIELDS) are a 400 parse error, not a 500.
    """

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        raw = _read_limited(stream)
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except TooManyFieldsSent as exc:
            raise exceptions.ParseError(_("The form has too many fields.")) from exc
