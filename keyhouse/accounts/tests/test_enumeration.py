"""Whether an address is registered must not show in any answer of the public endpoints.

Each test sends the same request for a registered and for an unknown address and
compares the whole responses: status, body and every header.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.testing import headers_but_request_id

pytestmark = pytest.mark.django_db(transaction=True)

REGISTERED = "ada@example.com"
UNKNOWN = "nobody@example.com"


def both(api_client, path, body_for):
    return [
        api_client.post(path, body_for(email), format="json") for email in (REGISTERED, UNKNOWN)
    ]


def assert_same(registered, unknown, status):
    assert registered.status_code == unknown.status_code == status
    assert registered.content == unknown.content
    assert headers_but_request_id(registered) == headers_but_request_id(unknown)


def test_sign_up(api_client, verified_user, smtp_mailer):
    registered, unknown = both(
        api_client,
        "/api/v1/auth/signup",
        lambda email: {"email": email, "password": "a long unusual passphrase"},
    )
    assert_same(registered, unknown, HTTPStatus.ACCEPTED)


def test_login(api_client, verified_user):
    registered, unknown = both(
        api_client, "/api/v1/auth/login", lambda email: {"email": email, "password": "wrong one"}
    )
    assert_same(registered, unknown, HTTPStatus.UNAUTHORIZED)


def test_password_reset_request(api_client, verified_user, smtp_mailer):
    registered, unknown = both(
        api_client, "/api/v1/auth/password/forgot", lambda email: {"email": email}
    )
    assert_same(registered, unknown, HTTPStatus.ACCEPTED)


def test_password_reset_with_a_wrong_code(api_client, verified_user, smtp_mailer):
    both(api_client, "/api/v1/auth/password/forgot", lambda email: {"email": email})
    registered, unknown = both(
        api_client,
        "/api/v1/auth/password/reset",
        lambda email: {"email": email, "code": "000000", "new_password": "a new passphrase"},
    )
    assert_same(registered, unknown, HTTPStatus.BAD_REQUEST)


def test_email_code_request(api_client, user, smtp_mailer):
    registered, unknown = both(api_client, "/api/v1/auth/email/resend", lambda e: {"email": e})
    assert_same(registered, unknown, HTTPStatus.ACCEPTED)


def test_email_code_check(api_client, user, smtp_mailer):
    both(api_client, "/api/v1/auth/email/resend", lambda email: {"email": email})
    registered, unknown = both(
        api_client, "/api/v1/auth/email/verify", lambda email: {"email": email, "code": "000000"}
    )
    assert_same(registered, unknown, HTTPStatus.BAD_REQUEST)
