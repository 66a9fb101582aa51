"""Sign in with a provider in a real Chromium, through the example app (examples/spa).

Three real servers on loopback: the app's static files, Keyhouse under gunicorn, and
the OpenID provider (oidc-provider-mock, in a thread of this process). The browser
follows every redirect itself: app → Keyhouse → the provider's sign-in form → Keyhouse's
callback → app, which redeems the code with its PKCE verifier.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from keyhouse.accounts.tests.test_browser import (  # the example app's harness
    ARTEFACTS,
    browser,
    layout,
    page,
    refresh_cookies,
    status,
)
from keyhouse.conftest import PASSWORD
from keyhouse.identities.tests.conftest import provider_settings, unique_sub

__all__ = ["browser", "page"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]


def app_with_provider(tmp_path, smtp_server, local_provider):
    return layout(
        tmp_path,
        smtp_server,
        app_host="localhost",
        keyhouse_host="localhost",
        allowed="http://localhost:{port}",
        KEYHOUSE_OIDC_PROVIDERS=json.dumps(provider_settings(local_provider.issuer)),
    )


def consent_as(page: Page, sub: str) -> None:
    """At the provider's own sign-in page, sign in as ``sub``."""
    expect(page.get_by_label("Subject")).to_be_visible()
    page.get_by_label("Subject").fill(sub)
    page.get_by_role("button", name="Authorize", exact=True).click()


def test_sign_in_with_the_provider_end_to_end(local_provider, page, smtp_server, tmp_path):
    sub = unique_sub()
    local_provider.person(sub, email="lin@example.com", email_verified=True, name="Lin")
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/callback?" in r.url else None)
    with app_with_provider(tmp_path, smtp_server, local_provider) as url:
        page.goto(url)
        status(page).to_have_text("Signed out. Sign up or sign in.")

        page.click("#provider-local")
        consent_as(page, sub)

        status(page).to_have_text("Signed in with Local ID.")
        expect(page.locator("#profile-email")).to_have_text("lin@example.com")
        assert "code=" not in page.url  # the app dropped the spent code from its address
        (cookie,) = refresh_cookies(page)
        assert cookie["httpOnly"]
        page.reload()
        status(page).to_have_text("Signed in again with the refresh cookie.")
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTEFACTS / "example-spa-provider.png", full_page=True)

        # The provider's answer cannot be played again: its state was spent.
        (callback,) = callbacks
        page.goto(callback)
        expect(page.locator("body")).to_contain_text("oauth_state_invalid")


def test_an_existing_account_is_linked_only_with_its_password(
    verified_user, local_provider, page, smtp_server, tmp_path
):
    sub = unique_sub()
    local_provider.person(sub, email=verified_user.email, email_verified=True)
    with app_with_provider(tmp_path, smtp_server, local_provider) as url:
        page.goto(url)
        page.click("#provider-local")
        consent_as(page, sub)

        status(page).to_have_text(f"An account already uses {verified_user.email}.")
        assert refresh_cookies(page) == []
        page.fill("#link-password", PASSWORD)
        page.click("#link-form button")

        status(page).to_have_text("Local ID now signs in to this account too.")
        expect(page.locator("#profile-email")).to_have_text(verified_user.email)
