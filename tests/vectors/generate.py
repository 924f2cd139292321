"""Regenerate our own test vectors: ``python -m tests.vectors.generate``.

Run once per format version; the tests check the code against the stored
files, never against a fresh run. Randomness comes from a SHAKE256 stream
seeded with a fixed label, so the output is reproducible.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tests.vectors import edwards, wrap_reference
from uhealthsec.client import recovery
from uhealthsec.client.search import DocumentFacts
from uhealthsec.crypto import (
    account_map,
    directory,
    envelope,
    hpke,
    journal,
    keystore,
    manifest,
    merkle,
    search,
    signing,
    wrap,
    xwing,
)
from uhealthsec.crypto.checkpoint import (
    COSIGNATURE_ED25519,
    Checkpoint,
    cosignature_line,
    sign_note,
    verifier_key,
)
from uhealthsec.crypto.errors import CryptoError, MalformedInput, error_identifier
from uhealthsec.crypto.keys import PUBLIC_BUNDLE_SIZE, UserKeys
from uhealthsec.protocol import search as wire_search
from uhealthsec.protocol import search_text
from uhealthsec.protocol.encoding import b64u_encode

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


def _envelope_v1_published() -> tuple[list[dict], list[dict]]:
    """The version 1 vectors as published: writers no longer write version 1, readers
    still read it. The version-byte case moves to 3, now the first unknown version."""
    stored = json.loads((HERE / "envelope.json").read_text())
    valid = [dict(v, version=1) for v in stored["valid"] if v.get("version", 1) == 1]
    invalid = [v for v in stored["invalid"] if not v["description"].startswith("v2")]
    for case in invalid:
        if case["description"].startswith("unknown version"):
            data = bytearray.fromhex(case["envelope"])
            data[4] = 3
            case.update(description="unknown version (3)", envelope=data.hex())
    base = bytearray.fromhex(valid[-2]["envelope"])
    base[4] = 2
    if not any(c["description"].startswith("version 1 relabelled") for c in invalid):
        invalid.append(
            {
                "description": "version 1 relabelled 2 (the header MAC covers the version)",
                "document_key": valid[-2]["document_key"],
                "envelope": base.hex(),
                "error": "header_authentication",
            }
        )
    return valid, invalid


def _seal_vector(rng: DeterministicRandom, size: int, chunk_log2: int, description: str) -> dict:
    key, salt, prefix = rng(32), rng(32), rng(7)
    plaintext = _pattern(size)
    sink = io.BytesIO()
    summary = envelope.encrypt_stream(
        key, io.BytesIO(plaintext), sink, chunk_log2=chunk_log2, _salt=salt, _nonce_prefix=prefix
    )
    sealed = sink.getvalue()
    # The digest is the Merkle tree hash over the header and the sealed chunks.
    step = (1 << chunk_log2) + envelope.TAG_SIZE
    leaves = [sealed[: envelope.HEADER_SIZE]] + [
        sealed[i : i + step] for i in range(envelope.HEADER_SIZE, len(sealed), step)
    ]
    assert summary.content_digest == merkle.root_of([merkle.leaf_hash(x) for x in leaves])
    return {
        "description": f"v2, {description} ({len(leaves)} leaves)",
        "version": 2,
        "document_key": key.hex(),
        "salt": salt.hex(),
        "nonce_prefix": prefix.hex(),
        "chunk_log2": chunk_log2,
        "plaintext": plaintext.hex(),
        "envelope": sealed.hex(),
        "content_digest": summary.content_digest.hex(),
    }


def envelope_vectors() -> dict:
    valid, cases = _envelope_v1_published()
    rng = DeterministicRandom("envelope v2")
    chunk_log2 = envelope.MIN_CHUNK_LOG2
    chunk = 1 << chunk_log2
    sizes = {
        0: "empty plaintext",
        1: "1-byte plaintext",
        chunk - 1: f"{chunk - 1}-byte plaintext",
        chunk: f"{chunk}-byte plaintext, one full chunk",
        chunk + 1: f"{chunk + 1}-byte plaintext, two chunks",
        2 * chunk + 100: f"{2 * chunk + 100}-byte plaintext, three chunks",
        3 * chunk + 100: f"{3 * chunk + 100}-byte plaintext, four chunks",
    }
    v2 = [_seal_vector(rng, n, chunk_log2, f"{d}, 4 KiB chunks") for n, d in sizes.items()]
    # The default chunk size changes only the header: a short plaintext keeps the file small.
    v2.append(_seal_vector(rng, 100, envelope.DEFAULT_CHUNK_LOG2, "100 bytes, 1 MiB chunks"))
    valid += v2
    base = v2[5]
    sealed = bytes.fromhex(base["envelope"])
    h, sc = envelope.HEADER_SIZE, chunk + envelope.TAG_SIZE

    def flip(position: int) -> str:
        data = bytearray(sealed)
        data[position] ^= 0x01
        return bytes(data).hex()

    def with_byte(position: int, value: int) -> str:
        return (sealed[:position] + bytes([value]) + sealed[position + 1 :]).hex()

    chunks = [sealed[h + i : h + i + sc] for i in range(0, len(sealed) - h, sc)]
    invalid = [
        ("bad magic", flip(0), "malformed"),
        ("unknown version (3)", with_byte(4, 3), "unsupported"),
        ("version 2 relabelled 1 (the MAC covers it)", with_byte(4, 1), "header_authentication"),
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
        ("unknown cipher", with_byte(5, 2), "unsupported"),
        ("chunk_log2 11, below the range", with_byte(6, 11), "malformed"),
        ("short piece (15 bytes) after a full chunk", sealed[: h + sc + 15].hex(), "truncated"),
    ]  # fmt: skip
    one_chunk = bytes.fromhex(v2[3]["envelope"])
    cases.append(
        {
            "description": "v2, a full final chunk followed by 17 bytes",
            "document_key": v2[3]["document_key"],
            "envelope": (one_chunk + _pattern(17)).hex(),
            "error": "trailing_data",
        }
    )
    cases += [
        {
            "description": f"v2, {d}",
            "document_key": base["document_key"],
            "envelope": e,
            "error": r,
        }
        for d, e, r in invalid
    ]
    for case in cases:  # the implementation agrees with every expected error
        try:
            envelope.decrypt(bytes.fromhex(case["document_key"]), bytes.fromhex(case["envelope"]))
        except CryptoError as exc:
            assert error_identifier(exc) == case["error"], (case["description"], exc)
        else:
            raise AssertionError(case["description"])
    # Bytes that do not start with a header of a known version: SHA-256 of them all.
    whole = [
        ("10 bytes, shorter than a header", sealed[:10]),
        ("bad magic", bytes.fromhex(flip(0))),
        ("unknown version (3)", bytes.fromhex(with_byte(4, 3))),
        ("chunk_log2 11, below the range", bytes.fromhex(with_byte(6, 11))),
    ]
    digests = [
        {"description": d, "data": x.hex(), "content_digest": envelope.content_digest(x).hex()}
        for d, x in whole
    ]
    for entry, (_, data) in zip(digests, whole, strict=True):
        assert entry["content_digest"] == hashlib.sha256(data).hexdigest()
    return {
        "format": "U-HealthSec envelope, versions 1 and 2 (docs/PROTOCOL.md, section Envelope)",
        "valid": valid,
        "invalid": cases,
        "digest_of_other_bytes": digests,
    }


def _header(rng: DeterministicRandom) -> bytes:
    """A reproducible envelope header (of an empty document under a random key)."""
    sink = io.BytesIO()
    envelope.encrypt_stream(
        rng(32), io.BytesIO(b""), sink, _salt=rng(envelope.SALT_SIZE), _nonce_prefix=rng(7)
    )
    return sink.getvalue()[: envelope.HEADER_SIZE]


def wrap_vectors() -> dict:
    stored = HERE / "wrap.json"
    # Kept as published: a hybrid key is sealed with ML-KEM randomness drawn inside the
    # library, so a new run would change the file without changing a case.
    valid = (
        [_with_version(vector) for vector in json.loads(stored.read_text())["vectors"]]
        if stored.exists()
        else []
    )
    for version, label in ((wrap.WRAP_VERSION_V1, "wrap"), (wrap.WRAP_VERSION, "wrap-v2")):
        if not any(vector["version"] == version for vector in valid):
            valid += _valid_wrapped_keys(version, DeterministicRandom(label))
    return {
        "format": "U-HealthSec wrapped document key, version 2 and version 1 (read only)"
        " (docs/PROTOCOL.md 6.3)",
        "vectors": valid,
        "invalid": _invalid_wrapped_keys(valid, DeterministicRandom("wrap-invalid"))
        + _relabelled_aead(valid, DeterministicRandom("wrap-relabelled")),
    }


def _with_version(vector: dict) -> dict:
    """A stored vector with its version first (those published before version 2 had none)."""
    version = int(vector["wrapped_key"][:2], 16)
    return {"version": version} | {k: v for k, v in vector.items() if k != "version"}


def _reference_suite(suite: wrap.WrapSuite) -> hpke.Suite:
    ids = suite.value
    return hpke.Suite.from_ids(ids.kem_id, ids.kdf_id, ids.aead_id)


def _valid_wrapped_keys(version: int, rng: DeterministicRandom) -> list[dict]:
    out = []
    for suite in (wrap.WrapSuite.CLASSICAL, wrap.WrapSuite.HYBRID):
        keys = UserKeys(
            ed25519.Ed25519PrivateKey.from_private_bytes(rng(32)),
            xwing.XWingPrivateKey(rng(32)),
            x25519.X25519PrivateKey.from_private_bytes(rng(32)),
        )
        document_key = rng(32)
        header = _header(rng)
        public = keys.public()
        if suite is wrap.WrapSuite.CLASSICAL:
            # Our reference HPKE takes the ephemeral key's ikmE; the library's does not.
            ikm_e: bytes | None = rng(32)
            wrapped = wrap_reference.seal_wrapped_key(
                version, _reference_suite(suite), public.x25519, header, document_key, ikm_e
            )
        elif version == wrap.WRAP_VERSION:
            ikm_e = None
            wrapped = wrap.wrap_document_key(document_key, public, header, suite)
        else:
            ikm_e = None
            wrapped = wrap_reference.seal_wrapped_key(
                version, _reference_suite(suite), public.xwing, header, document_key
            )
        assert wrap.unwrap_document_key(wrapped, keys, header) == document_key
        out.append(
            {
                "version": version,
                "suite": suite.name,
                "recipient_private_keys": keys.encode().hex(),
                "recipient_public_bundle": public.encode().hex(),
                "envelope_header": header.hex(),
                "document_key": document_key.hex(),
                "ikm_e": ikm_e.hex() if ikm_e else None,
                "wrapped_key": wrapped.hex(),
                "deterministic": ikm_e is not None,
            }
        )
    return out


def _refused(description: str, data: bytes, recipient: UserKeys, header: bytes, error: str) -> dict:
    try:
        wrap.unwrap_document_key(data, recipient, header)
    except CryptoError as exc:
        assert error_identifier(exc) == error, (description, exc)
    else:
        raise AssertionError(description)
    return {
        "description": description,
        "recipient_private_keys": recipient.encode().hex(),
        "envelope_header": header.hex(),
        "wrapped_key": data.hex(),
        "error": error,
    }


def _invalid_wrapped_keys(valid: list[dict], rng: DeterministicRandom) -> list[dict]:
    """Wrapped keys a recipient refuses, with the error of docs/PROTOCOL.md 8.1."""
    cases = []
    for vector in valid:
        wrapped = bytes.fromhex(vector["wrapped_key"])
        suite, version = vector["suite"], vector["version"]
        other_version = wrap.WRAP_VERSION if version == wrap.WRAP_VERSION_V1 else 1

        def changed(position: int, value: int, wrapped: bytes = wrapped) -> bytes:
            data = bytearray(wrapped)
            data[position] = value
            return bytes(data)

        other_header = _header(rng)
        stranger = UserKeys.decode(b"\x01" + rng(96))
        for description, data, header, keys, error in (
            ("unknown wrap version (3)", changed(0, 3), None, None, "unsupported"),
            ("an HPKE suite not accepted (AEAD 0x0001)", changed(6, 1), None, None, "unsupported"),
            ("suite relabelled (the other accepted KEM)",
             wrapped[:1] + (b"\x00\x20" if suite == "HYBRID" else b"\x64\x7a") + wrapped[3:],
             None, None, "malformed"),
            ("one byte short", wrapped[:-1], None, None, "malformed"),
            ("one byte more", wrapped + b"\x00", None, None, "malformed"),
            ("shorter than the prefix", wrapped[:6], None, None, "malformed"),
            ("enc modified", changed(7 + 5, wrapped[12] ^ 1), None, None, "decryption_failed"),
            ("sealed key modified", changed(len(wrapped) - 1, wrapped[-1] ^ 1), None, None,
             "decryption_failed"),
            ("another document's header", wrapped, other_header, None, "decryption_failed"),
            ("another recipient", wrapped, None, stranger, "decryption_failed"),
            (f"relabelled as version {other_version}", changed(0, other_version), None, None,
             "decryption_failed"),
        ):  # fmt: skip
            recipient = keys or UserKeys.decode(bytes.fromhex(vector["recipient_private_keys"]))
            header = header or bytes.fromhex(vector["envelope_header"])
            cases.append(
                _refused(f"v{version} {suite}: {description}", data, recipient, header, error)
            )
    return cases


def _relabelled_aead(valid: list[dict], rng: DeterministicRandom) -> list[dict]:
    """A classical key sealed for AES-128-GCM whose prefix claims AES-256-GCM.

    The layout is valid for the claimed suite, so only the cryptography refuses it:
    HPKE's key schedule and the prefix (in ``info`` for v2, the AAD for v1) both
    name the suite. (A hybrid key cannot be sealed reproducibly, so has no such case.)
    """
    sealed_for = hpke.Suite(
        hpke.KemId.DHKEM_X25519_HKDF_SHA256, hpke.KdfId.HKDF_SHA256, hpke.AeadId.AES_128_GCM
    )
    cases = []
    for vector in valid:
        if vector["suite"] != wrap.WrapSuite.CLASSICAL.name:
            continue
        keys = UserKeys.decode(bytes.fromhex(vector["recipient_private_keys"]))
        header = bytes.fromhex(vector["envelope_header"])
        sealed = wrap_reference.seal_wrapped_key(
            vector["version"],
            sealed_for,
            keys.public().x25519,
            header,
            bytes.fromhex(vector["document_key"]),
            rng(32),
        )
        relabelled = sealed[:6] + b"\x02" + sealed[7:]
        description = (
            f"v{vector['version']} CLASSICAL: sealed for AES-128-GCM, prefix relabelled AES-256-GCM"
        )
        cases.append(_refused(description, relabelled, keys, header, "decryption_failed"))
    return cases


def signature_vectors() -> dict:
    rng = DeterministicRandom("signature")
    out = []
    # Tree heads and their cosignatures were signed purposes until checkpoints (C2SP
    # signed notes) replaced them: their draws stay, so the later vectors do not move.
    retired = {b"tree-head", b"tree-head-cosignature"}
    labels = [b"document", b"message", b"request", *sorted(retired, key=len)]
    labels += [p.value for p in signing.Purpose if p.value not in labels]
    for label in labels:
        seed, digest = rng(32), rng(32)
        if label in retired:
            continue
        purpose = signing.Purpose(label)
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


def ed25519_key_vectors() -> dict:
    """Public keys a reader accepts and refuses (docs/PROTOCOL.md, section 4.1), computed
    with tests/vectors/edwards.py alone; each refused small-order key comes with a signature
    that OpenSSL's verification alone would accept."""
    rng = DeterministicRandom("ed25519-keys")
    message = b"uhealthsec/v1/signature\x00\x08document\x20" + bytes(32)
    names = ["the identity", "a point of order 8", "a point of order 4", "a point of order 8",
             "the point of order 2", "a point of order 8", "a point of order 4",
             "a point of order 8"]  # fmt: skip
    refused = []
    for name, point in zip(names, edwards.small_order_points(), strict=True):
        public_key = edwards.encode(point)
        forged = edwards.forge(public_key, point, message)
        assert forged is not None
        refused.append((f"{name}, with a signature OpenSSL alone accepts", public_key, forged))
    full_order_y = next(y for y in range(2, 19) if edwards.recover_x(y, 0) is not None)
    off_curve_y = next(y for y in range(2, 19) if edwards.recover_x(y, 0) is None)
    refused += [
        ("the identity, encoded with y = p + 1", edwards.encode_raw(edwards.P + 1, 0), None),
        ("a point of order 4, encoded with y = p", edwards.encode_raw(edwards.P, 0), None),
        ("the identity with the sign bit set (x = 0)", edwards.encode_raw(1, 1), None),
        ("the point of order 2 with the sign bit set", edwards.encode_raw(edwards.P - 1, 1), None),
        (
            f"a point of full order, encoded with y = p + {full_order_y}",
            edwards.encode_raw(edwards.P + full_order_y, 0),
            None,
        ),
        (f"not on the curve (y = {off_curve_y})", edwards.encode_raw(off_curve_y, 0), None),
    ]
    honest = ed25519.Ed25519PrivateKey.from_private_bytes(rng(32))
    honest_public = honest.public_key().public_bytes_raw()
    honest_point = edwards.decode(honest_public)
    assert honest_point is not None
    mixed = edwards.encode(edwards.add(honest_point, edwards.small_order_points()[1]))
    signature = honest.sign(message)
    s_plus_l = int.from_bytes(signature[32:], "little") + edwards.L
    return {
        "format": "Ed25519 public keys and verification (docs/PROTOCOL.md, section 4.1)",
        "message": message.hex(),
        "accepted_keys": [
            {"description": "an honest key", "public_key": honest_public.hex()},
            {
                "description": "an honest key plus a point of order 8 (not of small order)",
                "public_key": mixed.hex(),
            },
        ],
        "refused_keys": [
            {
                "description": d,
                "public_key": k.hex(),
                "signature": None if sig is None else sig.hex(),
                "error": "invalid_public_key",
            }
            for d, k, sig in refused
        ],
        "signatures": [
            {
                "description": "valid",
                "public_key": honest_public.hex(),
                "signature": signature.hex(),
                "error": None,
            },
            {
                "description": "S + L in place of S (non-canonical S)",
                "public_key": honest_public.hex(),
                "signature": (signature[:32] + s_plus_l.to_bytes(32, "little")).hex(),
                "error": "invalid_signature",
            },
            {
                "description": "the identity as R with S = 0",
                "public_key": honest_public.hex(),
                "signature": (edwards.encode(edwards.IDENTITY) + bytes(32)).hex(),
                "error": "invalid_signature",
            },
        ],
    }


def keystore_vectors() -> dict:
    rng = DeterministicRandom("keystore")
    out = []
    # The third password changes under NFKC (full-width letters, a ligature, a circled
    # digit, a composed accent typed as two code points): every device must derive the same.
    for password in (
        "correct horse battery staple",
        "Mot de passe très sûr ✓",
        "\uff2d\uff4f\uff54 \uff44\uff45 \ufb01celle \u2460 cafe\u0301",
    ):
        keys = UserKeys.decode(b"\x01" + rng(96))
        params = keystore.Argon2Params(keystore.Argon2Params.MIN_MEMORY_KIB, 2, 1, rng(16))
        created = keystore.create_keystore(password, keys=keys, params=params, random=rng)
        changed, new_auth = keystore.change_password(
            created.keystore, keys, password + " (new)", random=rng
        )
        out.append(
            {
                "password": password,
                "password_bytes": keystore.normalize_password(password).hex(),
                "private_keys": keys.encode().hex(),
                "public_bundle": keys.public().encode().hex(),
                "public_fingerprint": keys.public().fingerprint().hex(),
                "recovery_key": created.recovery_key.hex(),
                "recovery_words": " ".join(recovery.to_words(created.recovery_key)),
                "auth_secret": created.auth_secret.hex(),
                "keystore": created.keystore.encode().hex(),
                # Sign-in on the wire: what /auth/prelogin answers, what /auth/login carries.
                "prelogin_argon2_params": b64u_encode(created.keystore.password_params.encode()),
                "login_auth_secret": b64u_encode(created.auth_secret),
                "new_password": password + " (new)",
                "new_auth_secret": new_auth.hex(),
                "keystore_after_password_change": changed.encode().hex(),
            }
        )
    v2 = _keystore_v2_vectors(out[0])
    return {
        "format": "U-HealthSec keystore v1 and v2 (docs/PROTOCOL.md)",
        "vectors": out,
        "invalid": _invalid_keystores(out[0], rng),
        "vectors_v2": v2,
        "invalid_v2": _invalid_keystores_v2(v2[-1]),
    }


def _keystore_v2_vectors(base: dict) -> list[dict]:
    """Version 2 keystores (docs/PROTOCOL.md, 7.5): the first version 1 vector rotated
    once, then twice; each opens with its password and its recovery key, and holds the
    former key sets. Its own stream, so that version 1's vectors do not move."""
    rng = DeterministicRandom("keystore-v2")
    password = base["password"]
    stored = keystore.Keystore.decode(bytes.fromhex(base["keystore"]))
    current = UserKeys.decode(bytes.fromhex(base["private_keys"]))
    out = []
    for version in (1, 2):
        new_keys = UserKeys.decode(b"\x01" + rng(96))
        rotated = keystore.rotate_keystore(
            stored, current, version, password, new_keys=new_keys, random=rng
        )
        former = keystore.open_former_keys(rotated.keystore, new_keys)
        changed, new_auth = keystore.change_password(
            rotated.keystore, new_keys, password + " (new)", random=rng
        )
        out.append(
            {
                "password": password,
                "key_version": version + 1,
                "private_keys": new_keys.encode().hex(),
                "public_bundle": new_keys.public().encode().hex(),
                "recovery_key": rotated.recovery_key.hex(),
                "recovery_words": " ".join(recovery.to_words(rotated.recovery_key)),
                "auth_secret": rotated.auth_secret.hex(),
                "former_keys": [
                    {"key_version": f.key_version, "private_keys": f.keys.encode().hex()}
                    for f in former
                ],
                "keystore": rotated.keystore.encode().hex(),
                "new_password": password + " (new)",
                "new_auth_secret": new_auth.hex(),
                "keystore_after_password_change": changed.encode().hex(),
            }
        )
        stored, current = rotated.keystore, new_keys
    return out


def _invalid_keystores_v2(base: dict) -> list[dict]:
    """Version 2 keystores a reader refuses (7.5), each with its error identifier."""
    stored = bytes.fromhex(base["keystore"])
    keys = UserKeys.decode(bytes.fromhex(base["private_keys"]))
    former_at = keystore.KEYSTORE_SIZE  # the former keys' slot follows the recovery slot

    def replaced(position: int, value: int) -> str:
        data = bytearray(stored)
        data[position] = value
        return bytes(data).hex()

    def count(n: int) -> str:
        data = bytearray(stored)
        data[former_at + 5 : former_at + 7] = n.to_bytes(2, "big")
        return bytes(data).hex()

    def resealed(items: list[tuple[int, bytes]]) -> str:
        # Former keys sealed as a writer would, but with versions 7.5 refuses.
        decoded = keystore.Keystore.decode(stored)
        assert decoded.former is not None
        slot = keystore.FormerKeysSlot(
            decoded.former.current_version, len(items), decoded.former.nonce, b""
        )
        draft = replace(decoded, former=slot)
        plain = b"".join(v.to_bytes(4, "big") + k for v, k in items)
        key = HKDF(hashes.SHA256(), 32, None, b"uhealthsec/v2/keystore/former-keys").derive(
            keys.encode()
        )
        sealed = AESGCM(key).encrypt(slot.nonce, plain, draft.former_aad())
        return replace(draft, former=replace(slot, sealed=sealed)).encode().hex()

    formers = [(f["key_version"], bytes.fromhex(f["private_keys"])) for f in base["former_keys"]]
    cases = [
        ("unknown keystore version", replaced(4, 3), "unsupported"),
        ("version 2 without former keys", stored[: keystore.KEYSTORE_SIZE].hex(), "malformed"),
        ("version 1 with former keys", replaced(4, 1), "malformed"),
        ("one byte short", stored[:-1].hex(), "malformed"),
        ("former keys' slot type is not 0x03", replaced(former_at, 2), "malformed"),
        ("no former key set", count(0), "malformed"),
        ("a count the length does not hold", count(3), "malformed"),
        ("current version 1", (stored[: former_at + 1] + (1).to_bytes(4, "big")
                               + stored[former_at + 5 :]).hex(), "malformed"),
        ("former keys' ciphertext modified", replaced(len(stored) - 20, stored[-20] ^ 1),
         "malformed"),
        ("current version changed (bound as AAD)",
         (stored[: former_at + 1] + (9).to_bytes(4, "big") + stored[former_at + 5 :]).hex(),
         "malformed"),
        ("former versions not increasing", resealed(formers[::-1]), "malformed"),
        ("a former version equal to the current one",
         resealed([formers[0], (base["key_version"], formers[1][1])]), "malformed"),
    ]  # fmt: skip
    return [
        {"description": d, "keystore": k, "password": base["password"], "error": e}
        for d, k, e in cases
    ]


def _invalid_keystores(base: dict, rng: DeterministicRandom) -> list[dict]:
    """Keystores a reader refuses, each with the error identifier of docs/PROTOCOL.md 8.1.
    Every one is refused before Argon2id runs, except where the error says a slot failed."""
    stored = bytes.fromhex(base["keystore"])
    bundle_end = 5 + PUBLIC_BUNDLE_SIZE
    params_at = bundle_end + 1  # after the password slot's type byte

    def with_params(memory_kib: int, iterations: int, parallelism: int) -> str:
        params = (
            bytes([keystore.KDF_ARGON2ID])
            + memory_kib.to_bytes(4, "big")
            + iterations.to_bytes(4, "big")
            + bytes([parallelism])
        )
        return (stored[:params_at] + params + stored[params_at + len(params) :]).hex()

    def replaced(position: int, value: int) -> str:
        data = bytearray(stored)
        data[position] = value
        return bytes(data).hex()

    p = keystore.Argon2Params
    identity_key = bytearray(stored)
    identity_key[10:42] = (1).to_bytes(32, "little")
    # Keys sealed under a bundle that is not theirs: the slot opens, the check after it fails.
    other = UserKeys.decode(b"\x01" + rng(96))
    mismatched = keystore.Keystore.decode(stored)
    mismatched = keystore.Keystore(
        other.public(), mismatched.password_params, mismatched.password_nonce, b"",
        mismatched.recovery_nonce, b"",
    )  # fmt: skip
    slot_key = keystore.derive_password_secrets(base["password"], mismatched.password_params)
    private_keys = bytes.fromhex(base["private_keys"])
    mismatched = keystore.Keystore(
        mismatched.public_keys,
        mismatched.password_params,
        mismatched.password_nonce,
        AESGCM(slot_key.keystore_key).encrypt(
            mismatched.password_nonce, private_keys, mismatched.password_aad()
        ),
        mismatched.recovery_nonce,
        bytes(keystore.PRIVATE_KEYS_SIZE + 16),
    )
    cases = [
        ("bad magic", replaced(0, 0x55 ^ 1), "malformed"),
        ("unknown keystore version", replaced(4, 3), "unsupported"),
        ("one byte short", stored[:-1].hex(), "malformed"),
        ("Ed25519 key of the bundle is the identity", bytes(identity_key).hex(),
         "invalid_public_key"),
        ("password slot type is not 0x01", replaced(bundle_end, 2), "malformed"),
        ("unknown key-derivation function", replaced(params_at, 2), "unsupported"),
        ("recovery slot type is not 0x02", replaced(bundle_end + 152, 1), "malformed"),
        ("memory below the floor", with_params(p.MIN_MEMORY_KIB - 1, 2, 1), "weak_parameters"),
        ("one pass", with_params(p.MIN_MEMORY_KIB, 1, 1), "weak_parameters"),
        ("parallelism 0", with_params(p.MIN_MEMORY_KIB, 2, 0), "weak_parameters"),
        ("memory above the budget", with_params(p.MAX_MEMORY_KIB + 1, 2, 1),
         "parameters_above_budget"),
        ("iterations above the budget", with_params(p.MIN_MEMORY_KIB, p.MAX_ITERATIONS + 1, 1),
         "parameters_above_budget"),
        ("parallelism above the budget", with_params(p.MIN_MEMORY_KIB, 2, p.MAX_PARALLELISM + 1),
         "parameters_above_budget"),
        ("memory x iterations above the budget", with_params(p.MAX_MEMORY_KIB, 4, 1),
         "parameters_above_budget"),
        ("the former maximum: 1 GiB, 16 passes, 8 lanes", with_params(1024 * 1024, 16, 8),
         "parameters_above_budget"),
        ("password slot ciphertext modified",
         replaced(bundle_end + 40, stored[bundle_end + 40] ^ 1), "wrong_password"),
        ("private keys that do not match the bundle", mismatched.encode().hex(), "malformed"),
    ]  # fmt: skip
    return [
        {
            "description": d,
            "keystore": k,
            "password": base["password"],
            "error": e,
        }
        for d, k, e in cases
    ]


def exchange_vectors() -> dict:
    """Key directory entries and version manifests."""
    rng = DeterministicRandom("exchange")
    # The draws that signed the tree heads before checkpoints (checkpoint.json) stay,
    # so the values after them are unchanged.
    rng(32)
    for _size in (1, 2, 1000):
        rng(32)
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
    pair_entries = [directory.DirectoryEntry.decode(bytes.fromhex(e["encoded"])) for e in entries]
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
                **_signed_json(m, author),
            }
        )
    # Drawn after the version 1 manifests, so that those stay as they were.
    readers = tuple(
        manifest.Reader(uuid.UUID(bytes=rng(16)), email)
        for email in ("dr.martin@demo.test", "camille.petit@demo.test", "kine.durand@demo.test")
    )
    signed_readers = []
    previous = manifest.NO_PREVIOUS
    for version in (1, 2):
        m = manifest.VersionManifest(
            uuid.UUID(bytes=rng(16)),
            version,
            uuid.UUID(bytes=rng(16)),
            readers[0].account_id,
            7 * version,
            rng(32),
            rng(32),
            readers[: version + 1],
            previous,  # version 2 chains to the manifest of version 1 above
        )
        previous = m.digest()
        signed_readers.append(
            {
                "document_id": str(m.document_id),
                "version": m.version,
                "patient_file_id": str(m.patient_file_id),
                "author_id": str(m.author_id),
                "signer_key_index": m.signer_key_index,
                "content_digest": m.content_digest.hex(),
                "metadata_digest": m.metadata_digest.hex(),
                "previous": (m.previous or b"").hex(),
                "readers": _readers_json(m.readers or ()),
                "reader_list": manifest.encode_readers(m.readers or ()).hex(),
                **_signed_json(m, author),
            }
        )
    statement = manifest.ShareStatement(
        uuid.UUID(bytes=rng(16)), 3, readers[1].account_id, 11, readers[2]
    )
    share_statements = [
        {
            "document_id": str(statement.document_id),
            "version": statement.version,
            "granter_id": str(statement.granter_id),
            "signer_key_index": statement.signer_key_index,
            "recipient": _readers_json([statement.recipient])[0],
            **_signed_json(statement, author),
        }
    ]
    # Format 2 (R28): the same statement with the time the share may first be read.
    delayed = replace(statement, available_from=1_796_256_000)
    share_statements.append(
        {
            "document_id": str(delayed.document_id),
            "version": delayed.version,
            "granter_id": str(delayed.granter_id),
            "signer_key_index": delayed.signer_key_index,
            "recipient": _readers_json([delayed.recipient])[0],
            "available_from": delayed.available_from,
            **_signed_json(delayed, author),
        }
    )
    memberships = []
    # The first link derives the thread's id from its creator, nonce and members.
    nonce = rng(manifest.THREAD_NONCE_SIZE)
    first = manifest.ThreadMembership.first(readers[0].account_id, 6, nonce, readers[:2])
    for link in (
        first,
        manifest.ThreadMembership(
            first.thread_id, 2, readers[0].account_id, 7, first.digest(), readers
        ),
    ):
        memberships.append(
            {
                "thread_id": str(link.thread_id),
                "seq": link.seq,
                "actor_id": str(link.actor_id),
                "signer_key_index": link.signer_key_index,
                **({"nonce": nonce.hex()} if link.seq == 1 else {}),
                "previous": link.previous.hex(),
                "members": _readers_json(link.members),
                **_signed_json(link, author),
            }
        )
    # Drawn last, so that everything above stays as it was.
    revocation = manifest.RevocationStatement(
        uuid.UUID(bytes=rng(16)), 4, readers[0].account_id, 13, readers[2]
    )
    revocation_statements = [
        {
            "document_id": str(revocation.document_id),
            "version": revocation.version,
            "revoker_id": str(revocation.revoker_id),
            "signer_key_index": revocation.signer_key_index,
            "reader": _readers_json([revocation.reader])[0],
            **_signed_json(revocation, author),
        }
    ]
    # Drawn after the revocation, so that everything above stays as it was.
    message = manifest.MessageManifest(
        uuid.UUID(bytes=rng(16)), first.thread_id, readers[1].account_id, 17, rng(32)
    )
    message_manifests = [
        {
            "message_id": str(message.message_id),
            "thread_id": str(message.thread_id),
            "sender_id": str(message.sender_id),
            "signer_key_index": message.signer_key_index,
            "body_digest": message.body_digest.hex(),
            **_signed_json(message, author),
        }
    ]
    return {
        "format": "U-HealthSec directory entries, version manifests v1 and v2, "
        "share statements v1 and v2, revocation statements v1, thread memberships v1, "
        "message manifests v1",
        "author_public_key": author.public_key().public_bytes_raw().hex(),
        "directory_entries": entries,
        "manifests": manifests,
        "manifests_v2": signed_readers,
        "share_statements": share_statements,
        "revocation_statements": revocation_statements,
        "invalid_revocation_statements": _invalid_revocation_statements(revocation),
        "thread_memberships": memberships,
        "message_manifests": message_manifests,
        "pair_safety_numbers": [
            {
                "emails": [entries[0]["email"], entries[1]["email"]],
                "safety_number": directory.pair_safety_number(*pair_entries),
            }
        ],
    }


def _invalid_revocation_statements(valid: manifest.RevocationStatement) -> list[dict]:
    """Revocation statements a decoder refuses, each with the error of PROTOCOL 8.1."""
    encoded = valid.encode()
    reader_at = len(encoded) - len(valid.reader.encode())
    address = valid.reader.email.encode()

    def with_address(raw: bytes) -> bytes:
        return encoded[: reader_at + 16] + len(raw).to_bytes(2, "big") + raw

    cases = [
        ("share statement magic", manifest.GRANT_MAGIC + encoded[4:]),
        ("unknown format 0x02", encoded[:4] + b"\x02" + encoded[5:]),
        ("version 0", encoded[:21] + bytes(4) + encoded[25:]),
        ("key index of 2^63", encoded[:41] + (1 << 63).to_bytes(8, "big") + encoded[49:]),
        ("address longer than its length", encoded + b"x"),
        ("address shorter than its length", encoded[:-1]),
        ("empty address", with_address(b"")),
        ("address not UTF-8", with_address(address[:-1] + b"\xff")),
        ("address of 321 bytes", with_address(b"a" * 309 + b"@example.org")),
        ("truncated before the reader", encoded[:reader_at]),
    ]
    invalid = []
    for description, data in cases:
        try:
            manifest.RevocationStatement.decode(data)
        except CryptoError as exc:
            invalid.append(
                {"description": description, "encoded": data.hex(), "error": error_identifier(exc)}
            )
        else:
            raise AssertionError(f"{description}: decoded")
    return invalid


def _signed_json(signed, key) -> dict:
    """A signed statement's bytes, the digest signed and its signature by ``key``."""
    return {
        "encoded": signed.encode().hex(),
        "digest": signed.digest().hex(),
        "signature": signed.sign(key).hex(),
    }


def _readers_json(readers) -> list[dict]:
    return [{"account_id": str(r.account_id), "email": r.email} for r in readers]


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
    # A version 2 entry MUST link every patient and practice it names (13.2): the
    # last one above, without its patient's link, as a hostile server would write it.
    v2 = bytes.fromhex(entries[-1]["encoded"])
    links_at = len(v2) - 2 - 2 * 33
    patient_link, practice_link = v2[links_at + 2 : links_at + 35], v2[links_at + 35 :]
    assert patient_link[0] == journal.ObjectKind.PATIENT
    invalid = [
        {
            "description": "version 2 entry naming a patient without her chain link",
            "encoded": (v2[:links_at] + b"\x00\x01" + practice_link).hex(),
            "error": MalformedInput.identifier,
        }
    ]
    # Signed requests (13.0): fresh (signed_at_ms) and single-use (the Idempotency-Key,
    # empty for a GET), and what a reader of their fields must refuse.
    signed_requests = []
    for method, target, body, signed_at_ms, nonce in (
        ("POST", "/consents", b'{"decision":"permit"}', 1_795_000_000_000, "8c1f0c3e-6d7a-4f55"),
        ("GET", "/documents?limit=50", b"", 1_795_000_000_001, ""),
        ("DELETE", "/documents/4f1c/shares/9a2b", b"", 0, "k" * 64),
    ):
        body_digest = hashes.Hash(hashes.SHA256())
        body_digest.update(body)
        digest = journal.signed_request_digest(
            method, target, body_digest.finalize(), signed_at_ms, nonce
        )
        signed_requests.append(
            {
                "method": method,
                "target": target,
                "body": body.hex(),
                "signed_at_ms": signed_at_ms,
                "nonce": nonce,
                "signed_request_digest": digest.hex(),
                "signature": journal.SignedRequest(digest).sign(user).hex(),
            }
        )
    invalid_signed_requests = [
        {"description": "nonce over 64 bytes", "signed_at_ms": 0, "nonce": "k" * 65},
        {"description": "nonce not ASCII", "signed_at_ms": 0, "nonce": "clé-0123456789abcdef"},
        {"description": "signed_at_ms from 2^63", "signed_at_ms": 1 << 63, "nonce": ""},
        {"description": "negative signed_at_ms", "signed_at_ms": -1, "nonce": ""},
    ]
    return {
        "format": "U-HealthSec journal entries (versions 1 and 2), request digests and "
        "signed request digests (docs/PROTOCOL.md, 13)",
        "user_public_key": user.public_key().public_bytes_raw().hex(),
        "requests": requests,
        "signed_requests": signed_requests,
        "invalid_signed_requests": invalid_signed_requests,
        "entries": entries,
        "invalid": invalid,
    }


def proof_of_work_vectors() -> dict:
    """ALTCHA v2 challenges (Argon2id) as our server issues them (docs/PROTOCOL.md
    section 14), computed here with argon2-cffi's low-level Argon2id, hashlib and hmac
    (not altcha's code, which the server and the tests check against these), and the
    header that answers each."""
    import base64
    import hmac
    import struct

    from argon2.low_level import Type, hash_secret_raw

    key = _pattern(32)
    key_secret = hmac.new(key, b"uhealthsec altcha v2 key signature", "sha256").digest()
    expires = 4102444800
    vectors = []
    for endpoint, cost, counter in (("login", 16, 9), ("register", 64, 33)):
        subject = hashlib.sha256(f"subject of {endpoint}".encode()).hexdigest()[:32]
        nonce = hashlib.sha256(f"nonce of {endpoint}".encode()).digest()[:16]
        salt = hashlib.sha256(f"salt of {endpoint}".encode()).digest()[:16]
        derived = hash_secret_raw(
            secret=nonce + struct.pack(">I", counter),
            salt=salt,
            time_cost=1,
            memory_cost=8192,
            parallelism=1,
            hash_len=32,
            type=Type.ID,
        )
        parameters = {
            "algorithm": "ARGON2ID",
            "cost": 1,
            "data": {"cost": cost, "endpoint": endpoint, "subject": subject},
            "expiresAt": expires,
            "keyLength": 32,
            "keyPrefix": derived[:16].hex(),
            "keySignature": hmac.new(key_secret, derived, "sha256").hexdigest(),
            "memoryCost": 8192,
            "nonce": nonce.hex(),
            "parallelism": 1,
            "salt": salt.hex(),
        }
        signed = json.dumps(parameters, sort_keys=True, separators=(",", ":")).encode()
        challenge = {
            "parameters": parameters,
            "signature": hmac.new(key, signed, "sha256").hexdigest(),
        }
        payload = {
            "challenge": challenge,
            "solution": {"counter": counter, "derivedKey": derived.hex()},
        }
        vectors.append(
            {
                "endpoint": endpoint,
                "subject": subject,
                "cost": cost,
                "signed_parameters": signed.decode(),
                "challenge": challenge,
                "counter": counter,
                "derived_key": derived.hex(),
                "header": base64.b64encode(json.dumps(payload).encode()).decode(),
            }
        )
    return {
        "description": "ALTCHA v2, Argon2id (m=8192 KiB, t=1, p=1); keySignature under "
        "HMAC-SHA256(hmac_key, 'uhealthsec altcha v2 key signature') (docs/PROTOCOL.md, 14)",
        "hmac_key": key.hex(),
        "expires_unix": expires,
        "vectors": vectors,
    }


def key_rotation_vectors() -> dict:
    """An account's chain of three entries and its two rotation statements (10.6), and
    statements or chains a reader refuses, each with its error identifier."""
    from uhealthsec.crypto import key_rotation

    rng = DeterministicRandom("key-rotation")
    account = uuid.UUID(bytes=rng(16))
    keys = [UserKeys.decode(b"\x01" + rng(96)) for _ in range(3)]
    entries = [
        directory.DirectoryEntry(
            account, v + 1, directory.AccountKindCode.PATIENT, "camille@example.org",
            k.public().encode(),
        )
        for v, k in enumerate(keys)
    ]  # fmt: skip
    leaves = [e.encode() for e in entries]
    keystores = [rng(1568 + 19 + 101 * (v + 1) + 16) for v in range(2)]
    statements = [
        key_rotation.sign_rotation(
            entries[v], entries[v + 1], keystores[v], keys[v].signing, keys[v + 1].signing
        )
        for v in range(2)
    ]
    chain = [s.encode() for s in statements]
    intruder = UserKeys.decode(b"\x01" + rng(96))
    forged_entry = directory.DirectoryEntry(
        account, 2, directory.AccountKindCode.PATIENT, "camille@example.org",
        intruder.public().encode(),
    )  # fmt: skip
    by_intruder = key_rotation.sign_rotation(
        entries[0], forged_entry, keystores[0], intruder.signing, intruder.signing
    )

    def flipped(data: bytes, at: int) -> bytes:
        out = bytearray(data)
        out[at] ^= 1
        return bytes(out)

    hexes = [s.hex() for s in chain]
    refused = [
        ("version 2 without a statement", leaves[:2], [None, None], "invalid_proof"),
        ("a gap: versions 1 and 3", [leaves[0], leaves[2]], [None, hexes[1]], "invalid_proof"),
        ("the chain from version 2 only", leaves[1:], [None, hexes[1]], "invalid_proof"),
        ("a statement signed by the new key only (an intruder's keys)",
         [leaves[0], forged_entry.encode()], [None, by_intruder.encode().hex()],
         "invalid_signature"),
        ("the previous key's signature modified", leaves[:2],
         [None, flipped(chain[0], 130).hex()], "invalid_signature"),
        ("the new key's signature modified", leaves[:2],
         [None, flipped(chain[0], 200).hex()], "invalid_signature"),
        ("a statement naming other entries", leaves[:2],
         [None, flipped(chain[0], 30).hex()], "invalid_proof"),
        ("the statements swapped", leaves, [None, hexes[1], hexes[0]], "invalid_proof"),
        ("a statement one byte short", leaves[:2], [None, chain[0][:-1].hex()], "malformed"),
        ("an unknown statement version", leaves[:2], [None, flipped(chain[0], 4).hex()],
         "unsupported"),
        ("a statement for version 1", leaves[:1], [hexes[0]], "invalid_proof"),
    ]  # fmt: skip
    return {
        "format": "U-HealthSec key rotation v1 (docs/PROTOCOL.md 10.6)",
        "account_id": str(account),
        "entries": [
            {
                "leaf": leaf.hex(),
                "leaf_hash": merkle.leaf_hash(leaf).hex(),
                "signing_public_key": k.public().signing.hex(),
                "private_keys": k.encode().hex(),
                "safety_number": e.safety_number(),
            }
            for leaf, k, e in zip(leaves, keys, entries, strict=True)
        ],
        "rotations": [
            {
                "new_version": s.new_version,
                "keystore": ks.hex(),
                "keystore_digest": s.keystore_digest.hex(),
                "digest": s.digest().hex(),
                "signature_previous": s.signature_previous.hex(),
                "signature_new": s.signature_new.hex(),
                "statement": s.encode().hex(),
            }
            for s, ks in zip(statements, keystores, strict=True)
        ],
        "invalid_chains": [
            {
                "description": d,
                "leaves": [leaf.hex() for leaf in ls],
                "statements": st,
                "error": e,
            }
            for d, ls, st, e in refused
        ],
    }


def keystore_change_vectors() -> dict:
    """A password change as its owner signs it (docs/PROTOCOL.md, 16.2): the keystore
    vectors' first keystore and the one after its password change."""
    from uhealthsec.crypto.keystore_change import KeystoreChange

    rng = DeterministicRandom("keystore-change")
    stored = json.loads((HERE / "keystore.json").read_text())["vectors"][0]
    keys = UserKeys.decode(bytes.fromhex(stored["private_keys"]))
    change = KeystoreChange(
        uuid.UUID(bytes=rng(16)),
        bytes.fromhex(stored["keystore"]),
        bytes.fromhex(stored["keystore_after_password_change"]),
        bytes.fromhex(stored["new_auth_secret"]),
    )
    return {
        "format": "U-HealthSec keystore change v1 (docs/PROTOCOL.md)",
        "vectors": [
            {
                "account_id": str(change.account_id),
                "current_keystore": change.current.hex(),
                "new_keystore": change.new.hex(),
                "new_auth_secret": change.auth_secret.hex(),
                "signing_public_key": keys.public().signing.hex(),
                "digest": change.digest().hex(),
                "signature": change.sign(keys.signing).hex(),
            }
        ],
    }


def keystore_recovery_vectors() -> dict:
    """A forgotten password replaced with the recovery key (docs/PROTOCOL.md, 16.5):
    the keystore vectors' first keystore as the server hands it over (password slot
    zeroed), the keystore re-sealed from it, and the statement signing both."""
    from uhealthsec.crypto.keystore_change import KeystoreRecovery

    rng = DeterministicRandom("keystore-recovery")
    stored = json.loads((HERE / "keystore.json").read_text())["vectors"][0]
    keys = UserKeys.decode(bytes.fromhex(stored["private_keys"]))
    recovery_only = keystore.Keystore.decode(bytes.fromhex(stored["keystore"])).recovery_only()
    resealed, auth_secret = keystore.change_password(
        recovery_only,
        keystore.unlock_with_recovery_key(recovery_only, bytes.fromhex(stored["recovery_key"])),
        "a new password chosen after forgetting the old one",
        random=rng,
    )
    recovery = KeystoreRecovery(uuid.UUID(bytes=rng(16)), rng(32), resealed.encode(), auth_secret)
    return {
        "format": "U-HealthSec keystore recovery v1 (docs/PROTOCOL.md)",
        "vectors": [
            {
                "account_id": str(recovery.account_id),
                "recovery_keystore": recovery_only.encode().hex(),
                "recovery_key": stored["recovery_key"],
                "new_password": "a new password chosen after forgetting the old one",
                "nonce": recovery.nonce.hex(),
                "new_keystore": recovery.new.hex(),
                "new_auth_secret": recovery.auth_secret.hex(),
                "signing_public_key": keys.public().signing.hex(),
                "digest": recovery.digest().hex(),
                "signature": recovery.sign(keys.signing).hex(),
            }
        ],
    }


def factor_change_vectors() -> dict:
    """A change of second factors as its owner signs it (docs/PROTOCOL.md, 16.4): one
    per action, with the keystore vectors' first keys."""
    from uhealthsec.crypto.factor_change import FactorAction, FactorChange

    rng = DeterministicRandom("factor-change")
    stored = json.loads((HERE / "keystore.json").read_text())["vectors"][0]
    keys = UserKeys.decode(bytes.fromhex(stored["private_keys"]))
    account_id = uuid.UUID(bytes=rng(16))
    subjects = {
        FactorAction.ADD_TOTP: b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        FactorAction.ADD_PASSKEY: rng(32),
        FactorAction.REMOVE_PASSKEY: rng(16),
        FactorAction.LINK_E_CPS: b"lQ3xV0m2cJtY8fWk4aHn6pRz1sUe7bGd9oKi5LyTqAc",
        FactorAction.UNLINK_E_CPS: bytes.fromhex("6f1c2a7e94b3485d8e0f1a2b3c4d5e6f"),
    }
    vectors = []
    for action in FactorAction:
        change = FactorChange(account_id, action, subjects.get(action, b""), rng(32))
        vectors.append(
            {
                "account_id": str(change.account_id),
                "action": action.value.decode(),
                "subject": change.subject.hex(),
                "nonce": change.nonce.hex(),
                "signing_public_key": keys.public().signing.hex(),
                "digest": change.digest().hex(),
                "signature": change.sign(keys.signing).hex(),
            }
        )
    return {"format": "U-HealthSec factor change v1 (docs/PROTOCOL.md)", "vectors": vectors}


def account_map_vectors() -> dict:
    """A key directory's map (section 10.4): accounts, their values, the root, a proof
    for each account, and proofs a reader must refuse."""
    rng = DeterministicRandom("account-map")
    accounts = [uuid.UUID(bytes=rng(16), version=4) for _ in range(8)]
    values = {
        a: account_map.MapValue(2 * i, merkle.leaf_hash(a.bytes), 1) for i, a in enumerate(accounts)
    }
    tree = account_map.AccountMap((account_map.map_key(a), v.encode()) for a, v in values.items())
    root = tree.root()

    def proof_json(proof: account_map.MapProof) -> dict:
        return {
            "depth": proof.depth,
            "present": proof.present.hex(),
            "siblings": [s.hex() for s in proof.siblings],
        }

    proofs = {a: tree.prove(account_map.map_key(a)) for a in accounts}
    first, second = accounts[0], accounts[1]
    deepest = max(accounts, key=lambda a: proofs[a].depth)
    p = proofs[deepest]
    invalid = [
        ("the value of another account", first, values[second], proofs[first]),
        (
            "a sibling dropped",
            deepest,
            values[deepest],
            account_map.MapProof(p.depth, p.present, p.siblings[1:]),
        ),
        (
            "starting one level deeper, under an empty sibling",
            deepest,
            values[deepest],
            account_map.MapProof(
                p.depth + 1,
                (int.from_bytes(p.present + b"\x00", "big") >> 1).to_bytes(
                    len(p.present) + 1, "big"
                )[: (p.depth + 8) // 8],
                p.siblings,
            ),
        ),
    ]
    commitment = account_map.MapCommitment(2 * len(accounts), root)
    return {
        "description": "The key directory's map: key = SHA256('uhealthsec/v1/directory-map' "
        "|| 0x00 || account id (16 bytes)), value = u64(index) || leaf hash || u32(count); "
        "proofs list the non-empty siblings from the key's depth up, deepest first.",
        "root": root.hex(),
        "commitment": commitment.encode().hex(),
        "entries": [
            {
                "account_id": str(a),
                "key": account_map.map_key(a).hex(),
                "value": values[a].encode().hex(),
                "proof": proof_json(proofs[a]),
            }
            for a in accounts
        ],
        "invalid": [
            {
                "description": description,
                "account_id": str(account),
                "value": value.encode().hex(),
                "proof": proof_json(proof),
            }
            for description, account, value, proof in invalid
        ],
    }


def checkpoint_vectors() -> dict:
    """Signed checkpoints and cosignatures (C2SP signed-note, tlog-checkpoint,
    tlog-cosignature v1), the reference signed note of the Go implementation, and
    notes a reader refuses."""
    rng = DeterministicRandom("checkpoint")
    log_seed = rng(32)
    log_key = ed25519.Ed25519PrivateKey.from_private_bytes(log_seed)
    log_public = log_key.public_key().public_bytes_raw()
    origin = "sante.example.fr/keys"
    checkpoints = []
    for size in (0, 1, 2, 1000, 2**63 - 1):
        point = Checkpoint(origin, size, rng(32))
        checkpoints.append({"size": size, "root": point.root.hex(), "note": point.sign(log_key)})
    witness_key = ed25519.Ed25519PrivateKey.from_private_bytes(rng(32))
    witness_public = witness_key.public_key().public_bytes_raw()
    witness_name = "audit.example.org/journal-witness"
    cosigned = Checkpoint(origin, 1000, bytes.fromhex(checkpoints[3]["root"]))
    timestamp = 1_795_000_000
    signature = cosigned.cosign(witness_key, timestamp)
    line = cosignature_line(witness_name, witness_public, timestamp, signature)
    good = checkpoints[1]["note"]
    text, sig_line = good.split("\n\n")
    other_key = ed25519.Ed25519PrivateKey.from_private_bytes(rng(32))
    refused = [
        ("no signature line", text + "\n", "malformed"),
        ("no blank line", text + sig_line, "malformed"),
        (
            "signed by another key",
            Checkpoint(origin, 1, bytes.fromhex(checkpoints[1]["root"])).sign(other_key),
            "invalid_signature",
        ),
        (
            "another origin",
            Checkpoint("sante.example.fr/journal", 1, bytes.fromhex(checkpoints[1]["root"])).sign(
                log_key
            ),
            "invalid_signature",
        ),
        ("size changed", good.replace("\n1\n", "\n2\n", 1), "invalid_signature"),
        (
            "size with a leading zero",
            sign_note(text.replace("\n1\n", "\n01\n", 1).encode() + b"\n", origin, log_key),
            "malformed",
        ),
        (
            "an extension line",
            sign_note(text.encode() + b"\nextension\n", origin, log_key),
            "malformed",
        ),
        (
            "root of 31 bytes",
            sign_note(
                f"{origin}\n1\n{base64.b64encode(bytes(31)).decode()}\n".encode(), origin, log_key
            ),
            "malformed",
        ),
        (
            "root not canonical base64",
            sign_note(
                f"{origin}\n1\n{base64.b64encode(bytes(32)).decode()[:-2]}B=\n".encode(),
                origin,
                log_key,
            ),
            "malformed",
        ),
        ("a control character", good.replace("\n1\n", "\n1\t\n", 1), "malformed"),
        (
            "a second, bad signature by the log's key",
            good + sig_line.replace(sig_line[-10:-1], "AAAAAAAAA"),
            "invalid_signature",
        ),
    ]
    return {
        "format": "C2SP signed-note (Ed25519), tlog-checkpoint, tlog-cosignature v1 (Ed25519)",
        "log_origin": origin,
        "log_private_seed": log_seed.hex(),
        "log_public_key": log_public.hex(),
        "log_verifier_key": verifier_key(origin, log_public),
        "checkpoints": checkpoints,
        "cosignature": {
            "witness_name": witness_name,
            "witness_public_key": witness_public.hex(),
            "witness_verifier_key": verifier_key(witness_name, witness_public, COSIGNATURE_ED25519),
            "timestamp": timestamp,
            "signed_message": cosigned.cosignature_message(timestamp).decode(),
            "note": checkpoints[3]["note"] + line,
        },
        # golang.org/x/mod/sumdb/note's example: ours must sign it byte for byte.
        "reference_note": {
            "signer_key": "PRIVATE+KEY+PeterNeumann+c74f20a3+"
            "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "verifier_key": "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "text": "If you think cryptography is the answer to your problem,\n"
            "then you don't know what your problem is.\n",
            "note": "If you think cryptography is the answer to your problem,\n"
            "then you don't know what your problem is.\n\n"
            "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
            "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        },
        "refused_checkpoints": [{"description": d, "note": n, "error": e} for d, n, e in refused],
    }


def _fhir_files() -> list[bytes]:
    """Files both clients must read alike as FHIR resources, or both refuse."""
    note = b'{"resourceType": "Basic", "note": "lombalgie"'
    nested = b', "deep": %s%s}'
    return [
        note + b"}",
        b"\xef\xbb\xbf" + note + b"}",  # one UTF-8 BOM
        (note + b"}").decode().encode("utf-16"),  # UTF-16: not read
        note + b', "n": NaN}',
        note + b', "n": Infinity}',
        b'{"resourceType": "Basic", "note": "\xed\xa0\x80 lombalgie"}',  # a surrogate
        note + b', "n": ' + b"9" * 5000 + b"}",  # a number of any length
        note + nested % (b"[" * 511, b"]" * 511),  # 512 deep, the object included
        note + nested % (b"[" * 512, b"]" * 512),  # 513 deep: not read
        note + b', "s": "[[[[' + b"[" * 600 + b'"}',  # brackets in a string do not nest
        b'["resourceType", "lombalgie"]',
        b'{"resourceType": 3, "note": "lombalgie"}',
    ]


def _deep(levels: int) -> dict:
    """Nested objects, a word at each level: those past MAX_FHIR_DEPTH are not read."""
    node: dict = {"note": f"niveau{levels}"}
    for level in range(levels - 1, 0, -1):
        node = {"note": f"niveau{level}", "part": node}
    return node


def search_vectors() -> dict:
    """The search analyser (inputs -> keywords) and Mitra's entries (index key, keyword,
    counter -> label, value), state envelope and document keyword list."""
    rng = DeterministicRandom("uhs search vectors v1")
    texts = [
        "Compte-rendu d'IRM lombaire : lombalgie chronique, pas de hernie discale.",
        "Radiographie de l'\u00e9paule droite r\u00e9alis\u00e9e le 2026-11-27.",
        "\u0152d\u00e8me des membres inf\u00e9rieurs ; \u00e9chographie-doppler normale",
        "The patient reports LOW BACK pain since 2025-03; MRI requested.",
        "\uff29\uff32\uff2d  \ufb01brome   na\u00efve Stra\u00dfe \u00c6sculape",
        "ordonnance_2026-01-05_Dupont.pdf",
        "",
        "Douleurs abdominales aigu\u00ebs, fi\u00e8vre \u00e0 39,5 \u00b0C ; "
        "r\u00e9-\u00e9valuation 2026-13-45 12345-67-89 \u00b2\u2075 x",
        "Fran\u00e7aises et fran\u00e7ais : c\u0153ur, \u0153sophage, na\u00efvet\u00e9 ; "
        "identifiant a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3 r\u00e9sum\u00e9",
        "\u0130stanbul \u03a3\u03bf\u03c6\u03af\u03b1 \u0645\u0631\u062d\u0628\u0627 "
        "\u65e5\u672c\u8a9e \U0001d400\U0001d401 caf\u0065\u0301",
    ]
    names = [
        "Petit",
        "Marie-Th\u00e9r\u00e8se de La Fontaine",
        "Dr \u00c9lo\u00efse N'Guyen",
        "Li",
        "Anticonstitutionnellementissimus Bo",
        "\u00c6lis \u0141ukasiewicz-\u00d8stergaard",
    ]
    queries = [
        "pet",
        "Mme Petit IRM",
        "lombalgies chroniques",
        "2026-11-27 \u00e9paule",
        "le la les",
        "2026-11 2026-11 petit Petit PETIT fran\u00e7aises",
        "  ",
    ]
    stem_words = [
        line
        for line in (HERE / "search_stem_words.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    documents = [
        DocumentFacts(
            document_id=uuid.UUID(int=1),
            title="Compte-rendu d'IRM lombaire",
            filename="irm_2026-11-27.txt",
            media_type="text/plain",
            patient="Am\u00e9lie Petit",
            author="Dr Jean Martin",
            day=date(2026, 11, 27),
            text="Lombalgie chronique sans hernie discale. Contr\u00f4le dans six mois.",
        ),
        DocumentFacts(
            document_id=uuid.UUID(int=2), filename="scan.pdf", media_type="application/pdf"
        ),
    ]
    key = rng(search.INDEX_KEY_SIZE)
    keys = search.IndexKeys.derive(key)
    index_id = uuid.UUID(bytes=rng(16))
    entries = []
    for keyword, counter, op in (
        ("lombalg", 1, search.Op.ADD),
        ("pet", 2, search.Op.ADD),
        ("2026-11-27", 3, search.Op.DELETE),
        ("\u00e9paul", 2**40, search.Op.ADD),
    ):
        document_id = uuid.UUID(bytes=rng(16))
        entries.append(
            {
                "keyword": keyword,
                "counter": counter,
                "op": "add" if op is search.Op.ADD else "delete",
                "document_id": str(document_id),
                "label": search.label(keys, keyword, counter).hex(),
                "value": search.value(keys, keyword, counter, op, document_id).hex(),
            }
        )
    counters = search.Counters({"lombalg": 3, "pet": 1, "\u00e9paul": 12})
    document_id = uuid.UUID(bytes=rng(16))
    fhir_resources = [
        {
            "resourceType": "Composition",
            "id": "bilan-1",
            "status": "final",
            "title": "Compte-rendu de kin\u00e9sith\u00e9rapie",
            "subject": {"reference": "Patient/p1", "display": "Camille Petit"},
            "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
            "section": [
                {
                    "title": "Bilan",
                    "text": {
                        "status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Entorse de la '
                        "cheville&#160;: dix s&#xE9;ances &amp; r&#233;&#0;&#xD800;&#x110000;"
                        "&eacute;</p><br/>lombalgie</div>",
                    },
                }
            ],
            "extension": [{"url": "http://example.org/x", "valueInteger": 3}],
        },
        {
            "resourceType": "Observation",
            "valueQuantity": {"value": 39.5, "unit": "\u00b0C"},
            "note": [{"text": "Fi\u00e8vre depuis le 2026-11-25"}],
            "contained": [{"resourceType": "Patient", "name": [{"family": "Dupont"}]}],
            "effectiveBoolean": True,
        },
        {"resourceType": "Basic", "code": {"text": "trop profond"}, "nested": _deep(40)},
    ]
    # Drawn last, so that the vectors drawn before keep their values.
    account_secret = rng(32)
    personal_id, personal_key = search.personal_index(account_secret)
    return {
        "analyser": {
            "text": [{"input": t, "keywords": sorted(search_text.text_keywords(t))} for t in texts],
            "name": [{"input": n, "keywords": sorted(search_text.name_keywords(n))} for n in names],
            "query": [
                {"input": q, "terms": [sorted(term) for term in search_text.query_terms(q)]}
                for q in queries
            ],
            "stems": [{"word": w, "stem": search_text._french().stemWord(w)} for w in stem_words],
            "fhir": [
                {
                    "resource": r,
                    "keywords": sorted(search_text.text_keywords(search_text.fhir_text(r))),
                }
                for r in fhir_resources
            ],
            "fhir_files": [
                {
                    "hex": raw.hex(),
                    "keywords": sorted(
                        search_text.text_keywords(search_text.fhir_resource_text(raw))
                    ),
                }
                for raw in _fhir_files()
            ],
            "documents": [
                {
                    "facts": {
                        "title": d.title,
                        "filename": d.filename,
                        "media_type": d.media_type,
                        "patient": d.patient,
                        "author": d.author,
                        "day": d.day.isoformat() if d.day else None,
                        "text": d.text,
                    },
                    "limit": wire_search.MAX_DOCUMENT_KEYWORDS,
                    "keywords": sorted(d.keywords()),
                }
                for d in documents
            ],
        },
        "scheme": {
            "index_key": key.hex(),
            "prf_key": keys.prf.hex(),
            "state_key": keys.state.hex(),
            "document_key": keys.document.hex(),
            "entries": entries,
            "state": {
                "index_id": str(index_id),
                "version": 7,
                "encoded": search.encode_counters(counters).hex(),
                "counters": dict(sorted(counters.items())),
                "sealed": search.seal_state(keys, index_id, 7, counters).hex(),
            },
            "document": {
                "document_id": str(document_id),
                "label": search.document_label(keys, document_id).hex(),
                "keywords": ["irm", "lombalg", "pet"],
                "sealed": search.seal_keywords(keys, document_id, ["pet", "irm", "lombalg"]).hex(),
            },
            "personal_index": {
                "account_secret": account_secret.hex(),
                "index_id": str(personal_id),
                "index_key": personal_key.hex(),
            },
        },
    }


GENERATORS = {
    "envelope.json": envelope_vectors,
    "wrap.json": wrap_vectors,
    "signature.json": signature_vectors,
    "ed25519_keys.json": ed25519_key_vectors,
    "keystore.json": keystore_vectors,
    "exchange.json": exchange_vectors,
    "journal.json": journal_vectors,
    "proof_of_work.json": proof_of_work_vectors,
    "keystore_change.json": keystore_change_vectors,
    "key_rotation.json": key_rotation_vectors,
    "keystore_recovery.json": keystore_recovery_vectors,
    "factor_change.json": factor_change_vectors,
    "account_map.json": account_map_vectors,
    "checkpoint.json": checkpoint_vectors,
    "search.json": search_vectors,
}


def main() -> None:
    """Regenerate the files named on the command line (all when none is named)."""
    for name in sys.argv[1:] or GENERATORS:
        build = GENERATORS[name]
        (HERE / name).write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
