"""System checks on the provider settings: a broken provider stops a deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

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
