"""What one API process keeps of the shield between requests, so that an attempt the
shield rejects costs reads only: metric counts not yet written, and the breaker's
last reading. Both are shared through the database within a second."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

#: How long a process trusts its last reading of the breaker, and keeps counts unwritten.
REFRESH_SECONDS = 1.0


@dataclass
class ShieldMemory:
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counts: Counter[str] = field(default_factory=Counter)
    _written_at: float = 0.0
    #: (monotonic time, server clock time, open) of the last reading.
    _breaker: tuple[float, float, bool] | None = None

    def add(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] += by

    def counts_due(self, force: bool = False) -> dict[str, int]:
        """The counts to write now (and forget), if a second has passed or ``force``."""
        with self._lock:
            if not self._counts or (
                not force and time.monotonic() - self._written_at < REFRESH_SECONDS
            ):
                return {}
            counts, self._counts = dict(self._counts), Counter()
            self._written_at = time.monotonic()
            return counts

    def breaker(self, now: float) -> bool | None:
        """The breaker's last reading, if recent enough to trust at server time ``now``."""
        reading = self._breaker
        if reading is None:
            return None
        read_at, read_for, is_open = reading
        if time.monotonic() - read_at >= REFRESH_SECONDS or abs(now - read_for) >= REFRESH_SECONDS:
            return None
        return is_open

    def remember_breaker(self, now: float, is_open: bool) -> None:
        self._breaker = (time.monotonic(), now, is_open)

    def forget_breaker(self) -> None:
        """This process just changed the window: read it again next time."""
        self._breaker = None
