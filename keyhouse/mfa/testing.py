"""A software authenticator for tests: real P-256 keys, real CBOR, "none" attestation.

It answers the options Keyhouse hands out as a browser and a platform authenticator
would together, producing the JSON of ``PublicKeyCredential.toJSON()`` (WebAuthn Level 3
``RegistrationResponseJSON`` and ``AuthenticationResponseJSON``). Every field a check
looks at can be bent (origin, RP ID, flags, counter, user handle) to drive the
negative cases. Run as a module, it plays a user's device from the shell (the
walkthrough of docs/passkeys.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified
FLAG_BE = 0x08  # backup eligible
FLAG_BS = 0x10  # backed up
FLAG_AT = 0x40  # attested credential data follows
AAGUID = bytes(16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StoredCredential:
    """A passkey the authenticator holds: its id, key, relying party and user handle."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    """A platform authenticator with resident keys and user verification, in memory.

    ``counts`` false makes it report a sign count of 0 every time, as synced passkeys do.
    """

    origin: str = "http://localhost:3000"
    user_verification: bool = True
    counts: bool = True
    credentials: list[StoredCredential] = field(default_factory=list)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def _flags(self, user_verified: bool | None) -> int:
        verified = self.user_verification if user_verified is None else user_verified
        return FLAG_UP | (FLAG_UV if verified else 0) | FLAG_BE | FLAG_BS

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool | None = None,
        credential: StoredCredential | None = None,
        raw_id: bytes | None = None,
    ) -> dict[str, Any]:
        """Make a passkey for ``options`` (navigator.credentials.create()'s publicKey).

        ``credential`` answers with a passkey made before, as an authenticator that
        ignored ``excludeCredentials`` would (or with one of any ID, made for the test);
        ``raw_id`` names another credential ID in ``id`` and ``rawId`` than the one the
        authenticator data attests.
        """
        rp = rp_id or options["rp"]["id"]
        excluded = {item["id"] for item in options.get("excludeCredentials", [])}
        if credential is None and any(
            stored.id in excluded for stored in self.credentials if stored.rp_id == rp
        ):
            raise ValueError("InvalidStateError: this authenticator is excluded")
        stored = credential or StoredCredential(
            credential_id=secrets.token_bytes(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=b64url_decode(options["user"]["id"]),
        )
        if credential is None:
            self.credentials.append(stored)
        authenticator_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(user_verified) | FLAG_AT])
            + struct.pack(">I", stored.sign_count)
            + AAGUID
            + struct.pack(">H", len(stored.credential_id))
            + stored.credential_id
            + stored.cose_public_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": authenticator_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        named = stored.id if raw_id is None else b64url(raw_id)
        return {
            "id": named,
            "rawId": named,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential: StoredCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """Sign ``options`` (navigator.credentials.get()'s publicKey) with a passkey.

        Without ``credential``, the last one made for the options' RP ID answers, as the
        account picker would offer it. ``sign_count`` forces the counter reported.
        """
        stored = credential or next(
            stored for stored in reversed(self.credentials) if stored.rp_id == options["rpId"]
        )
        if sign_count is None:
            stored.sign_count += 1 if self.counts else 0
            sign_count = stored.sign_count
        authenticator_data = (
            hashlib.sha256((rp_id or stored.rp_id).encode()).digest()
            + bytes([self._flags(user_verified)])
            + struct.pack(">I", sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = stored.private_key.sign(
            authenticator_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": stored.id,
            "rawId": stored.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(authenticator_data),
                "signature": b64url(signature),
                "userHandle": b64url(stored.user_handle if user_handle is None else user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }


def _load(path: Path) -> SoftAuthenticator:
    authenticator = SoftAuthenticator()
    if path.exists():
        for item in json.loads(path.read_text()):
            key = serialization.load_pem_private_key(item["key"].encode(), password=None)
            authenticator.credentials.append(
                StoredCredential(
                    credential_id=b64url_decode(item["id"]),
                    private_key=key,
                    rp_id=item["rp_id"],
                    user_handle=b64url_decode(item["user_handle"]),
                    sign_count=item["sign_count"],
                )
            )
    return authenticator


def _save(authenticator: SoftAuthenticator, path: Path) -> None:
    pem = serialization.PrivateFormat.PKCS8
    path.write_text(
        json.dumps(
            [
                {
                    "id": stored.id,
                    "key": stored.private_key.private_bytes(
                        serialization.Encoding.PEM, pem, serialization.NoEncryption()
                    ).decode(),
                    "rp_id": stored.rp_id,
                    "user_handle": b64url(stored.user_handle),
                    "sign_count": stored.sign_count,
                }
                for stored in authenticator.credentials
            ]
        )
    )


def main(argv: list[str]) -> None:
    """``python -m keyhouse.mfa.testing create|get STATE ORIGIN``: answer the options on
    standard input with the credential JSON, keeping the passkeys in the file STATE."""
    command, state, origin = argv
    authenticator = _load(Path(state))
    authenticator.origin = origin
    options = json.load(sys.stdin)
    answer = getattr(authenticator, command)(options)
    _save(authenticator, Path(state))
    print(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1:])
