"""The example app written for Supabase Auth (examples/supabase-spa), with supabase-js from
npm, in a real Chromium against Keyhouse on another origin.

The app's files and supabase-js's browser build (pinned by the lock file in clients/)
are served together by a static server; Keyhouse runs under gunicorn. The emailed code
is read from a real SMTP server and typed in, as a user would; sign-in with a provider
goes through the real OpenID provider on loopback (oidc-provider-mock).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from keyhouse.accounts.tests.test_browser import browser, page
from keyhouse.conftest import PASSWORD
from keyhouse.delivery.testing import WAIT_SECONDS, free_port
from keyhouse.identities.tests.conftest import provider_settings, unique_sub
from keyhouse.identities.tests.test_browser import consent_as
from keyhouse.testing import code_in_mail, gunicorn_server, running, service_env, wait_until_serving

__all__ = ["browser", "page"]

APP = Path(settings.BASE_DIR) / "examples" / "supabase-spa"
UMD = Path(__file__).parent / "clients/node_modules/@supabase/supabase-js/dist/umd/supabase.js"
EMAIL = "grace@example.com"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]
expect.set_options(timeout=15_000)


def status(page: Page):
    return expect(page.locator("#status"))


@contextmanager
def supabase_app(tmp_path, smtp_server, **overrides: str) -> Iterator[str]:
    """The example app and Keyhouse, each on its own port of localhost: yield the app's
    URL (which names Keyhouse's); Keyhouse's log is keyhouse.log in ``tmp_path``."""
    if not UMD.exists():
        pytest.fail(
            f"supabase-js is not installed: run 'npm ci' in {UMD.parents[4]} (make test does)."
        )
    site = tmp_path / "site"
    shutil.copytree(APP, site)
    shutil.copy(UMD, site / "supabase.js")
    app_port, keyhouse_port = free_port(), free_port()
    keyhouse = f"http://localhost:{keyhouse_port}"
    env = service_env(
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CORS_ALLOWED_ORIGINS=f"http://localhost:{app_port}",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        KEYHOUSE_JWT_ISSUER=keyhouse,
        **overrides,
    )
    static = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
    static += ["--directory", str(site), str(app_port)]
    log = tmp_path / "keyhouse.log"
    with (
        running(static, env={}, log=tmp_path / "app.log") as process,
        gunicorn_server(port=keyhouse_port, env=env, log=log),
    ):
        wait_until_serving(
            f"http://127.0.0.1:{app_port}/", process=process, log=tmp_path / "app.log"
        )
        yield f"http://localhost:{app_port}/?keyhouse={keyhouse}"


def test_the_supabase_js_app_signs_up_refreshes_reloads_and_signs_out(page, smtp_server, tmp_path):
    log = tmp_path / "keyhouse.log"
    with supabase_app(tmp_path, smtp_server) as url:
        page.goto(url)
        status(page).to_have_text("Signed out. Sign up or sign in.")

        page.fill("#signup-email", EMAIL)
        page.fill("#signup-password", PASSWORD)
        page.click("#signup-form button")
        status(page).to_contain_text("Check your email")
        (message,) = smtp_server.wait_for_messages(1, timeout=WAIT_SECONDS)
        page.fill("#verify-code", code_in_mail(message))
        page.click("#verify-form button")
        status(page).to_have_text("Your email is verified and you are signed in.")
        expect(page.locator("#profile-email")).to_have_text(EMAIL)

        page.click("#refresh")
        status(page).to_have_text("The session was refreshed.")
        page.reload()  # supabase-js kept the session in localStorage
        status(page).to_have_text("Signed in again with the stored session.")
        expect(page.locator("#profile-email")).to_have_text(EMAIL)

        page.click("#logout")
        status(page).to_have_text("Signed out.")
        page.reload()
        status(page).to_have_text("Signed out. Sign up or sign in.")

        page.fill("#signin-email", EMAIL)
        page.fill("#signin-password", "not the password")
        page.click("#signin-form button")
        expect(page.locator("#status.error")).to_contain_text("(invalid_credentials)")
        page.fill("#signin-password", PASSWORD)
        page.click("#signin-form button")
        status(page).to_have_text("Signed in.")
    assert not [line for line in page.console if "CORS" in line]
    served = log.read_text()
    for request in (
        "POST /auth/v1/signup 200",
        "POST /auth/v1/verify 200",
        "POST /auth/v1/token 200",
        "GET /auth/v1/user 200",
        "POST /auth/v1/logout 204",
    ):
        assert request in served


def test_the_supabase_js_app_signs_in_with_a_provider(page, smtp_server, tmp_path, local_provider):
    sub = unique_sub()
    local_provider.person(sub, email="lin@example.com", email_verified=True)
    providers = json.dumps(provider_settings(local_provider.issuer))
    with supabase_app(tmp_path, smtp_server, KEYHOUSE_OIDC_PROVIDERS=providers) as url:
        page.goto(url)
        status(page).to_have_text("Signed out. Sign up or sign in.")

        page.click("#provider-local")  # signInWithOAuth: Keyhouse, then the provider
        consent_as(page, sub)

        status(page).to_have_text("Signed in with the provider.")
        expect(page.locator("#profile-email")).to_have_text("lin@example.com")
        assert "code=" not in page.url
        page.reload()
        status(page).to_have_text("Signed in again with the stored session.")
    served = (tmp_path / "keyhouse.log").read_text()
    assert "GET /auth/v1/authorize 302" in served
    assert "POST /auth/v1/token 200" in served
