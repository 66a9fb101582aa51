"""System checks on the provider settings: a broken provider stops a deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from keyhouse.identities.flows import RedirectNotAllowed, redirect_check
from keyhouse.identities.providers import providers_configured


@register()
def check_providers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        providers = providers_configured()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="identities.E001")]
    errors: list[CheckMessage] = []
    for provider in providers.values():
        if provider.apple_key and not Path(provider.apple_key[2]).is_file():
            errors.append(
                Error(
                    f"KEYHOUSE_APPLE_PRIVATE_KEY_FILE {provider.apple_key[2]} is not a file.",
                    hint="Download the key (.p8) from Apple Developer and point to it.",
                    id="identities.E002",
                )
            )
    return errors


@register()
def check_redirect_uris(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each of KEYHOUSE_OAUTH_REDIRECT_URIS is a place a code may go: else none could."""
    errors: list[CheckMessage] = []
    for uri in settings.KEYHOUSE_OAUTH_REDIRECT_URIS:
        try:
            redirect_check(uri)
        except RedirectNotAllowed:
            errors.append(
                Error(
                    f"{uri!r} in KEYHOUSE_OAUTH_REDIRECT_URIS can never be used.",
                    hint="Each is an http(s) URL without user info or fragment, on an "
                    "origin listed in CORS_ALLOWED_ORIGINS.",
                    id="identities.E003",
                )
            )
    return errors
