"""CORS for browser apps on other origins, on top of django-cors-headers.

Two things differ from the stock middleware. A regex in CORS_ALLOWED_ORIGIN_REGEXES
must match the whole origin, never a prefix of it (``re.match`` would let
``https://app.example.com.evil.test`` through ``https://app\\.example\\.com``), and never
matches ``null``, the origin of sandboxed frames and local files. A preflight asking for a
method or header outside the allowed lists gets no CORS headers at all, instead of a grant
that the browser must then find wanting. A request without an Origin header, not a
preflight, skips the grant's work: it only gets ``Vary: Origin`` on the CORS paths.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from corsheaders.conf import conf
from corsheaders.middleware import CorsMiddleware as BaseCorsMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers

# The CORS-safelisted request headers (Fetch standard) need no grant.
SAFELISTED_HEADERS = {"accept", "accept-language", "content-language", "content-type", "range"}


def _is_preflight(request: HttpRequest) -> bool:
    return request.method == "OPTIONS" and "access-control-request-method" in request.headers


def _preflight_grantable(request: HttpRequest) -> bool:
    """Say whether the method and headers a preflight asks for are all allowed."""
    method = request.headers["access-control-request-method"].strip().upper()
    if method not in {allowed.upper() for allowed in conf.CORS_ALLOW_METHODS}:
        return False
    asked = request.headers.get("access-control-request-headers", "")
    allowed = {header.lower() for header in conf.CORS_ALLOW_HEADERS} | SAFELISTED_HEADERS
    return all(header.strip().lower() in allowed for header in asked.split(",") if header.strip())


class CorsMiddleware(BaseCorsMiddleware):
    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self.async_mode or request.method == "OPTIONS" or "HTTP_ORIGIN" in request.META:
            return super().__call__(request)
        # No Origin and no preflight, as on most requests: nothing to answer or grant,
        # only ``Vary: Origin`` on the CORS paths, as the stock middleware adds it.
        enabled = self.is_enabled(request)
        response = self.get_response(request)
        if enabled:
            patch_vary_headers(response, ("origin",))
        return response

    def add_response_headers(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if _is_preflight(request) and not _preflight_grantable(request):
            if getattr(request, "_cors_enabled", False):
                patch_vary_headers(response, ("origin",))
            return response
        return super().add_response_headers(request, response)

    def regex_domain_match(self, origin: str) -> bool:
        return origin != "null" and any(
            re.fullmatch(pattern, origin) for pattern in conf.CORS_ALLOWED_ORIGIN_REGEXES
        )


def origin_allowed(origin: str) -> bool:
    """Say whether ``origin`` (an Origin header's value) is one the settings allow."""
    try:
        url = urlsplit(origin)
    except ValueError:
        return False
    return _matcher.origin_found_in_white_lists(origin, url)


_matcher = CorsMiddleware(get_response=lambda request: None)
