"""The keystore: a user's private keys sealed for storage on an untrusted server.

The private keys are sealed twice with AES-256-GCM, in two slots:

- the password slot, under a key derived from the password with Argon2id
  (parameters and salt recorded in the slot);
- the recovery slot, under a key derived from a random 256-bit recovery key
  that the user is shown once (as words or a QR code) and keeps offline.

The same Argon2id output also yields an *authentication secret*, through an
independent HKDF label. The client sends only that secret to log in; the
server hashes it again and never receives the password, nor anything that
opens the password slot. Changing the password re-seals the same keys under
a new salt: no key changes, no document needs re-wrapping.

Version 2 (docs/PROTOCOL.md, 7.5) adds, after a key rotation, the former private key
sets, sealed under a key derived from the current set: whatever opens the current keys
(the password, the recovery key) opens them all, and a password change copies them
unchanged.
"""

from __future__ import annotations

import secrets
import struct
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from uhealthsec.crypto.errors import (
    MalformedInput,
    ParametersAboveBudget,
    UnsupportedVersion,
    WeakParameters,
    WrongPassword,
)
from uhealthsec.crypto.keys import (
    PRIVATE_KEYS_SIZE,
    PUBLIC_BUNDLE_SIZE,
    PublicKeys,
    UserKeys,
)

MAGIC = b"UHSK"
VERSION = 0x01
VERSION_FORMER_KEYS = 0x02
SLOT_PASSWORD = 0x01
SLOT_RECOVERY = 0x02
SLOT_FORMER_KEYS = 0x03
KDF_ARGON2ID = 0x01

SALT_SIZE = 16
NONCE_SIZE = 12
SECRET_SIZE = 32
RECOVERY_KEY_SIZE = 32
MAX_PASSWORD_BYTES = 1024

_PARAMS_SIZE = 1 + 4 + 4 + 1 + SALT_SIZE  # 26
_SEALED_SIZE = PRIVATE_KEYS_SIZE + 16  # 113
_PASSWORD_SLOT_SIZE = 1 + _PARAMS_SIZE + NONCE_SIZE + _SEALED_SIZE  # 152
_RECOVERY_SLOT_SIZE = 1 + NONCE_SIZE + _SEALED_SIZE  # 126
KEYSTORE_SIZE = 4 + 1 + PUBLIC_BUNDLE_SIZE + _PASSWORD_SLOT_SIZE + _RECOVERY_SLOT_SIZE  # 1568
#: Former key sets a version 2 keystore holds at most (one per rotation).
MAX_FORMER_KEY_SETS = 64
_FORMER_HEADER_SIZE = 1 + 4 + 2
_FORMER_ITEM_SIZE = 4 + PRIVATE_KEYS_SIZE  # 101
MAX_KEYSTORE_SIZE = (
    KEYSTORE_SIZE + _FORMER_HEADER_SIZE + NONCE_SIZE + MAX_FORMER_KEY_SETS * _FORMER_ITEM_SIZE + 16
)

_AUTH_SECRET_INFO = b"uhealthsec/v1/auth-secret"
_PASSWORD_KEY_INFO = b"uhealthsec/v1/keystore/password-key"
_RECOVERY_KEY_INFO = b"uhealthsec/v1/keystore/recovery-key"
_FORMER_KEYS_INFO = b"uhealthsec/v2/keystore/former-keys"

RandomSource = Callable[[int], bytes]


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id (RFC 9106, version 0x13) cost parameters and salt."""

    memory_kib: int
    iterations: int
    parallelism: int
    salt: bytes

    # OWASP's floor (m=19 MiB, t=2, p=1) is the minimum accepted; the default is
    # RFC 9106's second recommendation with one lane (about 0.2 s on a laptop).
    MIN_MEMORY_KIB = 19 * 1024
    MIN_ITERATIONS = 2
    DEFAULT_MEMORY_KIB = 64 * 1024
    DEFAULT_ITERATIONS = 3
    DEFAULT_PARALLELISM = 1
    # The client's budget (docs/PROTOCOL.md 7.1): the parameters come from the server, so a
    # hostile one could otherwise make every unlock cost seconds and a GiB. At most four times
    # the default work (memory x passes), 256 MiB, which a browser's worker can allocate.
    MAX_MEMORY_KIB = 256 * 1024
    MAX_ITERATIONS = 8
    MAX_PARALLELISM = 4
    MAX_WORK_KIB = 4 * DEFAULT_MEMORY_KIB * DEFAULT_ITERATIONS  # memory_kib x iterations

    @classmethod
    def default(cls, random: RandomSource = secrets.token_bytes) -> Argon2Params:
        return cls(
            cls.DEFAULT_MEMORY_KIB,
            cls.DEFAULT_ITERATIONS,
            cls.DEFAULT_PARALLELISM,
            random(SALT_SIZE),
        )

    def with_new_salt(self, random: RandomSource = secrets.token_bytes) -> Argon2Params:
        return Argon2Params(self.memory_kib, self.iterations, self.parallelism, random(SALT_SIZE))

    def check(self) -> None:
        """Refuse parameters below the floor or above the budget, before any work is done.

        :raises MalformedInput: the salt is not 16 bytes.
        :raises WeakParameters: below the floor.
        :raises ParametersAboveBudget: above what a client pays.
        """
        if len(self.salt) != SALT_SIZE:
            raise MalformedInput(f"an Argon2id salt is {SALT_SIZE} bytes")
        if self.parallelism < 1:
            raise WeakParameters("Argon2id parallelism must be at least 1")
        if self.iterations < self.MIN_ITERATIONS:
            raise WeakParameters(f"Argon2id iterations must be at least {self.MIN_ITERATIONS}")
        if self.memory_kib < max(self.MIN_MEMORY_KIB, 8 * self.parallelism):
            raise WeakParameters(f"Argon2id memory must be at least {self.MIN_MEMORY_KIB} KiB")
        if (
            self.parallelism > self.MAX_PARALLELISM
            or self.iterations > self.MAX_ITERATIONS
            or self.memory_kib > self.MAX_MEMORY_KIB
            or self.memory_kib * self.iterations > self.MAX_WORK_KIB
        ):
            raise ParametersAboveBudget(
                f"Argon2id parameters above the client budget (memory <= {self.MAX_MEMORY_KIB}"
                f" KiB, iterations <= {self.MAX_ITERATIONS}, parallelism <= "
                f"{self.MAX_PARALLELISM}, memory x iterations <= {self.MAX_WORK_KIB})"
            )

    def encode(self) -> bytes:
        return (
            bytes([KDF_ARGON2ID])
            + self.memory_kib.to_bytes(4, "big")
            + self.iterations.to_bytes(4, "big")
            + bytes([self.parallelism])
            + self.salt
        )

    @classmethod
    def decode(cls, data: bytes) -> Argon2Params:
        """The parameters encoded in ``data``, checked.

        :raises MalformedInput: the wrong length or salt.
        :raises UnsupportedVersion: a key-derivation function this code does not know.
        :raises WeakParameters: below the floor.
        :raises ParametersAboveBudget: above what a client pays.
        """
        if len(data) != _PARAMS_SIZE:
            raise MalformedInput("Argon2id parameters have the wrong length")
        if data[0] != KDF_ARGON2ID:
            raise UnsupportedVersion(f"unsupported key-derivation function {data[0]}")
        params = cls(
            int.from_bytes(data[1:5], "big"),
            int.from_bytes(data[5:9], "big"),
            data[9],
            bytes(data[10:26]),
        )
        params.check()
        return params


@dataclass(frozen=True)
class PasswordSecrets:
    """The two independent secrets the password yields. Never logged (repr hides them)."""

    auth_secret: bytes = field(repr=False)
    keystore_key: bytes = field(repr=False)


def normalize_password(password: str) -> bytes:
    """NFKC then UTF-8 (NIST SP 800-63B), so the same password typed on any device matches.

    :raises MalformedInput: empty, or longer than 1,024 bytes once encoded.
    """
    encoded = unicodedata.normalize("NFKC", password).encode("utf-8")
    if not encoded:
        raise MalformedInput("the password is empty")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise MalformedInput(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    return encoded


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), SECRET_SIZE, None, info).derive(ikm)


def derive_password_secrets(password: str, params: Argon2Params) -> PasswordSecrets:
    """The authentication secret and the keystore key the password yields under ``params``.

    :raises MalformedInput: the password is empty or too long, or the salt is not 16 bytes.
    :raises WeakParameters: ``params`` below the floor.
    :raises ParametersAboveBudget: ``params`` above what a client pays.
    """
    params.check()
    master = Argon2id(
        salt=params.salt,
        length=SECRET_SIZE,
        iterations=params.iterations,
        lanes=params.parallelism,
        memory_cost=params.memory_kib,
    ).derive(normalize_password(password))
    return PasswordSecrets(_hkdf(master, _AUTH_SECRET_INFO), _hkdf(master, _PASSWORD_KEY_INFO))


def generate_recovery_key() -> bytes:
    return secrets.token_bytes(RECOVERY_KEY_SIZE)


def _recovery_slot_key(recovery_key: bytes) -> bytes:
    if len(recovery_key) != RECOVERY_KEY_SIZE:
        raise MalformedInput(f"a recovery key is {RECOVERY_KEY_SIZE} bytes")
    return _hkdf(recovery_key, _RECOVERY_KEY_INFO)


@dataclass(frozen=True)
class FormerKeysSlot:
    """The former key sets of a version 2 keystore, sealed under the current set."""

    current_version: int
    count: int
    nonce: bytes
    sealed: bytes

    def header(self) -> bytes:
        return bytes([SLOT_FORMER_KEYS]) + struct.pack(">IH", self.current_version, self.count)

    def encode(self) -> bytes:
        return self.header() + self.nonce + self.sealed


@dataclass(frozen=True)
class FormerKeys:
    """A key set the account held before a rotation, with its key version."""

    key_version: int
    keys: UserKeys = field(repr=False)


@dataclass(frozen=True)
class Keystore:
    """A sealed keystore, as stored by the server. Safe to publish: opens only with a secret."""

    public_keys: PublicKeys
    password_params: Argon2Params
    password_nonce: bytes
    password_sealed: bytes
    recovery_nonce: bytes
    recovery_sealed: bytes
    #: Version 2 only: the key sets held before rotations (docs/PROTOCOL.md, 7.5).
    former: FormerKeysSlot | None = None

    @property
    def version(self) -> int:
        return VERSION if self.former is None else VERSION_FORMER_KEYS

    def _prefix(self) -> bytes:
        return MAGIC + bytes([self.version]) + self.public_keys.encode()

    def former_aad(self) -> bytes:
        if self.former is None:
            raise MalformedInput("a version 1 keystore holds no former keys")
        return self._prefix() + self.former.header()

    def _password_slot_header(self) -> bytes:
        return bytes([SLOT_PASSWORD]) + self.password_params.encode()

    def password_aad(self) -> bytes:
        return self._prefix() + self._password_slot_header()

    def recovery_aad(self) -> bytes:
        return self._prefix() + bytes([SLOT_RECOVERY])

    def recovery_only(self) -> Keystore:
        """This keystore with its password slot zeroed (its parameters kept): what a
        device that forgot the password is given (docs/PROTOCOL.md, 16.5). It opens
        with the recovery key only, so it allows no offline guess of the password."""
        return replace(
            self,
            password_nonce=bytes(len(self.password_nonce)),
            password_sealed=bytes(len(self.password_sealed)),
        )

    def encode(self) -> bytes:
        return (
            self._prefix()
            + self._password_slot_header()
            + self.password_nonce
            + self.password_sealed
            + bytes([SLOT_RECOVERY])
            + self.recovery_nonce
            + self.recovery_sealed
            + (self.former.encode() if self.former is not None else b"")
        )

    @classmethod
    def decode(cls, data: bytes) -> Keystore:
        """The keystore encoded in ``data``.

        :raises MalformedInput: not a keystore, or a field in it is not valid.
        :raises UnsupportedVersion: a version this code does not know.
        :raises WeakParameters: password parameters below the floor.
        :raises ParametersAboveBudget: password parameters above what a client pays.
        """
        if len(data) < KEYSTORE_SIZE or data[:4] != MAGIC:
            raise MalformedInput("not a U-HealthSec keystore")
        if data[4] not in (VERSION, VERSION_FORMER_KEYS):
            raise UnsupportedVersion(f"unsupported keystore version {data[4]}")
        if data[4] == VERSION and len(data) != KEYSTORE_SIZE:
            raise MalformedInput("not a U-HealthSec keystore")
        offset = 5
        public_keys = PublicKeys.decode(data[offset : offset + PUBLIC_BUNDLE_SIZE])
        offset += PUBLIC_BUNDLE_SIZE
        if data[offset] != SLOT_PASSWORD:
            raise MalformedInput("keystore: password slot expected")
        params = Argon2Params.decode(data[offset + 1 : offset + 1 + _PARAMS_SIZE])
        offset += 1 + _PARAMS_SIZE
        password_nonce = bytes(data[offset : offset + NONCE_SIZE])
        password_sealed = bytes(data[offset + NONCE_SIZE : offset + NONCE_SIZE + _SEALED_SIZE])
        offset += NONCE_SIZE + _SEALED_SIZE
        if data[offset] != SLOT_RECOVERY:
            raise MalformedInput("keystore: recovery slot expected")
        offset += 1
        recovery_nonce = bytes(data[offset : offset + NONCE_SIZE])
        recovery_sealed = bytes(data[offset + NONCE_SIZE : offset + NONCE_SIZE + _SEALED_SIZE])
        offset += NONCE_SIZE + _SEALED_SIZE
        former = None if data[4] == VERSION else _decode_former(data[offset:])
        return cls(
            public_keys,
            params,
            password_nonce,
            password_sealed,
            recovery_nonce,
            recovery_sealed,
            former,
        )


def _decode_former(data: bytes) -> FormerKeysSlot:
    """The former keys' slot of a version 2 keystore (what follows the recovery slot).

    :raises MalformedInput: the wrong slot type, count, version or length.
    """
    if len(data) < _FORMER_HEADER_SIZE + NONCE_SIZE + _FORMER_ITEM_SIZE + 16:
        raise MalformedInput("not a U-HealthSec keystore")
    if data[0] != SLOT_FORMER_KEYS:
        raise MalformedInput("keystore: former keys' slot expected")
    current_version, count = struct.unpack(">IH", data[1:7])
    if not 1 <= count <= MAX_FORMER_KEY_SETS or current_version < 2:
        raise MalformedInput("keystore: the former keys' slot has a wrong count or version")
    if len(data) != _FORMER_HEADER_SIZE + NONCE_SIZE + count * _FORMER_ITEM_SIZE + 16:
        raise MalformedInput("not a U-HealthSec keystore")
    nonce = bytes(data[_FORMER_HEADER_SIZE : _FORMER_HEADER_SIZE + NONCE_SIZE])
    return FormerKeysSlot(
        current_version, count, nonce, bytes(data[_FORMER_HEADER_SIZE + NONCE_SIZE :])
    )


def _former_slot_key(current: UserKeys) -> bytes:
    return _hkdf(current.encode(), _FORMER_KEYS_INFO)


def open_former_keys(keystore: Keystore, current: UserKeys) -> list[FormerKeys]:
    """The former key sets of ``keystore``, oldest first, opened with its current keys
    (as an unlock returns them); none for a version 1 keystore.

    :raises MalformedInput: the slot does not open under these keys, or holds versions
        not strictly increasing and below the current one, or a key set not valid.
    """
    slot = keystore.former
    if slot is None:
        return []
    try:
        plain = AESGCM(_former_slot_key(current)).decrypt(
            slot.nonce, slot.sealed, keystore.former_aad()
        )
    except InvalidTag as exc:
        raise MalformedInput("the keystore's former keys do not open with its keys") from exc
    former: list[FormerKeys] = []
    for at in range(0, len(plain), _FORMER_ITEM_SIZE):
        (version,) = struct.unpack(">I", plain[at : at + 4])
        previous = former[-1].key_version if former else 0
        if not previous < version < slot.current_version:
            raise MalformedInput("the keystore's former key versions are out of order")
        former.append(FormerKeys(version, UserKeys.decode(plain[at + 4 : at + _FORMER_ITEM_SIZE])))
    return former


def _seal_former(
    public_keys: PublicKeys,
    current: UserKeys,
    current_version: int,
    former: Sequence[FormerKeys],
    random: RandomSource,
) -> FormerKeysSlot | None:
    if not former:
        return None
    if len(former) > MAX_FORMER_KEY_SETS:
        raise MalformedInput(f"a keystore holds at most {MAX_FORMER_KEY_SETS} former key sets")
    versions = [f.key_version for f in former]
    if versions != sorted(set(versions)) or versions[0] < 1 or versions[-1] >= current_version:
        raise MalformedInput("former key versions are increasing and below the current one")
    draft = FormerKeysSlot(current_version, len(former), random(NONCE_SIZE), b"")
    aad = MAGIC + bytes([VERSION_FORMER_KEYS]) + public_keys.encode() + draft.header()
    plain = b"".join(struct.pack(">I", f.key_version) + f.keys.encode() for f in former)
    sealed = AESGCM(_former_slot_key(current)).encrypt(draft.nonce, plain, aad)
    return replace(draft, sealed=sealed)


@dataclass(frozen=True)
class NewKeystore:
    """Everything a registration produces. Only ``keystore`` and ``auth_secret`` leave the device;
    ``recovery_key`` is shown to the user once."""

    keystore: Keystore
    keys: UserKeys = field(repr=False)
    recovery_key: bytes = field(repr=False)
    auth_secret: bytes = field(repr=False)


def _open(
    keystore: Keystore, slot_key: bytes, nonce: bytes, sealed: bytes, aad: bytes, what: str
) -> UserKeys:
    try:
        encoded = AESGCM(slot_key).decrypt(nonce, sealed, aad)
    except InvalidTag as exc:
        raise WrongPassword(f"the keystore could not be opened with this {what}") from exc
    keys = UserKeys.decode(encoded)
    if not keys.public().same_as(keystore.public_keys):
        # Only a holder of the slot key could produce this: a corrupted keystore, not an attack
        # on the user, but the keys must not be used.
        raise MalformedInput("the keystore's private keys do not match its public keys")
    open_former_keys(keystore, keys)  # a version 2 keystore opens whole or not at all
    return keys


def create_keystore(
    password: str,
    *,
    keys: UserKeys | None = None,
    params: Argon2Params | None = None,
    random: RandomSource = secrets.token_bytes,
    key_version: int = 1,
    former: Sequence[FormerKeys] = (),
) -> NewKeystore:
    """Generate (or take) a user's keys and seal them under the password and a new recovery key.

    With ``former`` key sets (after a rotation: ``keys`` are of ``key_version``), the
    keystore is of version 2 and holds them too. ``random`` is replaced only to
    regenerate test vectors.

    :raises MalformedInput: the password is empty or too long.
    :raises WeakParameters: ``params`` below the floor.
    :raises ParametersAboveBudget: ``params`` above what a client pays.
    """
    keys = keys if keys is not None else UserKeys.generate()
    params = params if params is not None else Argon2Params.default(random)
    recovery_key = random(RECOVERY_KEY_SIZE)
    secrets_ = derive_password_secrets(password, params)
    public_keys = keys.public()
    draft = Keystore(
        public_keys,
        params,
        random(NONCE_SIZE),
        b"",
        random(NONCE_SIZE),
        b"",
        _seal_former(public_keys, keys, key_version, former, random),
    )
    encoded_keys = keys.encode()
    keystore = Keystore(
        public_keys,
        params,
        draft.password_nonce,
        AESGCM(secrets_.keystore_key).encrypt(
            draft.password_nonce, encoded_keys, draft.password_aad()
        ),
        draft.recovery_nonce,
        AESGCM(_recovery_slot_key(recovery_key)).encrypt(
            draft.recovery_nonce, encoded_keys, draft.recovery_aad()
        ),
        draft.former,
    )
    return NewKeystore(keystore, keys, recovery_key, secrets_.auth_secret)


def rotate_keystore(
    keystore: Keystore,
    current: UserKeys,
    current_version: int,
    password: str,
    *,
    new_keys: UserKeys | None = None,
    random: RandomSource = secrets.token_bytes,
) -> NewKeystore:
    """A version 2 keystore for new keys (of version ``current_version + 1``), holding
    ``current`` and every former set of ``keystore`` as former keys, sealed under the
    same password and Argon2id parameters (so the same authentication secret when the
    password is the current one) and a new recovery key (docs/PROTOCOL.md, 10.6).

    :raises MalformedInput: ``current`` are not this keystore's keys, or the keystore
        already holds as many former sets as it may.
    """
    if not current.public().same_as(keystore.public_keys):
        raise MalformedInput("these keys do not belong to this keystore")
    former = [*open_former_keys(keystore, current), FormerKeys(current_version, current)]
    return create_keystore(
        password,
        keys=new_keys,
        params=keystore.password_params,
        random=random,
        key_version=current_version + 1,
        former=former,
    )


def unlock_with_password(keystore: Keystore, password: str) -> UserKeys:
    """The private keys in ``keystore``, opened with ``password``.

    :raises WrongPassword: the password slot does not open with this password.
    :raises MalformedInput: the password is empty or too long, or the keys inside do not
        match the keystore's public keys.
    :raises WeakParameters: the keystore's parameters are below the floor.
    :raises ParametersAboveBudget: the keystore's parameters are above what a client pays.
    """
    secrets_ = derive_password_secrets(password, keystore.password_params)
    return _open(
        keystore,
        secrets_.keystore_key,
        keystore.password_nonce,
        keystore.password_sealed,
        keystore.password_aad(),
        "password",
    )


def unlock_with_recovery_key(keystore: Keystore, recovery_key: bytes) -> UserKeys:
    """The private keys in ``keystore``, opened with the recovery key.

    :raises WrongPassword: the recovery slot does not open with this key.
    :raises MalformedInput: ``recovery_key`` is not 32 bytes, or the keys inside do not
        match the keystore's public keys.
    """
    return _open(
        keystore,
        _recovery_slot_key(recovery_key),
        keystore.recovery_nonce,
        keystore.recovery_sealed,
        keystore.recovery_aad(),
        "recovery key",
    )


def change_password(
    keystore: Keystore,
    keys: UserKeys,
    new_password: str,
    *,
    params: Argon2Params | None = None,
    random: RandomSource = secrets.token_bytes,
) -> tuple[Keystore, bytes]:
    """Re-seal the same keys under a new password (fresh salt and nonce).

    ``keys`` come from ``unlock_with_password`` (old password) or
    ``unlock_with_recovery_key`` (forgotten password). The recovery slot is kept
    as it is, and so are a version 2 keystore's former keys (their key derives from
    the keys, not the password). Returns the new keystore and the new authentication
    secret.

    :raises MalformedInput: ``keys`` are not this keystore's, or the new password is empty
        or too long.
    :raises WeakParameters: ``params`` below the floor.
    :raises ParametersAboveBudget: ``params`` above what a client pays.
    """
    if not keys.public().same_as(keystore.public_keys):
        raise MalformedInput("these keys do not belong to this keystore")
    new_params = params if params is not None else keystore.password_params.with_new_salt(random)
    secrets_ = derive_password_secrets(new_password, new_params)
    draft = Keystore(
        keystore.public_keys,
        new_params,
        random(NONCE_SIZE),
        b"",
        keystore.recovery_nonce,
        keystore.recovery_sealed,
        keystore.former,
    )
    resealed = Keystore(
        draft.public_keys,
        new_params,
        draft.password_nonce,
        AESGCM(secrets_.keystore_key).encrypt(
            draft.password_nonce, keys.encode(), draft.password_aad()
        ),
        keystore.recovery_nonce,
        keystore.recovery_sealed,
        keystore.former,
    )
    return resealed, secrets_.auth_secret
