"""What a change of credentials asks of the domains above accounts, which it never
imports (server/wiring.py provides the answers)."""

from __future__ import annotations

import uuid
from typing import Protocol


class FormerKeyCopies(Protocol):
    """After a rotation (docs/PROTOCOL.md, 10.6): copies the former keys open that no
    one can re-wrap (records)."""

    def forget_ended_keys(self, account_id: uuid.UUID) -> int:
        """Erase the account's wrapped keys of shares that ended by expiring: no longer
        served to anyone, so the owner's client cannot re-wrap them, and they would
        stay openable with the former keys. Returns how many."""
