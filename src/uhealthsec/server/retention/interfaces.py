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
        practice_id: uuid.UUID,
        kept_practices: Collection[uuid.UUID],
    ) -> list[uuid.UUID]:
        """Destroy the conversations only this file (and no file of ``kept_practices``)
        holds; returns them."""
