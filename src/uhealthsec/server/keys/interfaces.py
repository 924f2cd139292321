"""What the key directory asks of the domains above it, which it never imports.

Who may see a patient's entry depends on what relates the viewer to her: a document
of her file they read, a thread they share, a version or message signed with the key
they look up. Records and messages resolve keys through the directory, so they sit
above it; they answer through this interface (server/flows/directory_reach.py),
provided at start (server/wiring.py). The answers are SQL conditions, so that the
rule stays one query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement

#: An owner's id, or the column of the query the condition is part of (a batched lookup
#: asks about many owners in one statement).
Owner = uuid.UUID | ColumnElement[uuid.UUID]


class Acquaintances(Protocol):
    def reads_files_of(
        self, viewer_id: uuid.UUID, patient_id: Owner, at: datetime
    ) -> ColumnElement[bool]:
        """The viewer can read, at ``at``, a document in one of the patient's files."""

    def shares_a_thread(self, viewer_id: uuid.UUID, owner_id: Owner) -> ColumnElement[bool]:
        """The viewer and the owner take part in one thread."""

    def received_signed_with(
        self, viewer_id: uuid.UUID, index: int
    ) -> Sequence[ColumnElement[bool]]:
        """The viewer received something signed with the key of this directory entry:
        any one condition holding is enough."""
