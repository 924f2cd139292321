"""What records ask of the domains above them, which they never import.

Consent (L1110-4 directives) and retention (legal periods, crypto-shredding) read and
change records, so they sit above records in the order of the domains; records only
need two answers from them, declared here and provided at start (server/wiring.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Protocol

from uhealthsec.server.records.models import PatientFile


class SharingVerdict(Protocol):
    @property
    def allowed(self) -> bool: ...

    #: Why, in words for the person sharing (cites the article when refused).
    @property
    def reason(self) -> str: ...

    #: Refused only because the patient was not informed yet (R11): the refusal's
    #: problem type says so, for a client to offer recording the information.
    @property
    def awaits_information(self) -> bool: ...


class SharingRules(Protocol):
    """The patient's directives on who may receive documents of their file (consent)."""

    def rulings(
        self, patient_file: PatientFile, recipient_ids: Sequence[uuid.UUID]
    ) -> Mapping[uuid.UUID, SharingVerdict]:
        """A verdict for each of ``recipient_ids``; records refuse one left out."""


class FileRetentionStatus(Protocol):
    """What a patient file's answer shows of its retention."""

    @property
    def last_care_on(self) -> date: ...

    @property
    def keep_until(self) -> date | None: ...

    #: Out of the daily views: no care for longer than the practice's active period.
    @property
    def archived(self) -> bool: ...


class RetentionOfFiles(Protocol):
    """The legal retention of patient files (retention)."""

    def statuses(self, files: Sequence[PatientFile]) -> Mapping[uuid.UUID, FileRetentionStatus]: ...

    def reopen(self, patient_file: PatientFile) -> None:
        """New care after the file was destroyed starts a new retention period."""
