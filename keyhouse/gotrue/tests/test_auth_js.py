"""The real ``@supabase/auth-js`` (from npm, pinned by its lock file) against a live Keyhouse.

Keyhouse runs under gunicorn with production settings, mailing through a real SMTP
server on loopback and printing text messages to its console, as the console SMS
backend does. The Node suite reads the codes from a small loopback server here, which
takes them from the mail received and from the server's output.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from keyhouse.delivery.testing import SMTPServer, free_port
from keyhouse.identities.tests.conftest import APP, provider_settings
from keyhouse.testing import code_in_mail, gunicorn_server, service_env

CLIENTS = Path(__file__).parent / "clients"
SMS = re.compile(r"SMS to (\+\d+) \(console-[0-9a-f]+\)\n(\d{6}) ")

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]


@pytest.fixture
def node() -> str:
    """Node.js with the pinned packages, or a failure saying in one line what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: the auth-js tests need node 20+ and npm.")
    if not (CLIENTS / "node_modules" / "@supabase" / "auth-js").is_dir():
        pytest.fail(
            f"@supabase/auth-js is not installed: run 'npm ci' in {CLIENTS} (make test does)."
        )
    return node


def codes_sent(to: str, *, mail: SMTPServer, log: Path) -> list[str]:
    """Every code sent to an address or number, oldest first."""
    if "@" in to:
        return [code_in_mail(message) for message in mail.messages if message["To"] == to]
    return [code for number, code in SMS.findall(log.read_text()) if number == to]


@contextmanager
def code_server(*, mail: SMTPServer, log: Path) -> Iterator[str]:
    """Serve ``GET /?to=<address>`` with the codes sent there, as JSON; yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            to = parse_qs(urlsplit(self.path).query)["to"][0]
            body = json.dumps(codes_sent(to, mail=mail, log=log)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_auth_js_signs_up_signs_in_refreshes_and_signs_out(
    node, smtp_server, tmp_path, local_provider
):
    port = free_port()
    log = tmp_path / "keyhouse.log"
    local_provider.person("native-person", email="native@example.com", email_verified=True)
    env = service_env(
        KEYHOUSE_JWT_ISSUER=f"http://127.0.0.1:{port}",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        KEYHOUSE_SMS_BACKEND="keyhouse.delivery.sms.console.ConsoleBackend",
        # Short enough that auth-js's first automatic refresh tick finds the token due.
        KEYHOUSE_ACCESS_TOKEN_LIFETIME="120",
        # Social sign-in: the OpenID provider on loopback, and the app it sends back to.
        KEYHOUSE_OIDC_PROVIDERS=json.dumps(provider_settings(local_provider.issuer)),
        CORS_ALLOWED_ORIGINS=APP,
    )
    with (
        gunicorn_server(port=port, env=env, log=log) as base,
        code_server(mail=smtp_server, log=log) as codes_url,
    ):
        result = subprocess.run(  # noqa: S603 - node and the test file are ours
            [node, "--test", "auth-js.test.mjs"],
            cwd=CLIENTS,
            env={
                **env,
                "KEYHOUSE_URL": base,
                "KEYHOUSE_CODES_URL": codes_url,
                "KEYHOUSE_OIDC_ISSUER": local_provider.issuer,
                "KEYHOUSE_ID_TOKEN": local_provider.id_token("native-person"),
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr + log.read_text()[-4000:]
    assert "# fail 0" in result.stdout
    assert "# pass 15" in result.stdout
