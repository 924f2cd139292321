"""One server process appending journal entries as fast as requests would:
``python -m tests.server.audit.append_worker DATABASE_URL DATA_DIR COUNT`` prints the
indexes it was given, as JSON."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from uhealthsec.crypto.journal import JournalEntry, Outcome
from uhealthsec.server.app import build_context
from uhealthsec.server.audit.writer import PendingEntry
from uhealthsec.server.settings import Settings


def main() -> None:
    database_url, data_dir, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    ctx = build_context(Settings(data_dir=data_dir, database_url=database_url))
    actor = uuid.uuid4()
    futures = [
        ctx.journal.submit(PendingEntry(JournalEntry(i, actor, "tests.append", Outcome.DONE, 200)))
        for i in range(count)
    ]
    indexes = [f.result(timeout=120).index for f in futures]
    ctx.close()
    print(json.dumps({"actor": str(actor), "indexes": indexes}))


if __name__ == "__main__":
    main()
