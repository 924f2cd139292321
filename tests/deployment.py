"""The production layout on this machine, for the fault tests and the load benchmark:
the shipped nginx site (TLS, tests/proxy.py) in front of API processes (`uhs-server
serve`, one per host of a practice network) sharing one PostgreSQL of their own and
one S3 store (moto's server in a process of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx2

from tests.postgres import PostgresServer
from tests.proxy import Proxy, nginx_in_front
from tests.s3 import MotoProcess
from tests.server_fixtures import Outbox, Users
from tests.serving import free_port, serve_process
from uhealthsec.client.api import AuthClient
from uhealthsec.server.app import build_context
from uhealthsec.server.context import AppContext
from uhealthsec.server.server_key import ServerKey
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.db import make_engine


class WallClock:
    """The time the servers' processes keep (the test cannot move it)."""

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Deployment:
    proxy: Proxy
    client: httpx2.Client  # through the proxy, as every user's device
    api_ports: list[int]
    postgres: PostgresServer
    moto: MotoProcess
    #: The operator's view of the shared database and store.
    ctx: AppContext
    users: Users

    def pid_on(self, port: int) -> int:
        """The API process listening on ``port`` (its command line names the port)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in words and str(port).encode() in words:
                return int(entry.name)
        raise AssertionError(f"no API process on port {port}")


@contextmanager
def production_layout(home: Path, processes: int = 2) -> Iterator[Deployment]:
    """``processes`` API processes behind nginx on PostgreSQL and S3, in ``home``,
    until leaving; ``Deployment.users`` registers and signs people in through the proxy."""
    shared = home / "var"
    shared = home / "var"
    https_port, http_port = free_port(), free_port()
    public = f"https://localhost:{https_port}"
    with ExitStack() as stack:
        # Durable: a process killed loses no commit it acknowledged.
        postgres = PostgresServer(durable=True)
        postgres.start()
        stack.callback(postgres.stop)
        postgres.create_database("uhs")
        # The schema first, as an operator upgrades it before starting the hosts.
        engine = make_engine(postgres.url("uhs"))
        migrate.upgrade(engine)
        engine.dispose()
        moto = MotoProcess()
        stack.callback(moto.stop)
        bucket = moto.bucket()
        # A hung store fails a request within seconds, not the default half-minute.
        store = {
            **bucket.settings(),
            "s3_connect_timeout_seconds": 2,
            "s3_read_timeout_seconds": 2,
            "s3_max_retries": 1,
        }
        environment = {
            "UHS_DATA_DIR": str(shared),
            "UHS_DATABASE_URL": postgres.url("uhs"),
            "UHS_PUBLIC_URL": public,
            **{f"UHS_{name.upper()}": str(value) for name, value in store.items()},
        }
        shared.mkdir(mode=0o700)
        ServerKey.load_or_create(shared / "server.key")
        servers = []
        for name in "abcdefgh"[:processes]:
            (home / name).mkdir()
            servers.append(serve_process(home / name, settings=lambda _: environment))
        with ThreadPoolExecutor(max_workers=processes) as pool:
            started = list(pool.map(stack.enter_context, servers))
        ports = [int(url.rsplit(":", 1)[1]) for url, _ in started]
        proxy = stack.enter_context(nginx_in_front(home, ports, https_port, http_port))
        settings = Settings(
            _env_file=None,
            data_dir=shared,
            database_url=postgres.url("uhs"),
            public_url=public,
            **store,  # type: ignore[arg-type]
        )
        ctx = build_context(settings, migrate_schema=False)
        stack.callback(ctx.close)
        client = stack.enter_context(proxy.client(timeout=60))
        users = Users(AuthClient(client), Outbox(settings.outbox_dir), WallClock(), ctx)
        yield Deployment(proxy, client, ports, postgres, moto, ctx, users)
