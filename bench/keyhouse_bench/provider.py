"""A stand-in OpenID provider for the ``oidc`` scenario, served on loopback.

It holds an RS256 key pair, as Google's and Apple's ID tokens are signed, and serves
what Keyhouse fetches from a provider before it verifies a native app's ID token: the
discovery document and the JWKS, from a thread of the process that signs the tokens
(the bench's fixture process). Keyhouse reaches it over HTTP like any provider and keeps
its keys for an hour, so the measured requests never call it. Nothing here imports
Django: the issuer's address comes from the caller.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

KEY_ID = "bench-provider-1"


class Issuer:
    """An OpenID provider at ``url`` (http://127.0.0.1:<port>) that signs ID tokens."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self.documents = {
            "/.well-known/openid-configuration": {
                "issuer": self.url,
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code", "id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            },
            "/jwks": {"keys": [{**jwk, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]},
        }
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        """Serve the discovery document and the JWKS from a daemon thread."""
        documents = self.documents

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = documents.get(self.path)
                status = HTTPStatus.OK if document is not None else HTTPStatus.NOT_FOUND
                body = json.dumps(document or {"error": "not_found"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # no line per fetch in the fixture process's log

        address = urlsplit(self.url)
        self._server = ThreadingHTTPServer((address.hostname or "", address.port or 80), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def id_token(self, claims: dict[str, Any]) -> str:
        """Sign an ID token with ``claims`` (the issuer added), as the provider would."""
        return jwt.encode(
            {"iss": self.url, **claims}, self._key, algorithm="RS256", headers={"kid": KEY_ID}
        )
