"""What retention asks of the domains above it, which it never imports (server/wiring.py
provides the answers)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Protocol


class Correspondence(Protocol):
    """Conversations with a patient, kept with the patient's files (R16, messaging)."""

    def files_holding_threads(
        self, files: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
    ) -> set[uuid.UUID]:
        """Of ``files`` (id, patient, practice), those that hold a conversation."""

    def destroy_threads_of_file(
        self,
        patient_id: uuid.UUID,
        practice_id: uuid.UUID | None,
        kept_practices: Collection[uuid.UUID],
    ) -> list[uuid.UUID]:
        """Destroy the conversations only this file (and no file of ``kept_practices``)
        holds, or, with no practice, every conversation of the patient no file of
        ``kept_practices`` holds; returns them."""

    def forget_reader(self, account_id: uuid.UUID) -> int:
        """Delete the message keys wrapped for a deleted account; returns how many."""


class AccountRemnants(Protocol):
    """What a deleted patient's file keeps beside its contents until its end (their
    consents and rights requests, consent/erasure.py), erased when it is destroyed."""

    def erase_with_file(self, patient_id: uuid.UUID, practice_id: uuid.UUID) -> tuple[int, int]:
        """Erase them; returns how many consents and requests."""
