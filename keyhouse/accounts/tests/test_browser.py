"""The example app (examples/spa) in a real Chromium, against Keyhouse on another origin.

Both run as real servers on loopback: the app's static files on one port, Keyhouse
under gunicorn on another. The test reads the emailed code from a real SMTP server and
types it in, as a user would. A screenshot of the last page goes to var/test-artefacts/.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, expect, sync_playwright

from keyhouse.conftest import PASSWORD
from keyhouse.delivery.testing import WAIT_SECONDS, free_port
from keyhouse.testing import (
    code_in_mail,
    gunicorn_server,
    running,
    service_env,
    wait_until_serving,
)

CHROMIUM = Path("/usr/bin/chromium")
SPA = Path(settings.BASE_DIR) / "examples" / "spa"
ARTEFACTS = Path(settings.BASE_DIR) / "var" / "test-artefacts"
COOKIE = "keyhouse_refresh"
EMAIL = "grace@example.com"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]
# Each step waits for the page up to this long (a sign-up hashes a password and mails).
expect.set_options(timeout=15_000)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (which downloads no browser).

    Playwright's synchronous API runs an event loop in this thread, where Django refuses
    database calls: a test sets up its data before asking for the browser, and reads
    what the servers did from their logs and the SMTP server.
    """
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run 'apt-get install -y chromium'.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@contextmanager
def static_server(*, port: int, log: Path) -> Iterator[None]:
    """Serve the example app's files as any static web server would."""
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
    command += ["--directory", str(SPA), str(port)]
    with running(command, env={}, log=log) as process:
        wait_until_serving(f"http://127.0.0.1:{port}/", process=process, log=log)
        yield


@contextmanager
def layout(
    tmp_path: Path, smtp_server, *, app_host: str, keyhouse_host: str, allowed: str, **env: str
) -> Iterator[str]:
    """Start the app and Keyhouse on two ports of the given hosts; yield the app's URL.

    ``allowed`` is the origin Keyhouse allows, and ``env`` more of its settings, with
    ``{port}`` standing for the app's port.
    """
    app_port, keyhouse_port = free_port(), free_port()
    keyhouse = f"http://{keyhouse_host}:{keyhouse_port}"
    environment = service_env(
        ALLOWED_HOSTS=f"127.0.0.1,{keyhouse_host}",
        CORS_ALLOWED_ORIGINS=allowed.replace("{port}", str(app_port)),
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        KEYHOUSE_JWT_ISSUER=keyhouse,
        **{name: value.replace("{port}", str(app_port)) for name, value in env.items()},
    )
    with (
        static_server(port=app_port, log=tmp_path / "app.log"),
        gunicorn_server(port=keyhouse_port, env=environment, log=tmp_path / "keyhouse.log"),
    ):
        yield f"http://{app_host}:{app_port}/?keyhouse={keyhouse}"


@pytest.fixture
def page(browser) -> Iterator[Page]:
    """A fresh browser profile (no cookies), its console kept in ``page.console``."""
    context = browser.new_context()
    page = context.new_page()
    page.console = []
    page.on("console", lambda message: page.console.append(message.text))
    yield page
    context.close()


def status(page: Page):
    return expect(page.locator("#status"))


def refresh_cookies(page: Page) -> list[dict]:
    return [cookie for cookie in page.context.cookies() if cookie["name"] == COOKIE]


def sign_in(page: Page, email: str) -> None:
    page.fill("#signin-email", email)
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-form button")
    status(page).to_have_text("Signed in.")
    expect(page.locator("#profile-email")).to_have_text(email)


def sign_out_clears_the_cookie(page: Page) -> None:
    page.click("#logout")
    status(page).to_have_text("Signed out: the refresh cookie is gone.")
    assert refresh_cookies(page) == []
    page.reload()
    status(page).to_have_text("Signed out. Sign up or sign in.")


def test_the_example_app_signs_up_refreshes_and_signs_out(page, smtp_server, tmp_path):
    # localhost:<app> and localhost:<keyhouse>: two origins of one site.
    with layout(
        tmp_path,
        smtp_server,
        app_host="localhost",
        keyhouse_host="localhost",
        allowed="http://localhost:{port}",
    ) as url:
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
        (cookie,) = refresh_cookies(page)
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")

        page.click("#refresh")
        status(page).to_have_text("The access token was refreshed with the cookie.")
        page.click("#load-sessions")
        expect(page.locator("#sessions li")).to_have_count(1)
        expect(page.locator("#sessions li")).to_contain_text("(this one)")

        page.reload()  # the access token was in memory only; the cookie signs back in
        status(page).to_have_text("Signed in again with the refresh cookie.")
        sign_out_clears_the_cookie(page)

        sign_in(page, EMAIL)
        page.click("#load-sessions")
        status(page).to_have_text("1 live session(s).")
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTEFACTS / "example-spa.png", full_page=True)
    assert not [line for line in page.console if "CORS" in line]


def test_the_browser_blocks_calls_from_an_origin_not_allowed(page, smtp_server, tmp_path):
    # Keyhouse allows the app as http://localhost:<port>; 127.0.0.1 is another origin.
    with layout(
        tmp_path,
        smtp_server,
        app_host="127.0.0.1",
        keyhouse_host="localhost",
        allowed="http://localhost:{port}",
    ) as url:
        with page.expect_console_message(lambda message: "blocked by CORS" in message.text):
            page.goto(url)  # the refresh on load
        status(page).to_contain_text("could not be reached from this page")
        page.fill("#signup-email", EMAIL)
        page.fill("#signup-password", PASSWORD)
        with page.expect_console_message(lambda message: "blocked by CORS" in message.text):
            page.click("#signup-form button")
        expect(page.locator("#status.error")).to_contain_text("could not be reached")
    # Keyhouse answered the preflights, granting nothing, and never saw the requests.
    log = (tmp_path / "keyhouse.log").read_text()
    assert "OPTIONS /api/v1/auth/signup 200" in log
    assert "POST /api/v1/auth/signup" not in log
    assert "POST /api/v1/auth/token/refresh" not in log
    assert smtp_server.messages == []


def test_two_subdomains_of_one_site_share_the_refresh_cookie(
    verified_user, page, smtp_server, tmp_path
):
    # app.example.localhost and auth.example.localhost: one site, as app. and auth. of
    # example.com would be; Chromium resolves every *.localhost name to loopback.
    with layout(
        tmp_path,
        smtp_server,
        app_host="app.example.localhost",
        keyhouse_host="auth.example.localhost",
        allowed="http://app.example.localhost:{port}",
        KEYHOUSE_REFRESH_COOKIE_DOMAIN="example.localhost",
        KEYHOUSE_REFRESH_COOKIE_SAMESITE="Lax",
    ) as url:
        page.goto(url)
        status(page).to_have_text("Signed out. Sign up or sign in.")
        sign_in(page, verified_user.email)
        (cookie,) = refresh_cookies(page)
        assert (cookie["domain"], cookie["sameSite"]) == (".example.localhost", "Lax")

        page.reload()
        status(page).to_have_text("Signed in again with the refresh cookie.")
        expect(page.locator("#profile-email")).to_have_text(verified_user.email)
        sign_out_clears_the_cookie(page)


@pytest.fixture
def virtual_authenticator(page) -> Callable[[], list[dict]]:
    """A platform authenticator in the browser, through the Chrome DevTools Protocol:
    CTAP2, built in, with resident keys and user verification that always succeeds.
    Returns a function listing the passkeys it holds."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    }
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return lambda: cdp.send("WebAuthn.getCredentials", added)["credentials"]


def test_a_passkey_added_in_the_example_app_signs_in_alone_at_aal2(
    verified_user, page, virtual_authenticator, smtp_server, tmp_path
):
    # WebAuthn binds passkeys to the page's site: the app's origin, not Keyhouse's, is the
    # one the relying party ID must cover (http://localhost counts as a secure context).
    with layout(
        tmp_path,
        smtp_server,
        app_host="localhost",
        keyhouse_host="localhost",
        allowed="http://localhost:{port}",
        KEYHOUSE_WEBAUTHN_RP_ID="localhost",
        KEYHOUSE_WEBAUTHN_ORIGINS="http://localhost:{port}",
    ) as url:
        page.goto(url)
        status(page).to_have_text("Signed out. Sign up or sign in.")
        sign_in(page, verified_user.email)
        page.click("#add-passkey")
        status(page).to_contain_text("Passkey added. Keep these recovery codes:")
        expect(page.locator("#passkeys li")).to_have_count(1)
        (held,) = virtual_authenticator()
        assert (held["isResidentCredential"], held["rpId"]) == (True, "localhost")
        sign_out_clears_the_cookie(page)

        # The password alone is not enough now: the passkey answers the second step.
        page.fill("#signin-email", verified_user.email)
        page.fill("#signin-password", PASSWORD)
        page.click("#signin-form button")
        status(page).to_have_text("Signed in with your password and a passkey (aal2).")
        sign_out_clears_the_cookie(page)

        page.click("#passkey-signin")
        status(page).to_have_text("Signed in with a passkey (aal2).")
        expect(page.locator("#profile-email")).to_have_text(verified_user.email)
        expect(page.locator("#profile-aal")).to_have_text("aal2")
        page.reload()  # the refresh cookie of the passkey session
        status(page).to_have_text("Signed in again with the refresh cookie.")

        page.click("#load-passkeys")
        status(page).to_have_text("1 passkey(s).")
        page.click("#passkeys button")
        status(page).to_have_text("Passkey removed.")
        expect(page.locator("#passkeys li")).to_have_count(0)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTEFACTS / "example-spa-passkeys.png", full_page=True)
        sign_out_clears_the_cookie(page)
    log = (tmp_path / "keyhouse.log").read_text()
    assert "POST /api/v1/auth/passkey/verify 200" in log
    assert "DELETE /api/v1/me/passkeys/" in log
