"""The document envelope: AES-256-GCM in a chunked STREAM construction.

A document is encrypted under a fresh random 256-bit document key. The payload
key and the header MAC key are derived from it with HKDF-SHA256 and a random
per-envelope salt, so a document key is never used directly by the cipher. The
plaintext is cut into chunks of a fixed size; chunk ``i`` is sealed with the
nonce ``prefix(7) || i (4, big-endian) || last (1)``, as in Tink's streaming AEAD
and age's STREAM: reordering, dropping, duplicating or truncating chunks, and
moving chunks between envelopes, all fail authentication.

Encryption and decryption stream with a few buffers of one chunk each, so
memory does not depend on the document's size. The byte layout is specified
in docs/PROTOCOL.md, section "Envelope".
"""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from uhealthsec.crypto import merkle
from uhealthsec.crypto.errors import (
    ChunkAuthenticationFailed,
    CryptoError,
    HeaderAuthenticationFailed,
    MalformedInput,
    TrailingData,
    TruncatedEnvelope,
    UnsupportedVersion,
)

MAGIC = b"UHSE"
#: Content digest: SHA-256 over the whole envelope. Read, no longer written.
VERSION_WHOLE_HASH = 0x01
#: Content digest: RFC 6962 Merkle tree hash over the header and the sealed chunks.
VERSION_CHUNK_TREE = 0x02
VERSION = VERSION_CHUNK_TREE  # what writers write
READABLE_VERSIONS = (VERSION_WHOLE_HASH, VERSION_CHUNK_TREE)
AEAD_AES_256_GCM = 0x01

DOCUMENT_KEY_SIZE = 32
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
HEADER_FIELDS_SIZE = len(MAGIC) + 3 + SALT_SIZE + NONCE_PREFIX_SIZE  # 46
HEADER_MAC_SIZE = 32
HEADER_SIZE = HEADER_FIELDS_SIZE + HEADER_MAC_SIZE  # 78

MIN_CHUNK_LOG2 = 12  # 4 KiB
MAX_CHUNK_LOG2 = 24  # 16 MiB
DEFAULT_CHUNK_LOG2 = 20  # 1 MiB: Tink's segment size, large enough to amortise per-call cost
MAX_CHUNKS = 1 << 32
# Below this, handing a chunk to the digest thread costs more than hashing it here.
_HASH_BEHIND_MIN = 1 << 16
# Each leaf starts from a copy of a state holding the RFC 6962 leaf prefix.
_LEAF_PREFIX = hashlib.sha256(b"\x00")

_PAYLOAD_KEY_INFO = b"uhealthsec/v1/envelope/payload-key"
_HEADER_KEY_INFO = b"uhealthsec/v1/envelope/header-mac-key"


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class Writable(Protocol):
    def write(self, data: memoryview, /) -> int | None: ...


@dataclass(frozen=True)
class EnvelopeHeader:
    """The public parameters at the start of every envelope."""

    chunk_log2: int
    salt: bytes
    nonce_prefix: bytes
    version: int = VERSION

    @property
    def chunk_size(self) -> int:
        return 1 << self.chunk_log2

    def fields(self) -> bytes:
        return (
            MAGIC
            + bytes([self.version, AEAD_AES_256_GCM, self.chunk_log2])
            + self.salt
            + self.nonce_prefix
        )

    @classmethod
    def parse(cls, fields: bytes) -> EnvelopeHeader:
        """The header whose fields (before the MAC) are ``fields``.

        :raises MalformedInput: not an envelope header, or a chunk size out of range.
        :raises UnsupportedVersion: a version or cipher this code does not know.
        """
        if len(fields) != HEADER_FIELDS_SIZE:
            raise MalformedInput("envelope header is too short")
        if fields[:4] != MAGIC:
            raise MalformedInput("not a U-HealthSec envelope (bad magic bytes)")
        version, aead, chunk_log2 = fields[4], fields[5], fields[6]
        if version not in READABLE_VERSIONS:
            raise UnsupportedVersion(f"unsupported envelope version {version}")
        if aead != AEAD_AES_256_GCM:
            raise UnsupportedVersion(f"unsupported envelope cipher {aead}")
        if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
            raise MalformedInput(f"envelope chunk size 2^{chunk_log2} is out of range")
        return cls(chunk_log2, bytes(fields[7:39]), bytes(fields[39:46]), version)


@dataclass(frozen=True)
class EnvelopeSummary:
    """What a stream operation saw: the header, the sizes, and the content digest.

    ``content_digest`` is the envelope's content digest (``EnvelopeDigest``); it is
    what the author signs (see ``signing``). It is None when the caller asked for
    no digest.
    """

    header: bytes
    plaintext_size: int
    envelope_size: int
    content_digest: bytes | None


def envelope_size(plaintext_size: int, chunk_log2: int = DEFAULT_CHUNK_LOG2) -> int:
    """The exact size of the envelope of ``plaintext_size`` bytes (section 3.3)."""
    chunks = max(1, -(-plaintext_size // (1 << chunk_log2)))
    return HEADER_SIZE + plaintext_size + chunks * TAG_SIZE


def generate_document_key() -> bytes:
    return secrets.token_bytes(DOCUMENT_KEY_SIZE)


class _Keys:
    __slots__ = ("aead", "header_mac_key", "nonce_prefix")

    def __init__(self, document_key: bytes, header: EnvelopeHeader) -> None:
        if len(document_key) != DOCUMENT_KEY_SIZE:
            raise MalformedInput(f"a document key is {DOCUMENT_KEY_SIZE} bytes")
        self.aead = AESGCM(_hkdf(document_key, header.salt, _PAYLOAD_KEY_INFO))
        self.header_mac_key = _hkdf(document_key, header.salt, _HEADER_KEY_INFO)
        self.nonce_prefix = header.nonce_prefix

    def nonce(self, index: int, last: bool) -> bytes:
        if index >= MAX_CHUNKS:
            raise MalformedInput("envelope exceeds the maximum number of chunks")
        return self.nonce_prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")

    def header_mac(self, fields: bytes) -> bytes:
        mac = hmac.HMAC(self.header_mac_key, hashes.SHA256())
        mac.update(fields)
        return mac.finalize()

    def verify_header_mac(self, fields: bytes, tag: bytes) -> None:
        mac = hmac.HMAC(self.header_mac_key, hashes.SHA256())
        mac.update(fields)
        try:
            mac.verify(tag)  # constant-time comparison
        except InvalidSignature as exc:
            raise HeaderAuthenticationFailed(
                "envelope header failed authentication: it was modified, or the key is wrong"
            ) from exc


class EnvelopeDigest:
    """The content digest of an envelope (docs/PROTOCOL.md 3.5), fed in pieces of any size.

    The header's version byte chooses the digest: version 2 is the RFC 6962 Merkle
    tree hash over the leaves [header, sealed chunk 0, ..., sealed chunk n] (cut here
    from the chunk size the header names), version 1 is SHA-256 over every byte.
    Bytes that do not start with a header of a known version (an upload is not
    trusted to be an envelope) are digested as SHA-256 over every byte. Memory is
    constant: one hash state for the chunk being fed, one subtree root per level.
    """

    __slots__ = ("_header", "_leaf", "_leaf_room", "_leaf_size", "_tree", "_whole")

    def __init__(self) -> None:
        self._header = bytearray()
        self._whole: hashlib._Hash | None = None
        self._tree: merkle.RootBuilder | None = None
        self._leaf: hashlib._Hash | None = None
        self._leaf_size = 0
        self._leaf_room = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if self._whole is None and self._tree is None:
            taken = HEADER_SIZE - len(self._header)
            self._header += view[:taken]
            view = view[taken:]
            if len(self._header) < HEADER_SIZE:
                return
            self._start(bytes(self._header))
        if self._whole is not None:
            self._whole.update(view)
            return
        while view:
            if self._leaf is None:
                self._leaf, self._leaf_room = _LEAF_PREFIX.copy(), self._leaf_size
            taken = min(len(view), self._leaf_room)
            self._leaf.update(view[:taken])
            self._leaf_room -= taken
            view = view[taken:]
            if not self._leaf_room:
                self._end_leaf()

    def _start(self, header: bytes) -> None:
        try:
            parsed = EnvelopeHeader.parse(header[:HEADER_FIELDS_SIZE])
        except CryptoError:
            parsed = None
        if parsed is None or parsed.version == VERSION_WHOLE_HASH:
            self._whole = hashlib.sha256(header)
            return
        self._tree = merkle.RootBuilder()
        self._tree.add(merkle.leaf_hash(header))
        self._leaf_size = parsed.chunk_size + TAG_SIZE

    def _end_leaf(self) -> None:
        assert self._tree is not None and self._leaf is not None
        self._tree.add(self._leaf.digest())
        self._leaf = None

    def digest(self) -> bytes:
        """The content digest of the bytes fed so far (a final short chunk is a leaf)."""
        if self._whole is not None:
            return self._whole.digest()
        if self._tree is None:
            return hashlib.sha256(self._header).digest()
        if self._leaf is not None:
            self._end_leaf()
        return self._tree.root()


class _Digest:
    """The content digest of what a stream operation reads or writes, or nothing.

    Chunks given to ``update_behind`` are hashed on a second thread while the caller
    encrypts or decrypts the next one (hashlib releases the GIL on large inputs). At
    most one chunk is in flight, and the caller must not reuse its buffer before
    ``wait`` (or the next ``update_behind``) returns.
    """

    __slots__ = ("_digest", "_pending", "_pool")

    def __init__(self, enabled: bool) -> None:
        self._digest = EnvelopeDigest() if enabled else None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def update(self, data: bytes | memoryview) -> None:
        if self._digest is not None:
            self.wait()
            self._digest.update(data)

    def update_behind(self, data: memoryview) -> None:
        """Start hashing ``data`` on the second thread, once the previous chunk is done."""
        if self._digest is None:
            return
        self.wait()
        if len(data) < _HASH_BEHIND_MIN:
            self._digest.update(data)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="envelope-digest")
        self._pending = self._pool.submit(self._digest.update, data)

    def wait(self) -> None:
        """Return once every chunk given so far is hashed."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def finalize(self) -> bytes | None:
        if self._digest is None:
            return None
        self.wait()
        return self._digest.digest()

    def close(self) -> None:
        """Let the second thread go (after the in-flight chunk, on any outcome)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(key)


def _read_full(source: Readable, view: memoryview) -> int:
    """Fill ``view`` unless the source ends first; return the number of bytes read."""
    filled = 0
    size = len(view)
    while filled < size:
        count = source.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


def _pieces(source: Readable, size: int) -> Iterator[tuple[int, memoryview, bool]]:
    """Yield (index, piece, last) for consecutive reads of ``size`` bytes.

    One piece of look-ahead tells which piece is the last, so the writer can
    stream from a pipe. Two buffers alternate: a piece stays valid until the
    next one is requested, and memory stays at two pieces whatever the size.
    """
    current = memoryview(bytearray(size))
    following = memoryview(bytearray(size))
    current_len = _read_full(source, current)
    index = 0
    while True:
        following_len = _read_full(source, following) if current_len == size else 0
        last = following_len == 0
        yield index, current[:current_len], last
        if last:
            return
        current, following = following, current
        current_len = following_len
        index += 1


def _write_all(sink: Writable, data: memoryview) -> None:
    written = sink.write(data)
    # Raw (unbuffered) files may write less than asked; finish the job.
    while written is not None and written < len(data):
        data = data[written:]
        written = sink.write(data)


def encrypt_stream(
    document_key: bytes,
    source: Readable,
    sink: Writable,
    *,
    chunk_log2: int = DEFAULT_CHUNK_LOG2,
    digest: bool = True,
    _salt: bytes | None = None,
    _nonce_prefix: bytes | None = None,
) -> EnvelopeSummary:
    """Encrypt everything ``source`` yields into ``sink``.

    ``_salt`` and ``_nonce_prefix`` exist only to regenerate the test vectors;
    callers leave them unset and get fresh random values.

    :raises MalformedInput: ``document_key`` is not 32 bytes, or the document has more
        chunks than the format allows.
    :raises ValueError: ``chunk_log2`` is out of range (a caller's mistake).
    """
    if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
        raise ValueError(f"chunk_log2 must be within {MIN_CHUNK_LOG2}..{MAX_CHUNK_LOG2}")
    header = EnvelopeHeader(
        chunk_log2,
        _salt if _salt is not None else secrets.token_bytes(SALT_SIZE),
        _nonce_prefix if _nonce_prefix is not None else secrets.token_bytes(NONCE_PREFIX_SIZE),
    )
    keys = _Keys(document_key, header)
    fields = header.fields()
    header_bytes = fields + keys.header_mac(fields)
    hasher = _Digest(digest)
    hasher.update(header_bytes)
    _write_all(sink, memoryview(header_bytes))

    chunk_size = header.chunk_size
    # With a digest, two output buffers: chunk i is hashed behind while i + 1 is sealed.
    first = memoryview(bytearray(chunk_size + TAG_SIZE))
    sealed = (first, memoryview(bytearray(chunk_size + TAG_SIZE)) if digest else first)
    encrypt_into = keys.aead.encrypt_into
    plaintext_size = 0
    envelope_size = HEADER_SIZE
    try:
        for index, piece, last in _pieces(source, chunk_size):
            out = sealed[index & 1][: len(piece) + TAG_SIZE]
            encrypt_into(keys.nonce(index, last), piece, None, out)
            hasher.update_behind(out)
            _write_all(sink, out)
            plaintext_size += len(piece)
            envelope_size += len(out)
        return EnvelopeSummary(header_bytes, plaintext_size, envelope_size, hasher.finalize())
    finally:
        hasher.close()


def read_header(source: Readable) -> tuple[EnvelopeHeader, bytes]:
    """Read and parse the header (not yet authenticated: that needs the key).

    :raises TruncatedEnvelope: ``source`` ends before a whole header.
    :raises MalformedInput: not an envelope header (UnsupportedVersion for a version or
        cipher this code does not know).
    """
    header_bytes = bytearray(HEADER_SIZE)
    if _read_full(source, memoryview(header_bytes)) != HEADER_SIZE:
        raise TruncatedEnvelope("the data is too short to hold an envelope header")
    return EnvelopeHeader.parse(bytes(header_bytes[:HEADER_FIELDS_SIZE])), bytes(header_bytes)


def check_header(document_key: bytes, header_bytes: bytes) -> None:
    """Raise unless ``header_bytes`` is an envelope header made with ``document_key``
    (its HMAC-SHA256 commits to the key): a key served beside a header is checked to
    be that envelope's before it is trusted or passed on.

    :raises MalformedInput: not an envelope header, or ``document_key`` is not 32 bytes
        (UnsupportedVersion for an unknown version or cipher).
    :raises HeaderAuthenticationFailed: the header was not made with ``document_key``.
    """
    if len(header_bytes) != HEADER_SIZE:
        raise MalformedInput(f"an envelope header is {HEADER_SIZE} bytes")
    fields = header_bytes[:HEADER_FIELDS_SIZE]
    _Keys(document_key, EnvelopeHeader.parse(fields)).verify_header_mac(
        fields, header_bytes[HEADER_FIELDS_SIZE:]
    )


def decrypt_stream(
    document_key: bytes, source: Readable, sink: Writable, *, digest: bool = True
) -> EnvelopeSummary:
    """Decrypt an envelope from ``source`` into ``sink``.

    Chunks reach ``sink`` as soon as each one authenticates, but the envelope
    as a whole is only authentic once this function returns: on an exception,
    discard whatever was written (the SDK writes to a temporary file and
    renames it on success).

    :raises MalformedInput: not an envelope, ``document_key`` is not 32 bytes, or an empty
        final chunk after the first (UnsupportedVersion for an unknown version or cipher).
    :raises HeaderAuthenticationFailed: the header was modified, or the key is wrong.
    :raises ChunkAuthenticationFailed: a chunk was modified, reordered or taken from another
        envelope.
    :raises TruncatedEnvelope: the envelope ends before its final chunk.
    :raises TrailingData: bytes follow the final chunk.
    """
    header, header_bytes = read_header(source)
    keys = _Keys(document_key, header)
    keys.verify_header_mac(header_bytes[:HEADER_FIELDS_SIZE], header_bytes[HEADER_FIELDS_SIZE:])
    hasher = _Digest(digest)
    hasher.update(header_bytes)

    chunk_size = header.chunk_size
    sealed_size = chunk_size + TAG_SIZE
    opened = memoryview(bytearray(chunk_size))
    decrypt_into = keys.aead.decrypt_into
    plaintext_size = 0
    envelope_size = HEADER_SIZE
    try:
        for index, chunk, last in _pieces(source, sealed_size):
            if len(chunk) < TAG_SIZE:
                if index == 0 and not chunk:
                    raise TruncatedEnvelope("the envelope has a header but no payload")
                raise TruncatedEnvelope(f"the envelope ends inside chunk {index}")
            if last and len(chunk) == TAG_SIZE and index > 0:
                raise MalformedInput("an empty final chunk is only valid as the first chunk")
            out = opened[: len(chunk) - TAG_SIZE]
            # Hashed while it is opened and written; _pieces reuses its buffer next.
            hasher.update_behind(chunk)
            try:
                decrypt_into(keys.nonce(index, last), chunk, None, out)
            except InvalidTag:
                raise _explain_failure(
                    keys, index, chunk, last, len(chunk) == sealed_size
                ) from None
            _write_all(sink, out)
            plaintext_size += len(out)
            envelope_size += len(chunk)
            hasher.wait()
        return EnvelopeSummary(header_bytes, plaintext_size, envelope_size, hasher.finalize())
    finally:
        hasher.close()


def _explain_failure(
    keys: _Keys, index: int, chunk: memoryview, last: bool, full: bool
) -> CryptoError:
    """Turn a failed chunk into the most precise error (only on the failure path)."""
    if full:
        scratch = bytearray(len(chunk) - TAG_SIZE)
        try:
            keys.aead.decrypt_into(keys.nonce(index, not last), chunk, None, scratch)
        except InvalidTag:
            return ChunkAuthenticationFailed(index)
        if last:
            return TruncatedEnvelope(
                f"the envelope ends after chunk {index}, before its final chunk"
            )
        return TrailingData(f"data follows the final chunk {index}")
    return ChunkAuthenticationFailed(index)


def encrypt(
    document_key: bytes, plaintext: bytes, *, chunk_log2: int = DEFAULT_CHUNK_LOG2
) -> bytes:
    """Encrypt an in-memory document (small documents, messages).

    :raises MalformedInput: ``document_key`` is not 32 bytes.
    """
    sink = io.BytesIO()
    encrypt_stream(document_key, io.BytesIO(plaintext), sink, chunk_log2=chunk_log2, digest=False)
    return sink.getvalue()


def decrypt(document_key: bytes, envelope: bytes) -> bytes:
    """Decrypt an in-memory envelope.

    :raises CryptoError: as ``decrypt_stream``, whose refusals it raises.
    """
    sink = io.BytesIO()
    decrypt_stream(document_key, io.BytesIO(envelope), sink, digest=False)
    return sink.getvalue()


def content_digest(envelope: bytes) -> bytes:
    """The content digest of a whole in-memory envelope (``EnvelopeDigest``): what its
    author signs."""
    digest = EnvelopeDigest()
    digest.update(envelope)
    return digest.digest()
