"""The admin site's login form, throttled and audited like API sign-in."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from keyhouse.accounts.services.signin import (
    AdminSignInRefused,
    InvalidCredentials,
    signin_admin,
)
from keyhouse.core.exceptions import ServiceUnavailable
from keyhouse.core.http import client_info
from keyhouse.core.ratelimit import RateLimited, ratelimit_enforce
from keyhouse.users.emails import email_canonical


class AdminLoginForm(AdminAuthenticationForm):
    """Sign in to the admin with the limits, failure throttle, second factor and audit
    events of the API.

    Django's form would call ``authenticate`` directly: nothing would count or record
    a wrong password, nor ask for a second factor. A throttled attempt, or one that
    cannot be counted because the cache is down, is refused with a form error.
    """

    code = forms.CharField(
        label=_("Authenticator code"),
        required=False,
        max_length=32,
        strip=True,
        help_text=_("If your account has an authenticator app: its code, or a recovery code."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            client = client_info(self.request)
            limited = {"ip": client.ip, "target": email_canonical(email)}
            try:
                ratelimit_enforce(action="login", values=limited.get)
                self.user_cache = signin_admin(
                    email=email,
                    password=password,
                    code=self.cleaned_data.get("code", ""),
                    client=client,
                    request=self.request,
                )
            except (
                RateLimited,
                ServiceUnavailable,
                AdminSignInRefused,
            ) as exc:
                raise ValidationError(exc.message, code=exc.code) from exc
            except InvalidCredentials as exc:
                raise self.get_invalid_login_error() from exc
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
