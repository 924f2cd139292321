"""How many requests of this process may hold a database session at once.

A request takes its connection at its first statement and keeps it until its
transaction ends, while it waits, between statements, for a thread of anyio's
threadpool (its sync dependencies and route). With more requests than connections,
threads blocked checking out a connection and requests holding one while waiting for a
thread wedged each other until SQLAlchemy's ``pool_timeout`` (30 s), and were answered
503 although the database was fine. Admitted requests are therefore never more than the
connections they can get, nor the threads they run in; the others wait in the event
loop (``get_db``), holding neither."""

from __future__ import annotations

from types import TracebackType

import anyio.from_thread
import anyio.to_thread
from anyio import Semaphore
from anyio.lowlevel import RunVar
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

#: Connections taken while a request holds its slot, beside its own session: the second
#: session of a refused keyed write (deps.py ``_replay_if_committed``), the journal
#: writer's batch (audit/writer.py, its own thread), a ``/ready`` probe.
RESERVED_CONNECTIONS = 3


def pool_capacity(engine: Engine) -> int | None:
    """The most connections the engine's pool hands out at once; None: no limit."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return None
    overflow = pool._max_overflow  # no public accessor in SQLAlchemy
    return None if overflow < 0 else pool.size() + overflow


def admission_size(engine: Engine, threads: int) -> int:
    capacity = pool_capacity(engine)
    if capacity is None:
        return threads
    return max(1, min(capacity - RESERVED_CONNECTIONS, threads))


class Admission:
    """One semaphore per event loop (an app may be served by several loops in turn,
    as tests do; an anyio semaphore belongs to the loop that made it), sized when
    first used, from the loop's threadpool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._semaphores: RunVar[Semaphore] = RunVar("admission")

    def semaphore(self) -> Semaphore:
        try:
            return self._semaphores.get()
        except LookupError:
            threads = int(anyio.to_thread.current_default_thread_limiter().total_tokens)
            semaphore = Semaphore(admission_size(self.engine, threads))
            self._semaphores.set(semaphore)
            return semaphore

    def slot(self) -> Slot:
        return Slot(self.semaphore())


class Slot:
    """A request's place among the admitted, held from its session's start to its end;
    given back meanwhile by a route that waits long for its client or the blob store
    with its connection released (an upload streaming its body, a download), so that
    slow clients and a hung store hold no slot."""

    def __init__(self, semaphore: Semaphore) -> None:
        self._semaphore = semaphore
        self.held = False

    async def take(self) -> None:
        if not self.held:
            await self._semaphore.acquire()
            self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self._semaphore.release()

    def give_back_from_thread(self) -> None:
        """``give_back`` from a sync route, which runs in anyio's threadpool (the
        semaphore is the event loop's to change)."""
        anyio.from_thread.run_sync(self.give_back)

    async def __aenter__(self) -> Slot:
        await self.take()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.give_back()
