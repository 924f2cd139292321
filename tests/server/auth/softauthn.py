"""A software WebAuthn authenticator (packed-less, "none" attestation, ES256), built
from the W3C WebAuthn Level 3 data layouts, so passkeys are tested without hardware."""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from uhealthsec.protocol.encoding import b64u_decode, b64u_encode

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40


class SoftAuthenticator:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.sign_count = 0

    def _cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """navigator.credentials.create() with the server's options."""
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        attested = (
            b"\0" * 16
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_public_key()
        )
        auth_data = rp_hash + bytes([FLAG_UP | FLAG_UV | FLAG_AT]) + struct.pack(">I", 0) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return self._credential(
            clientDataJSON=b64u_encode(client_data),
            attestationObject=b64u_encode(attestation),
            transports=["internal"],
        )

    def get(self, options: dict[str, Any], rp_id: str) -> dict[str, Any]:
        """navigator.credentials.get() with the server's options."""
        allowed = [b64u_decode(c["id"]) for c in options.get("allowCredentials", [])]
        assert self.credential_id in allowed
        self.sign_count += 1
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([FLAG_UP | FLAG_UV])
            + struct.pack(">I", self.sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return self._credential(
            clientDataJSON=b64u_encode(client_data),
            authenticatorData=b64u_encode(auth_data),
            signature=b64u_encode(signature),
            userHandle=None,
        )

    def _credential(self, **response: Any) -> dict[str, Any]:
        """The JSON form of a PublicKeyCredential, as a browser serialises it."""
        return {
            "id": b64u_encode(self.credential_id),
            "rawId": b64u_encode(self.credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
        }
