"""HPKE (RFC 9180), base mode: our own implementation, kept as a reader and a reference.

Document keys are wrapped and unwrapped with ``cryptography``'s HPKE (``wrap.py``,
version 2). This module stays for what that API does not offer:

- opening version 1 wrapped keys, which bind their prefix as the AEAD's AAD:
  ``cryptography``'s public API takes no AAD (``Context.open``, the recipient side);
- ``DeriveKeyPair`` and an ``Encap`` derandomized by ``ikm_e``, which it does not
  expose: with them the RFC 9180 and draft-ietf-hpke-pq vectors are reproduced
  (and the exporter checked), and the classical wrapped-key vectors written byte
  for byte. No writer of the library calls the sender side.

Two KEMs are provided: DHKEM(X25519, HKDF-SHA256) (RFC 9180 section 7.1) and
X-Wing as MLKEM768-X25519 of draft-ietf-hpke-pq-04 (docs/PROTOCOL.md 6.4); one
KDF, HKDF-SHA256; the AEADs AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305. Only
base mode is implemented: the sender is authenticated by an Ed25519 signature elsewhere,
never by the KEM. Primitives come from ``cryptography``; this module is the
RFC 9180 key schedule around them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from uhealthsec.crypto import xwing
from uhealthsec.crypto.errors import DecryptionFailed, MalformedInput, UnsupportedVersion

_HPKE_V1 = b"HPKE-v1"
_MODE_BASE = 0x00
_NH = 32  # HKDF-SHA256 output size


def i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def _extract(salt: bytes, ikm: bytes) -> bytes:
    # HMAC pads a short key with zeros, so an empty salt equals Nh zero bytes (RFC 5869).
    mac = hmac.HMAC(salt, hashes.SHA256())
    mac.update(ikm)
    return mac.finalize()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, _HPKE_V1 + suite_id + label + ikm)


def labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, i2osp(length, 2) + _HPKE_V1 + suite_id + label + info, length)


class KemId(IntEnum):
    DHKEM_X25519_HKDF_SHA256 = 0x0020
    XWING = 0x647A


class KdfId(IntEnum):
    HKDF_SHA256 = 0x0001


class AeadId(IntEnum):
    AES_128_GCM = 0x0001
    AES_256_GCM = 0x0002
    CHACHA20_POLY1305 = 0x0003


_AEAD_KEY_SIZE = {AeadId.AES_128_GCM: 16, AeadId.AES_256_GCM: 32, AeadId.CHACHA20_POLY1305: 32}
_NN = 12
_NT = 16

PrivateKey = x25519.X25519PrivateKey | xwing.XWingPrivateKey


class Kem(Protocol):
    kem_id: KemId
    n_enc: int
    n_pk: int

    def encap(self, public_key: bytes, ikm_e: bytes | None = None) -> tuple[bytes, bytes]: ...

    def decap(self, enc: bytes, private_key: PrivateKey) -> bytes: ...


class DhkemX25519:
    """DHKEM(X25519, HKDF-SHA256), RFC 9180 section 4.1."""

    kem_id = KemId.DHKEM_X25519_HKDF_SHA256
    n_enc = 32
    n_pk = 32
    _suite_id = b"KEM" + i2osp(KemId.DHKEM_X25519_HKDF_SHA256, 2)

    def derive_key_pair(self, ikm: bytes) -> x25519.X25519PrivateKey:
        dkp_prk = labeled_extract(self._suite_id, b"", b"dkp_prk", ikm)
        sk = labeled_expand(self._suite_id, dkp_prk, b"sk", b"", 32)
        return x25519.X25519PrivateKey.from_private_bytes(sk)

    def _extract_and_expand(self, dh: bytes, kem_context: bytes) -> bytes:
        eae_prk = labeled_extract(self._suite_id, b"", b"eae_prk", dh)
        return labeled_expand(self._suite_id, eae_prk, b"shared_secret", kem_context, _NH)

    @staticmethod
    def _dh(private_key: x25519.X25519PrivateKey, public_key: bytes) -> bytes:
        try:
            peer = x25519.X25519PublicKey.from_public_bytes(public_key)
            return private_key.exchange(peer)
        except ValueError as exc:
            # RFC 9180 section 7.1.4: an all-zero DH output must abort.
            raise DecryptionFailed("X25519 key agreement failed") from exc

    def encap(self, public_key: bytes, ikm_e: bytes | None = None) -> tuple[bytes, bytes]:
        """Encap(pkR): the shared secret and the encapsulation.

        :raises MalformedInput: ``public_key`` is not 32 bytes.
        :raises DecryptionFailed: the key agreement gives the all-zero value (a key of small
            order).
        """
        if len(public_key) != self.n_pk:
            raise MalformedInput("an X25519 public key is 32 bytes")
        ephemeral = self.derive_key_pair(ikm_e if ikm_e is not None else secrets.token_bytes(32))
        enc = ephemeral.public_key().public_bytes_raw()
        dh = self._dh(ephemeral, public_key)
        return self._extract_and_expand(dh, enc + public_key), enc

    def decap(self, enc: bytes, private_key: PrivateKey) -> bytes:
        """Decap(enc, skR): the shared secret.

        :raises MalformedInput: ``enc`` is not 32 bytes.
        :raises DecryptionFailed: the key agreement gives the all-zero value.
        :raises TypeError: ``private_key`` is not an X25519 key (a caller's mistake).
        """
        if not isinstance(private_key, x25519.X25519PrivateKey):
            raise TypeError("DHKEM(X25519) needs an X25519 private key")
        if len(enc) != self.n_enc:
            raise MalformedInput("a DHKEM(X25519) encapsulation is 32 bytes")
        dh = self._dh(private_key, enc)
        return self._extract_and_expand(dh, enc + private_key.public_key().public_bytes_raw())


class XWingKem:
    """X-Wing as an HPKE KEM (draft-connolly-cfrg-xwing-kem, "Use in HPKE")."""

    kem_id = KemId.XWING
    n_enc = xwing.CIPHERTEXT_SIZE
    n_pk = xwing.PUBLIC_KEY_SIZE

    def derive_key_pair(self, ikm: bytes) -> xwing.XWingPrivateKey:
        return xwing.derive_key_pair(ikm)

    def encap(self, public_key: bytes, ikm_e: bytes | None = None) -> tuple[bytes, bytes]:
        """Encap(pkR) for X-Wing, with the system's randomness only.

        :raises MalformedInput: ``public_key`` is not an X-Wing public key.
        :raises ValueError: ``ikm_e`` is given (ML-KEM randomness cannot be fixed here).
        """
        if ikm_e is not None:
            # ML-KEM encapsulation randomness cannot be supplied to the library.
            raise ValueError("X-Wing encapsulation cannot be derandomised here")
        return xwing.XWingPublicKey(public_key).encapsulate()

    def decap(self, enc: bytes, private_key: PrivateKey) -> bytes:
        """Decap(enc, skR) for X-Wing.

        :raises MalformedInput: ``enc`` is not an X-Wing ciphertext.
        :raises DecryptionFailed: decapsulation failed.
        :raises TypeError: ``private_key`` is not an X-Wing key (a caller's mistake).
        """
        if not isinstance(private_key, xwing.XWingPrivateKey):
            raise TypeError("X-Wing needs an X-Wing private key")
        return private_key.decapsulate(enc)


_KEMS: dict[KemId, Kem] = {
    KemId.DHKEM_X25519_HKDF_SHA256: DhkemX25519(),
    KemId.XWING: XWingKem(),
}


class Context:
    """An HPKE encryption context (RFC 9180 section 5.2)."""

    def __init__(
        self,
        aead_id: AeadId,
        key: bytes,
        base_nonce: bytes,
        exporter_secret: bytes,
        suite_id: bytes,
    ) -> None:
        self._aead: AESGCM | ChaCha20Poly1305 = (
            ChaCha20Poly1305(key) if aead_id == AeadId.CHACHA20_POLY1305 else AESGCM(key)
        )
        self._base_nonce = base_nonce
        self._exporter_secret = exporter_secret
        self._suite_id = suite_id
        self._seq = 0

    def _next_nonce(self) -> bytes:
        if self._seq >= (1 << (8 * _NN)) - 1:
            raise OverflowError("HPKE sequence number exhausted")
        nonce = bytes(a ^ b for a, b in zip(self._base_nonce, i2osp(self._seq, _NN), strict=True))
        self._seq += 1
        return nonce

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        """Seal the next message (RFC 9180 ContextS.Seal).

        :raises OverflowError: the sequence number is exhausted.
        """
        return self._aead.encrypt(self._next_nonce(), plaintext, aad)

    def open(self, aad: bytes, ciphertext: bytes) -> bytes:
        """Open the next message (RFC 9180 ContextR.Open).

        :raises DecryptionFailed: the ciphertext or its AAD was modified, or the key is
            wrong.
        :raises OverflowError: the sequence number is exhausted.
        """
        nonce = self._next_nonce()
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag as exc:
            self._seq -= 1  # RFC 9180: the sequence number advances only on success
            raise DecryptionFailed("HPKE decryption failed") from exc

    def export(self, exporter_context: bytes, length: int) -> bytes:
        return labeled_expand(
            self._suite_id, self._exporter_secret, b"sec", exporter_context, length
        )


@dataclass(frozen=True)
class Suite:
    kem_id: KemId
    kdf_id: KdfId
    aead_id: AeadId

    @property
    def suite_id(self) -> bytes:
        return b"HPKE" + i2osp(self.kem_id, 2) + i2osp(self.kdf_id, 2) + i2osp(self.aead_id, 2)

    @property
    def kem(self) -> Kem:
        return _KEMS[self.kem_id]

    @classmethod
    def from_ids(cls, kem_id: int, kdf_id: int, aead_id: int) -> Suite:
        """The suite of these RFC 9180 identifiers.

        :raises UnsupportedVersion: a KEM, KDF or AEAD this code does not know.
        """
        try:
            return cls(KemId(kem_id), KdfId(kdf_id), AeadId(aead_id))
        except ValueError as exc:
            raise UnsupportedVersion(
                f"unsupported HPKE suite kem=0x{kem_id:04x} kdf=0x{kdf_id:04x} aead=0x{aead_id:04x}"
            ) from exc

    def _key_schedule(self, shared_secret: bytes, info: bytes) -> Context:
        sid = self.suite_id
        psk_id_hash = labeled_extract(sid, b"", b"psk_id_hash", b"")
        info_hash = labeled_extract(sid, b"", b"info_hash", info)
        context = bytes([_MODE_BASE]) + psk_id_hash + info_hash
        secret = labeled_extract(sid, shared_secret, b"secret", b"")
        key = labeled_expand(sid, secret, b"key", context, _AEAD_KEY_SIZE[self.aead_id])
        base_nonce = labeled_expand(sid, secret, b"base_nonce", context, _NN)
        exporter_secret = labeled_expand(sid, secret, b"exp", context, _NH)
        return Context(self.aead_id, key, base_nonce, exporter_secret, sid)

    def setup_sender(
        self, public_key: bytes, info: bytes, ikm_e: bytes | None = None
    ) -> tuple[bytes, Context]:
        """SetupBaseS. ``ikm_e`` fixes the ephemeral key; it exists for test vectors only.

        :raises MalformedInput: ``public_key`` is not a key of this suite's KEM.
        :raises DecryptionFailed: the X25519 key agreement gives the all-zero value.
        :raises ValueError: ``ikm_e`` is given for X-Wing.
        """
        shared_secret, enc = self.kem.encap(public_key, ikm_e)
        return enc, self._key_schedule(shared_secret, info)

    def setup_recipient(self, enc: bytes, private_key: PrivateKey, info: bytes) -> Context:
        """SetupBaseR.

        :raises MalformedInput: ``enc`` has the wrong size for this suite's KEM.
        :raises DecryptionFailed: decapsulation failed.
        """
        return self._key_schedule(self.kem.decap(enc, private_key), info)

    def seal(self, public_key: bytes, info: bytes, aad: bytes, plaintext: bytes) -> bytes:
        """Single-shot encryption; returns enc || ciphertext.

        :raises MalformedInput: ``public_key`` is not a key of this suite's KEM.
        :raises DecryptionFailed: the X25519 key agreement gives the all-zero value.
        """
        enc, context = self.setup_sender(public_key, info)
        return enc + context.seal(aad, plaintext)

    def open(self, private_key: PrivateKey, info: bytes, aad: bytes, sealed: bytes) -> bytes:
        """Single-shot decryption of enc || ciphertext.

        :raises MalformedInput: ``sealed`` is too short, or its encapsulation has the wrong
            size.
        :raises DecryptionFailed: decapsulation or decryption failed.
        """
        n_enc = self.kem.n_enc
        if len(sealed) < n_enc + _NT:
            raise MalformedInput("HPKE ciphertext too short")
        context = self.setup_recipient(sealed[:n_enc], private_key, info)
        return context.open(aad, sealed[n_enc:])
