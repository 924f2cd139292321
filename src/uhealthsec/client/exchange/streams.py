"""Streamed transfers: a download read in place as the decryptor asks for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx2

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


def check_response_stream(response: httpx2.Response) -> None:
    if response.status_code >= 400:
        response.read()
        check_response(response)
