"""A real OpenID provider on loopback (oidc-provider-mock), and helpers to sign in at it.

The provider runs in a thread of the test process and signs real ID tokens with its own
key; its issuer is the address it is reached at, so reaching it as 127.0.0.1 instead of
localhost yields tokens of another issuer, signed with the same key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import oidc_provider_mock
import pytest
import requests

CLIENT_ID = "keyhouse-web"
IOS_CLIENT_ID = "keyhouse-ios"
CLIENT_SECRET = "local-secret"
APP = "http://app.test"
APP_URL = f"{APP}/signed-in"


@dataclass(frozen=True)
class LocalProvider:
    issuer: str
    port: int

    def person(self, sub: str, **claims: object) -> None:
        """Tell the provider who ``sub`` is: the claims its ID tokens carry."""
        response = requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10)
        assert response.status_code == 204, response.text

    def consent(self, authorization_url: str, sub: str) -> str:
        """Sign in at the provider as ``sub`` (its form, posted); return where it redirects."""
        response = requests.post(
            authorization_url, data={"sub": sub}, allow_redirects=False, timeout=10
        )
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def id_token(
        self,
        sub: str,
        *,
        client_id: str = CLIENT_ID,
        nonce: str | None = None,
        host: str = "localhost",
    ) -> str:
        """An ID token for ``sub``, as a platform SDK gets one: by the code flow, at ``host``."""
        base = f"http://{host}:{self.port}"
        query = {
            "client_id": client_id,
            "redirect_uri": "http://sdk.test/cb",
            "response_type": "code",
            "scope": "openid email profile",
            **({"nonce": nonce} if nonce else {}),
        }
        location = self.consent(f"{base}/oauth2/authorize?{urlencode(query)}", sub)
        code = parse_qs(urlsplit(location).query)["code"][0]
        response = requests.post(
            f"{base}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://sdk.test/cb",
                "client_id": client_id,
                "client_secret": CLIENT_SECRET,
            },
            timeout=10,
        )
        return response.json()["id_token"]


@pytest.fixture(scope="session")
def local_provider() -> Iterator[LocalProvider]:
    with oidc_provider_mock.run_server_in_thread() as server:
        port = server.server_port
        yield LocalProvider(issuer=f"http://localhost:{port}", port=port)


def provider_settings(issuer: str, **options: object) -> dict:
    return {
        "local": {
            "issuer": issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "audiences": [IOS_CLIENT_ID],
            "display_name": "Local ID",
            **options,
        }
    }


@pytest.fixture
def oidc(settings, local_provider) -> LocalProvider:
    """Keyhouse configured with the local provider as "local", and the app's origin allowed."""
    settings.KEYHOUSE_OIDC_PROVIDERS = provider_settings(local_provider.issuer)
    settings.CORS_ALLOWED_ORIGINS = [APP]
    return local_provider


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636 section 4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unique_sub(prefix: str = "person") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
