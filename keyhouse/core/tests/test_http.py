from __future__ import annotations

import pytest
from django.test import RequestFactory

from keyhouse.core.http import client_ip


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("10.0.0.1, 198.51.100.7", "198.51.100.7"),
        ("198.51.100.7:4711", "198.51.100.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("unknown", "127.0.0.1"),
        ("", "127.0.0.1"),
    ],
)
def test_a_trusted_proxy_header_is_read_and_checked(settings, forwarded, expected):
    settings.KEYHOUSE_TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="127.0.0.1")
    assert client_ip(request) == expected


def test_proxy_headers_are_ignored_unless_trusted(settings):
    settings.KEYHOUSE_TRUSTED_PROXY_HEADER = ""
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="203.0.113.1", REMOTE_ADDR="10.1.2.3")
    assert client_ip(request) == "10.1.2.3"


@pytest.mark.django_db
def test_a_malformed_forwarded_address_never_breaks_a_sign_in(api_client, settings, verified_user):
    settings.KEYHOUSE_TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    response = api_client.post(
        "/api/v1/auth/login",
        {"email": verified_user.email, "password": "correct horse battery staple"},
        format="json",
        HTTP_X_FORWARDED_FOR="unknown",
    )
    assert response.status_code == 200
