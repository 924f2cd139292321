"""Replacing this account's keys (docs/PROTOCOL.md, 10.6): new keys, a keystore of
version 2 holding them and the former ones, and the statement both the current and
the new signing keys sign, which readers require before they take the new entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange.session import ExchangeSession
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.errors import CryptoError, WrongPassword
from uhealthsec.crypto.key_rotation import sign_rotation
from uhealthsec.crypto.keystore import (
    Keystore,
    open_former_keys,
    rotate_keystore,
    unlock_with_password,
)
from uhealthsec.protocol.keys import KeyRotationIn, KeyRotationOut
from uhealthsec.protocol.signin import KeystoreOut


@dataclass(frozen=True)
class Rotation:
    """What a rotation made: the new entry's place and version, and the new recovery
    key, to show the user once (the former words no longer open the keystore)."""

    index: int
    key_version: int
    recovery_key: bytes = field(repr=False)


class KeyRotation(ExchangeSession):
    def rotate_keys(self, password: str) -> Rotation:
        """Replace this account's keys. The password seals the new keystore as it
        sealed the current one (so signing in does not change); it is checked first
        against the stored keystore. Needs a second factor proven in the last minutes
        (the server answers 403 otherwise); other devices are signed out.

        :raises ExchangeRefused: the password is wrong, the stored keystore is not this
            device's, or the server refused the rotation.
        """
        answer = self.call("GET", "/accounts/me/keystore")
        raw = parse(KeystoreOut, answer, ExchangeRefused, "your keystore").keystore
        try:
            stored = Keystore.decode(raw)
            current = unlock_with_password(stored, password)
        except WrongPassword as exc:
            raise ExchangeRefused("wrong password: your keys were not replaced") from exc
        except CryptoError as exc:
            raise ExchangeRefused(f"your stored keystore does not open ({exc})") from exc
        if not current.public().same_as(self.keys.public()):
            raise ExchangeRefused(
                "your stored keystore holds other keys than this device's: they were "
                "replaced from another device; unlock your keys again"
            )
        mine = self.my_entry().entry
        rotated = rotate_keystore(stored, current, mine.key_version, password)
        new_entry = DirectoryEntry(
            mine.account_id,
            mine.key_version + 1,
            mine.kind,
            mine.email,
            rotated.keys.public().encode(),
        )
        keystore = rotated.keystore.encode()
        statement = sign_rotation(mine, new_entry, keystore, current.signing, rotated.keys.signing)
        request = KeyRotationIn(
            bundle=new_entry.bundle, keystore=keystore, statement=statement.encode()
        )
        published = parse(
            KeyRotationOut,
            self.call("POST", "/keys/rotations", json=body(request)),
            ExchangeRefused,
            "the key rotation",
        )
        former = open_former_keys(rotated.keystore, rotated.keys)
        self.use_keys(rotated.keys, [f.keys for f in reversed(former)])
        if self.my_entry().index != published.index:
            raise ExchangeRefused(
                "the key directory does not publish your new keys where the server said: "
                "tell your security contact"
            )
        return Rotation(published.index, new_entry.key_version, rotated.recovery_key)
