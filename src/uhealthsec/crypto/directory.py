"""Key directory entries: who holds which public keys, as leaves of a Merkle log.

An entry binds an account (its id, its sign-in address and its kind) to one version
of its public key bundle. The log that holds the entries is append-only and
verifiable (``merkle``), so a server that hands out another key for an address has
to put that lie in the log, where the owner of the address can see it.

The safety number is a short decimal rendering of an entry's key and address that
two people can read to each other (in person, by phone) to rule out a key swap
that no log can catch: a directory that lied from the very first entry.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives import hashes

from uhealthsec.crypto.errors import MalformedInput, UnsupportedVersion
from uhealthsec.crypto.keys import PUBLIC_BUNDLE_SIZE, PublicKeys

ENTRY_MAGIC = b"UHSD"
ENTRY_VERSION = 0x01
MAX_EMAIL_BYTES = 320
_SAFETY_LABEL = b"uhealthsec/v1/safety-number\x00"


class AccountKindCode(IntEnum):
    PRACTITIONER = 1
    PATIENT = 2


@dataclass(frozen=True)
class DirectoryEntry:
    account_id: uuid.UUID
    key_version: int
    kind: AccountKindCode
    email: str
    bundle: bytes

    def encode(self) -> bytes:
        """The canonical bytes of this entry: its Merkle leaf in the key directory.

        :raises MalformedInput: the address is empty or too long, the bundle is not one
            public key bundle, or the key version is out of range.
        """
        email = self.email.encode("utf-8")
        if not 1 <= len(email) <= MAX_EMAIL_BYTES:
            raise MalformedInput("a directory address is 1 to 320 bytes")
        if len(self.bundle) != PUBLIC_BUNDLE_SIZE:
            raise MalformedInput("a directory entry holds one public key bundle")
        if not 1 <= self.key_version < 1 << 32:
            raise MalformedInput("key versions start at 1")
        return (
            ENTRY_MAGIC
            + bytes([ENTRY_VERSION])
            + self.account_id.bytes
            + struct.pack(">IBH", self.key_version, self.kind, len(email))
            + email
            + self.bundle
        )

    @classmethod
    def decode(cls, data: bytes) -> DirectoryEntry:
        """The entry encoded in ``data``, its keys parsed.

        :raises MalformedInput: not a directory entry, the wrong length, a field not valid,
            or a key in its bundle refused (InvalidPublicKey).
        :raises UnsupportedVersion: an entry or bundle version this code does not know.
        """
        if len(data) < 28 or data[:4] != ENTRY_MAGIC:
            raise MalformedInput("not a U-HealthSec key directory entry")
        if data[4] != ENTRY_VERSION:
            raise UnsupportedVersion(f"unsupported directory entry version {data[4]}")
        account_id = uuid.UUID(bytes=bytes(data[5:21]))
        key_version, kind, email_len = struct.unpack(">IBH", data[21:28])
        if len(data) != 28 + email_len + PUBLIC_BUNDLE_SIZE or key_version == 0:
            raise MalformedInput("a key directory entry has the wrong length")
        try:
            kind_code = AccountKindCode(kind)
            email = data[28 : 28 + email_len].decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedInput("a key directory entry has an invalid field") from exc
        bundle = bytes(data[28 + email_len :])
        PublicKeys.decode(bundle)  # refuse an entry whose keys do not parse
        return cls(account_id, key_version, kind_code, email, bundle)

    @property
    def public_keys(self) -> PublicKeys:
        """The entry's keys (checked when the entry was decoded or built).

        :raises MalformedInput: the bundle is not valid (only for an entry built by hand).
        """
        return PublicKeys.decode(self.bundle)

    @property
    def signing_key(self) -> bytes:
        """The bundle's Ed25519 key, without parsing the rest again (the bundle was
        checked when the entry was decoded or built; the key is checked at each
        verification, section 4.1)."""
        return self.bundle[5:37]

    def safety_number(self) -> str:
        """Six groups of five digits derived from the address and the key bundle."""
        digest = hashes.Hash(hashes.SHA512())
        digest.update(_SAFETY_LABEL + self.bundle + self.email.encode("utf-8"))
        value = digest.finalize()
        groups = [int.from_bytes(value[i * 5 : i * 5 + 5], "big") % 100_000 for i in range(6)]
        return " ".join(f"{g:05d}" for g in groups)


def pair_safety_number(one: DirectoryEntry, other: DirectoryEntry) -> str:
    """The number two people compare: both of their safety numbers, the smaller first.

    Each side computes the same twelve groups (as Signal shows one number per
    conversation), so one comparison checks the keys of both people.
    """
    return " ".join(sorted((one.safety_number(), other.safety_number())))
