"""System checks on the SMS settings: a missing Twilio secret stops a deploy, not a sign-in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.utils.module_loading import import_string

from keyhouse.delivery.sms.base import SmsBackend

# What Twilio Verify needs; the names stand here so that the check does not import
# the Twilio SDK (most of a second) into every process that starts Django.
VERIFY_SETTINGS = (
    "KEYHOUSE_TWILIO_ACCOUNT_SID",
    "KEYHOUSE_TWILIO_AUTH_TOKEN",
    "KEYHOUSE_TWILIO_VERIFY_SERVICE_SID",
)


def _sms_backend_class() -> type[SmsBackend] | str:
    """Import the class KEYHOUSE_SMS_BACKEND names, or say what is wrong with it."""
    path = settings.KEYHOUSE_SMS_BACKEND
    try:
        backend = import_string(path)
    except ImportError as exc:
        return str(exc)
    if not (isinstance(backend, type) and issubclass(backend, SmsBackend)):
        return f"KEYHOUSE_SMS_BACKEND {path!r} is not an SmsBackend."
    return backend


@register()
def check_sms_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    missing: list[str] = []
    backend = _sms_backend_class()
    if isinstance(backend, str):
        hint = "Name a subclass of keyhouse.delivery.sms.base.SmsBackend."
        errors.append(Error(backend, hint=hint, id="delivery.E001"))
    else:
        missing += backend.settings_missing()
    if settings.KEYHOUSE_SMS_CODES == "twilio_verify":
        missing += [name for name in VERIFY_SETTINGS if not getattr(settings, name)]
    hint = (
        "Set it in the environment, or choose another KEYHOUSE_SMS_BACKEND or KEYHOUSE_SMS_CODES."
    )
    errors += [
        Error(f"{name} is not set.", hint=hint, id="delivery.E002")
        for name in dict.fromkeys(missing)
    ]
    return errors
