"""Generic OAuth clients (openid-client, from npm) against a live Keyhouse under gunicorn."""

from __future__ import annotations

import shutil
import subprocess
from http import HTTPStatus
from pathlib import Path

import pytest

from keyhouse.conftest import PASSWORD
from keyhouse.delivery.testing import free_port
from keyhouse.testing import call_api, gunicorn_server, service_env

CLIENTS = Path(__file__).parent / "clients"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]


@pytest.fixture
def node() -> str:
    """Node.js with the pinned packages, or a failure saying in one line what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: the openid-client tests need node 20+ and npm.")
    if not (CLIENTS / "node_modules" / "openid-client").is_dir():
        pytest.fail(f"openid-client is not installed: run 'npm ci' in {CLIENTS} (make test does).")
    return node


def test_openid_client_discovers_refreshes_and_revokes(node, verified_user, smtp_server, tmp_path):
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = service_env(KEYHOUSE_JWT_ISSUER=issuer, EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}")
    with gunicorn_server(port=port, env=env, log=tmp_path / "keyhouse.log") as base:
        credentials = {"email": verified_user.email, "password": PASSWORD}
        status, tokens = call_api(base, "POST", "/api/v1/auth/login", credentials)
        assert status == HTTPStatus.OK, tokens
        result = subprocess.run(  # noqa: S603 - node and the test file are ours
            [node, "--test", "oauth.test.mjs"],
            cwd=CLIENTS,
            env={
                **env,
                "KEYHOUSE_ISSUER": issuer,
                "KEYHOUSE_CLIENT_ID": "keyhouse",
                "KEYHOUSE_REFRESH_TOKEN": tokens["refresh_token"],
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
    assert "# pass 3" in result.stdout
