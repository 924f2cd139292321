"""Streamed transfers: ciphertext handed between the encrypting and the uploading
thread, and a download read in place as the decryptor asks for it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import httpx2

from uhealthsec.client.errors import ClientError
from uhealthsec.client.transport import check_response

UPLOAD_CHUNK = 1 << 20


class ChunkReader:
    """A ``readinto`` view over an iterator of byte chunks (an HTTP response body)."""

    def __init__(self, chunks: Iterator[bytes], progress: Callable[[int], None]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._progress = progress

    def readinto(self, buffer: memoryview) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
            self._progress(len(chunk))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _Cancelled(ClientError):
    """The upload stopped: tells the encrypting thread to stop too (never raised to a caller)."""


class ChunkPipe:
    """Ciphertext chunks from the encrypting thread to the uploading one, a few at a time."""

    def __init__(self, depth: int = 4) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._cancelled = threading.Event()

    def write(self, data: memoryview) -> int:
        item = bytes(data)  # the encryptor reuses its buffer
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            try:
                self._queue.put(item, timeout=0.1)
                return len(item)
            except queue.Full:
                continue

    def close(self) -> None:
        self._put_last(None)

    def fail(self, exc: BaseException) -> None:
        if not isinstance(exc, _Cancelled):
            self._put_last(exc)

    def _put_last(self, item: BaseException | None) -> None:
        while not self._cancelled.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def cancel(self) -> None:
        self._cancelled.set()

    def chunks(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


def check_response_stream(response: httpx2.Response) -> None:
    if response.status_code >= 400:
        response.read()
        check_response(response)
