"""X-Wing: the hybrid post-quantum KEM of draft-connolly-cfrg-xwing-kem-06 (pinned).

X-Wing combines ML-KEM-768 and X25519 so that the shared secret stays secret
while either of them holds. The private key is a 32-byte seed, expanded with
SHAKE256 into the ML-KEM-768 seed (d || z) and the X25519 private key; the
shared secret is SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel).

Wrapped keys of version 2 are sealed and opened by ``cryptography``'s HPKE
(MLKEM768-X25519), which builds an X-Wing key from its ML-KEM-768 and X25519
halves but neither expands a seed nor parses our 1216-byte public key: the key
classes here do both and hand ``cryptography`` its key objects. The combiner
(``encapsulate``, ``decapsulate``) stays for what ``cryptography`` does not
offer: opening version 1 wrapped keys, whose HPKE AAD its public API cannot
take, and, with ``derive_key_pair``, serving as the reference that the
published vectors are checked against.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from uhealthsec.crypto.errors import DecryptionFailed, MalformedInput

KEM_ID = 0x647A
SEED_SIZE = 32
PUBLIC_KEY_SIZE = 1216
CIPHERTEXT_SIZE = 1120
SHARED_SECRET_SIZE = 32

_MLKEM_PUBLIC_KEY_SIZE = 1184
_MLKEM_CIPHERTEXT_SIZE = 1088
# "\./" over "/^\": the label fixed by the draft.
_XWING_LABEL = b"\\.//^\\"


def _shake256(data: bytes, length: int) -> bytes:
    digest = hashes.Hash(hashes.SHAKE256(digest_size=length))
    digest.update(data)
    return digest.finalize()


def _sha3_256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA3_256())
    digest.update(data)
    return digest.finalize()


def _combiner(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    return _sha3_256(ss_m + ss_x + ct_x + pk_x + _XWING_LABEL)


def _x25519(private_key: x25519.X25519PrivateKey, public_bytes: bytes) -> bytes:
    try:
        return private_key.exchange(x25519.X25519PublicKey.from_public_bytes(public_bytes))
    except ValueError as exc:
        # The library refuses an all-zero result (a low-order point); the draft
        # does not check, but no honest peer produces one, so it is a failure.
        raise DecryptionFailed("X25519 produced a degenerate shared secret") from exc


class XWingPublicKey:
    """An X-Wing encapsulation key: ML-KEM-768 public key (1184) || X25519 public key (32)."""

    __slots__ = ("_mlkem", "_pyca_hpke_key", "_raw", "_x25519")

    def __init__(self, raw: bytes) -> None:
        """Decode an X-Wing public key.

        :raises MalformedInput: not 1,216 bytes, or its ML-KEM-768 or X25519 half is not a
            valid key.
        """
        if len(raw) != PUBLIC_KEY_SIZE:
            raise MalformedInput(f"an X-Wing public key is {PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
        try:
            self._mlkem = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM_PUBLIC_KEY_SIZE])
        except ValueError as exc:
            raise MalformedInput("invalid ML-KEM-768 public key in X-Wing key") from exc
        self._raw = bytes(raw)
        self._x25519 = self._raw[_MLKEM_PUBLIC_KEY_SIZE:]
        self._pyca_hpke_key = pyca_hpke.MLKEM768X25519PublicKey(
            self._mlkem, x25519.X25519PublicKey.from_public_bytes(self._x25519)
        )

    def public_bytes(self) -> bytes:
        return self._raw

    def pyca_hpke_key(self) -> pyca_hpke.MLKEM768X25519PublicKey:
        """This key for ``cryptography``'s HPKE (KEM MLKEM768_X25519)."""
        return self._pyca_hpke_key

    def encapsulate(self) -> tuple[bytes, bytes]:
        """Return (shared_secret, ciphertext); the randomness comes from the OS.

        :raises DecryptionFailed: the X25519 key agreement gives the all-zero value.
        """
        ephemeral = x25519.X25519PrivateKey.from_private_bytes(secrets.token_bytes(32))
        ct_x = ephemeral.public_key().public_bytes_raw()
        ss_x = _x25519(ephemeral, self._x25519)
        ss_m, ct_m = self._mlkem.encapsulate()
        return _combiner(ss_m, ss_x, ct_x, self._x25519), ct_m + ct_x


class XWingPrivateKey:
    """An X-Wing decapsulation key, kept as its 32-byte seed and expanded once."""

    __slots__ = ("_mlkem", "_public", "_pyca_hpke_key", "_seed", "_x25519")

    def __init__(self, seed: bytes) -> None:
        """Expand a private key from its seed.

        :raises MalformedInput: ``seed`` is not 32 bytes.
        """
        if len(seed) != SEED_SIZE:
            raise MalformedInput(f"an X-Wing private key is a {SEED_SIZE}-byte seed")
        expanded = _shake256(bytes(seed), 96)
        self._seed = bytes(seed)
        self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        self._x25519 = x25519.X25519PrivateKey.from_private_bytes(expanded[64:96])
        self._public = XWingPublicKey(
            self._mlkem.public_key().public_bytes_raw()
            + self._x25519.public_key().public_bytes_raw()
        )
        self._pyca_hpke_key = pyca_hpke.MLKEM768X25519PrivateKey(self._mlkem, self._x25519)

    @classmethod
    def generate(cls) -> XWingPrivateKey:
        return cls(secrets.token_bytes(SEED_SIZE))

    def seed(self) -> bytes:
        return self._seed

    def public_key(self) -> XWingPublicKey:
        return self._public

    def pyca_hpke_key(self) -> pyca_hpke.MLKEM768X25519PrivateKey:
        """This key for ``cryptography``'s HPKE (KEM MLKEM768_X25519)."""
        return self._pyca_hpke_key

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """The shared secret of ``ciphertext``.

        :raises MalformedInput: ``ciphertext`` is not 1,120 bytes.
        :raises DecryptionFailed: ML-KEM decapsulation failed, or the X25519 key agreement
            gives the all-zero value.
        """
        if len(ciphertext) != CIPHERTEXT_SIZE:
            raise MalformedInput(
                f"an X-Wing ciphertext is {CIPHERTEXT_SIZE} bytes, got {len(ciphertext)}"
            )
        ct_m = ciphertext[:_MLKEM_CIPHERTEXT_SIZE]
        ct_x = ciphertext[_MLKEM_CIPHERTEXT_SIZE:]
        try:
            ss_m = self._mlkem.decapsulate(ct_m)
        except (ValueError, InvalidKey) as exc:
            raise DecryptionFailed("ML-KEM-768 decapsulation failed") from exc
        ss_x = _x25519(self._x25519, ct_x)
        pk_x = self._public.public_bytes()[_MLKEM_PUBLIC_KEY_SIZE:]
        return _combiner(ss_m, ss_x, ct_x, pk_x)


def derive_key_pair(ikm: bytes) -> XWingPrivateKey:
    """HPKE DeriveKeyPair for X-Wing, as draft-ietf-hpke-pq defines it for MLKEM768-X25519.

    seed = SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", 32) with the suite id
    "KEM" || 0x647a. (The X-Wing draft's own HPKE section uses a bare SHAKE256(ikm);
    the HPKE working group's definition is the one with published HPKE vectors.)
    """
    label = b"DeriveKeyPair"
    labeled_ikm = (
        ikm
        + b"HPKE-v1"
        + b"KEM"
        + KEM_ID.to_bytes(2, "big")
        + len(label).to_bytes(2, "big")
        + label
        + SEED_SIZE.to_bytes(2, "big")
    )
    return XWingPrivateKey(_shake256(labeled_ikm, SEED_SIZE))
