"""What accounts ask of the domains above them (the key directory, consent), which they
never import.

The directory (keys) reads accounts to decide who sees whose entry, so it sits above
accounts in the order of the domains; activating an account publishes its keys and
a password change is checked against them, through this interface, provided at
start (server/wiring.py).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from uhealthsec.server.accounts.models import Account


class PublishedKeys(Protocol):
    #: The directory entry as logged (crypto/directory.py).
    @property
    def entry(self) -> bytes: ...


class KeyPublication(Protocol):
    def publish(self, account: Account) -> object:
        """Append the account's current keys to the directory's log."""

    def current_version(self, account_id: uuid.UUID) -> PublishedKeys | None: ...

    def revoke(self, account: Account, reason: str) -> int:
        """Record the account's keys as revoked (their entries stay); how many entries."""

    def address_retired(self, address: str) -> bool:
        """The address belonged to an account whose keys are revoked (deleted)."""


class PatientInforming(Protocol):
    """Consent records that a patient accepting an invitation was shown the practice's
    information notice (R11); accounts never import consent."""

    def informed_at_joining(
        self, patient: Account, practice_id: uuid.UUID, notice_version: int
    ) -> None:
        """Refused (not found) when the practice has no notice of this version."""
