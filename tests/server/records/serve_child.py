"""An API server process, started as ``uhs-server serve`` starts one (settings from the
``UHS_*`` environment, uvicorn with the server's protocol) on a free loopback port;
prints its URL once it serves, and serves until its standard input closes.

``python -m tests.server.records.serve_child``
"""

from __future__ import annotations

import sys

from tests.serving import ServerThread
from uhealthsec.server.app import build_context, create_app
from uhealthsec.server.settings import Settings


def main() -> None:
    ctx = build_context(Settings(), migrate_schema=False)
    serving = ServerThread(create_app(ctx=ctx), ctx.settings).start()
    print(serving.url, flush=True)
    sys.stdin.read()
    serving.stop()
    ctx.close()


if __name__ == "__main__":
    main()
