"""Regenerate our own test vectors: ``python -m tests.vectors.generate``.

Run once per format version; the tests check the code against the stored
files, never against a fresh run. Randomness comes from a SHAKE256 stream
seeded with a fixed label, so the output is reproducible.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from uhealthsec.crypto import (
    directory,
    envelope,
    journal,
    keystore,
    manifest,
    merkle,
    signing,
    wrap,
    xwing,
)
from uhealthsec.crypto.keys import UserKeys

HERE = Path(__file__).parent


class DeterministicRandom:
    def __init__(self, label: str) -> None:
        self._label = label.encode()
        self._counter = 0

    def __call__(self, size: int) -> bytes:
        self._counter += 1
        digest = hashes.Hash(hashes.SHAKE256(size))
        digest.update(self._label + self._counter.to_bytes(4, "big"))
        return digest.finalize()


def _pattern(size: int) -> bytes:
    return bytes((i * 7 + 3) % 251 for i in range(size))


def envelope_vectors() -> dict:
    rng = DeterministicRandom("envelope")
    chunk_log2 = envelope.MIN_CHUNK_LOG2
    chunk = 1 << chunk_log2
    valid = []
    for size in (0, 1, 32, chunk - 1, chunk, chunk + 1, 2 * chunk + 100):
        key, salt, prefix = rng(32), rng(32), rng(7)

        plaintext = _pattern(size)
        sink = io.BytesIO()
        summary = envelope.encrypt_stream(
            key,
            io.BytesIO(plaintext),
            sink,
            chunk_log2=chunk_log2,
            _salt=salt,
            _nonce_prefix=prefix,
        )
        assert summary.content_digest is not None
        valid.append(
            {
                "description": f"{size}-byte plaintext, 4 KiB chunks",
                "document_key": key.hex(),
                "salt": salt.hex(),
                "nonce_prefix": prefix.hex(),
                "chunk_log2": chunk_log2,
                "plaintext": plaintext.hex(),
                "envelope": sink.getvalue().hex(),
                "content_digest": summary.content_digest.hex(),
            }
        )
    base = valid[-1]
    sealed = bytes.fromhex(base["envelope"])
    h, sc = envelope.HEADER_SIZE, chunk + envelope.TAG_SIZE

    def flip(position: int) -> str:
        data = bytearray(sealed)
        data[position] ^= 0x01
        return bytes(data).hex()

    chunks = [sealed[h + i : h + i + sc] for i in range(0, len(sealed) - h, sc)]
    invalid = [
        ("bad magic", flip(0), "malformed"),
        ("unknown version", sealed[:4].hex() + "02" + sealed[5:].hex(), "unsupported"),
        ("salt modified", flip(10), "header_authentication"),
        ("header MAC modified", flip(h - 1), "header_authentication"),
        ("first chunk ciphertext modified", flip(h + 5), "chunk_authentication:0"),
        ("final chunk tag modified", flip(len(sealed) - 1), "chunk_authentication:2"),
        (
            "chunks 0 and 1 swapped",
            (sealed[:h] + chunks[1] + chunks[0] + chunks[2]).hex(),
            "chunk_authentication:0",
        ),
        ("final chunk dropped", (sealed[:h] + chunks[0] + chunks[1]).hex(), "truncated"),
        ("cut inside the final chunk", sealed[: h + 2 * sc + 10].hex(), "truncated"),
        ("header only", sealed[:h].hex(), "truncated"),
    ]
    return {
        "format": "U-HealthSec envelope v1 (docs/PROTOCOL.md, section Envelope)",
        "valid": valid,
        "invalid": [
            {"description": d, "document_key": base["document_key"], "envelope": e, "error": r}
            for d, e, r in invalid
        ],
    }


def wrap_vectors() -> dict:
    rng = DeterministicRandom("wrap")
    out = []
    for suite in (wrap.WrapSuite.CLASSICAL, wrap.WrapSuite.HYBRID):
        keys = UserKeys(
            ed25519.Ed25519PrivateKey.from_private_bytes(rng(32)),
            xwing.XWingPrivateKey(rng(32)),
            x25519.X25519PrivateKey.from_private_bytes(rng(32)),
        )
        document_key = rng(32)
        header = envelope.encrypt(rng(32), b"")[: envelope.HEADER_SIZE]
        ikm_e = rng(32) if suite is wrap.WrapSuite.CLASSICAL else None
        wrapped = wrap.wrap_document_key(document_key, keys.public(), header, suite, _ikm_e=ikm_e)
        out.append(
            {
                "suite": suite.name,
                "recipient_private_keys": keys.encode().hex(),
                "recipient_public_bundle": keys.public().encode().hex(),
                "envelope_header": header.hex(),
                "document_key": document_key.hex(),
                "ikm_e": ikm_e.hex() if ikm_e else None,
                "wrapped_key": wrapped.hex(),
                "deterministic": ikm_e is not None,
            }
        )
    return {"format": "U-HealthSec wrapped document key v1 (docs/PROTOCOL.md)", "vectors": out}


def signature_vectors() -> dict:
    rng = DeterministicRandom("signature")
    out = []
    for purpose in signing.Purpose:
        seed, digest = rng(32), rng(32)
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        out.append(
            {
                "purpose": purpose.value.decode(),
                "private_seed": seed.hex(),
                "public_key": key.public_key().public_bytes_raw().hex(),
                "digest": digest.hex(),
                "signed_message": signing.signed_message(purpose, digest).hex(),
                "signature": signing.sign(key, purpose, digest).hex(),
            }
        )
    return {"format": "U-HealthSec signatures v1 (docs/PROTOCOL.md)", "vectors": out}


def keystore_vectors() -> dict:
    rng = DeterministicRandom("keystore")
    out = []
    for password in ("correct horse battery staple", "Mot de passe très sûr ✓"):
        keys = UserKeys.decode(b"\x01" + rng(96))
        params = keystore.Argon2Params(keystore.Argon2Params.MIN_MEMORY_KIB, 2, 1, rng(16))
        created = keystore.create_keystore(password, keys=keys, params=params, random=rng)
        changed, new_auth = keystore.change_password(
            created.keystore, keys, password + " (new)", random=rng
        )
        out.append(
            {
                "password": password,
                "private_keys": keys.encode().hex(),
                "public_bundle": keys.public().encode().hex(),
                "public_fingerprint": keys.public().fingerprint().hex(),
                "recovery_key": created.recovery_key.hex(),
                "auth_secret": created.auth_secret.hex(),
                "keystore": created.keystore.encode().hex(),
                "new_password": password + " (new)",
                "new_auth_secret": new_auth.hex(),
                "keystore_after_password_change": changed.encode().hex(),
            }
        )
    return {"format": "U-HealthSec keystore v1 (docs/PROTOCOL.md)", "vectors": out}


def exchange_vectors() -> dict:
    """Tree heads, key directory entries and version manifests."""
    rng = DeterministicRandom("exchange")
    log_key = ed25519.Ed25519PrivateKey.from_private_bytes(rng(32))
    heads = []
    for size in (1, 2, 1000):
        head = merkle.TreeHead("keys", size, rng(32), 1_795_000_000_000 + size)
        heads.append(
            {
                "log": head.log,
                "size": head.size,
                "root": head.root.hex(),
                "timestamp_ms": head.timestamp_ms,
                "encoded": head.encode().hex(),
                "signature": head.sign(log_key).hex(),
            }
        )
    entries = []
    for email, kind, version in (
        ("dr.martin@demo.test", directory.AccountKindCode.PRACTITIONER, 1),
        ("camille.petit@demo.test", directory.AccountKindCode.PATIENT, 2),
    ):
        keys = UserKeys.decode(b"\x01" + rng(96))
        entry = directory.DirectoryEntry(
            uuid.UUID(bytes=rng(16)), version, kind, email, keys.public().encode()
        )
        encoded = entry.encode()
        entries.append(
            {
                "account_id": str(entry.account_id),
                "key_version": version,
                "kind": int(kind),
                "email": email,
                "bundle": entry.bundle.hex(),
                "encoded": encoded.hex(),
                "leaf_hash": merkle.leaf_hash(encoded).hex(),
                "safety_number": entry.safety_number(),
            }
        )
    author = ed25519.Ed25519PrivateKey.from_private_bytes(rng(32))
    manifests = []
    for version in (1, 2):
        m = manifest.VersionManifest(
            uuid.UUID(bytes=rng(16)),
            version,
            uuid.UUID(bytes=rng(16)),
            uuid.UUID(bytes=rng(16)),
            7 * version,
            rng(32),
            rng(32),
        )
        manifests.append(
            {
                "document_id": str(m.document_id),
                "version": m.version,
                "patient_file_id": str(m.patient_file_id),
                "author_id": str(m.author_id),
                "signer_key_index": m.signer_key_index,
                "content_digest": m.content_digest.hex(),
                "metadata_digest": m.metadata_digest.hex(),
                "encoded": m.encode().hex(),
                "digest": m.digest().hex(),
                "signature": m.sign(author).hex(),
            }
        )
    return {
        "format": "U-HealthSec tree heads, directory entries, version manifests v1",
        "log_public_key": log_key.public_key().public_bytes_raw().hex(),
        "author_public_key": author.public_key().public_bytes_raw().hex(),
        "tree_heads": heads,
        "directory_entries": entries,
        "manifests": manifests,
    }


def journal_vectors() -> dict:
    """Journal entries (unsigned and signed) and request digests."""
    rng = DeterministicRandom("journal")
    user = ed25519.Ed25519PrivateKey.from_private_bytes(rng(32))
    requests = []
    for method, target, body in (
        ("POST", "/documents", b'{"id":"x"}'),
        ("GET", "/documents?limit=50", b""),
        ("DELETE", "/documents/4f1c/shares/9a2b", b""),
    ):
        body_digest = hashes.Hash(hashes.SHA256())
        body_digest.update(body)
        digest = journal.request_digest(method, target, body_digest.finalize())
        requests.append(
            {
                "method": method,
                "target": target,
                "body": body.hex(),
                "request_digest": digest.hex(),
                "signature": journal.SignedRequest(digest).sign(user).hex(),
            }
        )
    entries = []
    # Version 1 (before chains) first, then version 2 with the subjects' chain links.
    for version, signed in ((1, False), (1, True), (2, False), (2, True)):
        actor = uuid.UUID(bytes=rng(16))
        objects = (
            (journal.ObjectKind.DOCUMENT, uuid.UUID(bytes=rng(16))),
            (journal.ObjectKind.PATIENT, uuid.UUID(bytes=rng(16))),
        )
        chain: tuple[journal.ChainLink, ...] = ()
        if version == 2:
            practice = uuid.UUID(bytes=rng(16))
            objects += ((journal.ObjectKind.PRACTICE, practice),)
            first = 0 if signed else 3  # a patient's first entry, then a later one
            chain = (
                journal.ChainLink(journal.ObjectKind.PATIENT, objects[1][1], first, 41 * first),
                journal.ChainLink(journal.ObjectKind.PRACTICE, practice, 1_000, 122),
            )
        entry = journal.JournalEntry(
            timestamp_ms=1_795_000_000_000,
            actor=actor,
            action="records.content",
            outcome=journal.Outcome.DONE if signed else journal.Outcome.DENIED,
            status=200 if signed else 404,
            objects=objects,
            client="uhs-cli",
            request_digest=bytes.fromhex(requests[0]["request_digest"]),
            signature=journal.RequestSignature(7, bytes.fromhex(requests[0]["signature"]))
            if signed
            else None,
            chain=chain,
            version=version,
        )
        encoded = entry.encode()
        entries.append(
            {
                "version": entry.version,
                "timestamp_ms": entry.timestamp_ms,
                "actor": str(entry.actor),
                "action": entry.action,
                "outcome": int(entry.outcome),
                "status": entry.status,
                "objects": [[int(k), str(i)] for k, i in entry.objects],
                "client": entry.client,
                "request_digest": entry.request_digest.hex(),
                "signature": None
                if entry.signature is None
                else {
                    "signer_key_index": entry.signature.signer_key_index,
                    "signature": entry.signature.signature.hex(),
                },
                "chain": [
                    {
                        "kind": int(link.kind),
                        "subject": str(link.subject),
                        "sequence": link.sequence,
                        "previous": link.previous,
                    }
                    for link in entry.chain
                ],
                "encoded": encoded.hex(),
                "leaf_hash": merkle.leaf_hash(encoded).hex(),
            }
        )
    return {
        "format": "U-HealthSec journal entries (versions 1 and 2) and request digests "
        "(docs/PROTOCOL.md, 13)",
        "user_public_key": user.public_key().public_bytes_raw().hex(),
        "requests": requests,
        "entries": entries,
    }


def proof_of_work_vectors() -> dict:
    """ALTCHA v1 challenges as our server issues them (docs/PROTOCOL.md section 14),
    computed here with hashlib and hmac alone, and the header that answers each."""
    import base64
    import hashlib
    import hmac

    key = _pattern(32)
    vectors = []
    for endpoint, cost, number in (("login", 20_000, 7_919), ("register", 1_000_000, 12)):
        subject = hashlib.sha256(f"subject of {endpoint}".encode()).hexdigest()[:32]
        salt = (
            f"{_pattern(12).hex()}?expires=4102444800&endpoint={endpoint}"
            f"&subject={subject}&cost={cost}&"
        )
        challenge = hashlib.sha256(f"{salt}{number}".encode()).hexdigest()
        signature = hmac.new(key, challenge.encode(), "sha256").hexdigest()
        payload = {
            "algorithm": "SHA-256",
            "challenge": challenge,
            "number": number,
            "salt": salt,
            "signature": signature,
        }
        vectors.append(
            {
                "endpoint": endpoint,
                "subject": subject,
                "cost": cost,
                "challenge": {
                    "algorithm": "SHA-256",
                    "challenge": challenge,
                    "maxnumber": cost,
                    "salt": salt,
                    "signature": signature,
                },
                "number": number,
                "header": base64.b64encode(json.dumps(payload).encode()).decode(),
            }
        )
    return {"hmac_key": key.hex(), "expires_unix": 4102444800, "vectors": vectors}


GENERATORS = {
    "envelope.json": envelope_vectors,
    "wrap.json": wrap_vectors,
    "signature.json": signature_vectors,
    "keystore.json": keystore_vectors,
    "exchange.json": exchange_vectors,
    "journal.json": journal_vectors,
    "proof_of_work.json": proof_of_work_vectors,
}


def main() -> None:
    """Regenerate the files named on the command line (all when none is named)."""
    for name in sys.argv[1:] or GENERATORS:
        build = GENERATORS[name]
        (HERE / name).write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
