"""The envelope: round trips, streaming memory, and every tamper case."""

import hashlib
import io
import os
import threading
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uhealthsec.crypto import envelope, merkle
from uhealthsec.crypto.errors import (
    ChunkAuthenticationFailed,
    CryptoError,
    HeaderAuthenticationFailed,
    MalformedInput,
    TrailingData,
    TruncatedEnvelope,
    UnsupportedVersion,
)

SMALL = envelope.MIN_CHUNK_LOG2  # 4 KiB chunks keep multi-chunk cases small
CHUNK = 1 << SMALL
SEALED_CHUNK = CHUNK + envelope.TAG_SIZE
H = envelope.HEADER_SIZE


def _seal(plaintext: bytes, key: bytes | None = None) -> tuple[bytes, bytes]:
    key = key or envelope.generate_document_key()
    return key, envelope.encrypt(key, plaintext, chunk_log2=SMALL)


def _chunks(sealed: bytes, sealed_chunk: int = SEALED_CHUNK) -> list[bytes]:
    body = sealed[H:]
    return [body[i : i + sealed_chunk] for i in range(0, len(body), sealed_chunk)]


def _chunk_tree(sealed: bytes, chunk_log2: int = SMALL) -> bytes:
    """The version 2 content digest, from the list of leaves (PROTOCOL 3.5)."""
    leaves = [sealed[:H], *_chunks(sealed, (1 << chunk_log2) + envelope.TAG_SIZE)]
    return merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves])


@given(st.binary(max_size=5 * CHUNK + 17))
@settings(max_examples=60, deadline=None)
def test_round_trip_any_size(plaintext):
    key, sealed = _seal(plaintext)
    assert envelope.decrypt(key, sealed) == plaintext
    chunks = max(1, -(-len(plaintext) // CHUNK))
    assert len(sealed) == H + len(plaintext) + chunks * envelope.TAG_SIZE


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_round_trip_at_chunk_boundaries(size):
    plaintext = bytes(range(256)) * (size // 256) + bytes(size % 256)
    key, sealed = _seal(plaintext)
    assert envelope.decrypt(key, sealed) == plaintext


@given(st.binary(min_size=0, max_size=3 * CHUNK + 100), st.data())
@settings(max_examples=60, deadline=None)
def test_any_flipped_bit_is_detected(plaintext, data):
    key, sealed = _seal(plaintext)
    position = data.draw(st.integers(0, len(sealed) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(sealed)
    tampered[position] ^= 1 << bit
    with pytest.raises(CryptoError):
        envelope.decrypt(key, bytes(tampered))


def test_header_tampering_names_the_header():
    key, sealed = _seal(b"x" * 100)
    for position in range(7, H):  # salt, nonce prefix and MAC (magic/version fail as malformed)
        tampered = bytearray(sealed)
        tampered[position] ^= 0x80
        with pytest.raises(HeaderAuthenticationFailed):
            envelope.decrypt(key, bytes(tampered))


def test_chunk_size_field_is_authenticated():
    key, sealed = _seal(b"x" * 10000)
    tampered = bytearray(sealed)
    tampered[6] = SMALL + 1
    with pytest.raises(HeaderAuthenticationFailed):
        envelope.decrypt(key, bytes(tampered))


@pytest.mark.parametrize(
    ("position", "value", "error"),
    [
        (0, ord("X"), MalformedInput),
        (4, 3, UnsupportedVersion),
        (5, 9, UnsupportedVersion),
        (6, 11, MalformedInput),
        (6, 25, MalformedInput),
    ],
)
def test_malformed_header_fields(position, value, error):
    key, sealed = _seal(b"data")
    tampered = bytearray(sealed)
    tampered[position] = value
    with pytest.raises(error):
        envelope.decrypt(key, bytes(tampered))


def test_wrong_key_fails_at_the_header():
    _, sealed = _seal(b"data")
    with pytest.raises(HeaderAuthenticationFailed):
        envelope.decrypt(envelope.generate_document_key(), sealed)


def test_truncation_at_a_chunk_boundary():
    key, sealed = _seal(b"a" * (3 * CHUNK + 10))
    cut = H + 2 * SEALED_CHUNK
    with pytest.raises(TruncatedEnvelope, match="before its final chunk"):
        envelope.decrypt(key, sealed[:cut])


def test_truncation_inside_a_chunk():
    key, sealed = _seal(b"a" * (2 * CHUNK + 10))
    with pytest.raises(ChunkAuthenticationFailed):
        envelope.decrypt(key, sealed[:-5])
    with pytest.raises(TruncatedEnvelope):
        envelope.decrypt(key, sealed[: H + SEALED_CHUNK + 7])


def test_header_only_and_short_inputs():
    key, sealed = _seal(b"abc")
    with pytest.raises(TruncatedEnvelope, match="no payload"):
        envelope.decrypt(key, sealed[:H])
    with pytest.raises(TruncatedEnvelope, match="too short"):
        envelope.decrypt(key, sealed[: H - 1])


def test_reordered_chunks():
    key, sealed = _seal(bytes(range(256)) * (3 * CHUNK // 256) + b"end")
    chunks = _chunks(sealed)
    swapped = chunks[1] + chunks[0] + b"".join(chunks[2:])
    with pytest.raises(ChunkAuthenticationFailed) as excinfo:
        envelope.decrypt(key, sealed[:H] + swapped)
    assert excinfo.value.index == 0


def test_duplicated_chunk():
    key, sealed = _seal(b"q" * (2 * CHUNK + 3))
    chunks = _chunks(sealed)
    with pytest.raises(ChunkAuthenticationFailed) as excinfo:
        envelope.decrypt(key, sealed[:H] + chunks[0] + chunks[0] + b"".join(chunks[1:]))
    assert excinfo.value.index == 1


def test_chunk_swapped_in_from_another_envelope_with_the_same_key():
    key = envelope.generate_document_key()
    _, first = _seal(b"1" * (2 * CHUNK + 1), key)
    _, second = _seal(b"2" * (2 * CHUNK + 1), key)
    mixed = first[:H] + _chunks(first)[0] + _chunks(second)[1] + _chunks(first)[2]
    with pytest.raises(ChunkAuthenticationFailed) as excinfo:
        envelope.decrypt(key, mixed)
    assert excinfo.value.index == 1


def test_data_after_the_final_chunk():
    key, sealed = _seal(b"z" * (2 * CHUNK))  # ends on a full final chunk
    with pytest.raises(TrailingData):
        envelope.decrypt(key, sealed + b"more")
    key, sealed = _seal(b"z" * 10)
    with pytest.raises(CryptoError):
        envelope.decrypt(key, sealed + b"more")


def test_dropping_the_final_chunk_of_a_full_file():
    key, sealed = _seal(b"z" * (2 * CHUNK))
    with pytest.raises(TruncatedEnvelope):
        envelope.decrypt(key, sealed[: H + SEALED_CHUNK])


def test_two_encryptions_never_share_salt_or_nonce_prefix():
    key = envelope.generate_document_key()
    a = envelope.encrypt(key, b"same")
    b = envelope.encrypt(key, b"same")
    assert a[7:46] != b[7:46]
    assert a[H:] != b[H:]


def test_digests_agree_between_writer_and_reader():
    key = envelope.generate_document_key()
    plaintext = b"p" * (CHUNK * 2 + 9)
    sink = io.BytesIO()
    written = envelope.encrypt_stream(key, io.BytesIO(plaintext), sink, chunk_log2=SMALL)
    read = envelope.decrypt_stream(key, io.BytesIO(sink.getvalue()), io.BytesIO())
    assert written.content_digest == read.content_digest == envelope.content_digest(sink.getvalue())
    assert written.plaintext_size == read.plaintext_size == len(plaintext)
    assert written.envelope_size == read.envelope_size == len(sink.getvalue())


@pytest.mark.parametrize("extra", [0, 1, 65_535])
def test_digests_hashed_behind_on_a_second_thread_are_the_chunk_tree(extra):
    """Chunks of 64 KiB and more are hashed on a second thread while the next one is
    sealed or opened into a reused buffer: the digest must still be the tree over the
    exact chunks, in order, and no thread may outlive the call."""
    key = envelope.generate_document_key()
    plaintext = os.urandom((1 << 16) * 5 + extra)  # distinct bytes in every chunk
    threads = threading.active_count()
    sink = io.BytesIO()
    written = envelope.encrypt_stream(key, io.BytesIO(plaintext), sink, chunk_log2=16)
    sealed = sink.getvalue()
    opened = io.BytesIO()
    read = envelope.decrypt_stream(key, io.BytesIO(sealed), opened)
    assert written.content_digest == read.content_digest == _chunk_tree(sealed, 16)
    assert opened.getvalue() == plaintext
    assert threading.active_count() == threads


@given(st.integers(0, 6 * CHUNK), st.lists(st.integers(1, 2 * SEALED_CHUNK), min_size=1))
@settings(max_examples=40, deadline=None)
def test_the_digest_does_not_depend_on_how_the_bytes_are_cut(size, cuts):
    """EnvelopeDigest cuts the chunks itself: any slicing of the stream gives the tree."""
    _, sealed = _seal(os.urandom(size))
    digest = envelope.EnvelopeDigest()
    position = 0
    while position < len(sealed):
        step = cuts[position % len(cuts)]
        digest.update(sealed[position : position + step])
        position += step
    assert sealed[4] == envelope.VERSION == 2
    assert digest.digest() == _chunk_tree(sealed) == envelope.content_digest(sealed)


def test_a_version_1_envelope_still_opens_and_its_digest_is_sha256_of_it_all():
    key, sealed = _seal(os.urandom(2 * CHUNK + 3))
    header = envelope.EnvelopeHeader.parse(sealed[:46])
    old = envelope.EnvelopeHeader(header.chunk_log2, header.salt, header.nonce_prefix, 1)
    keys = envelope._Keys(key, old)
    relabelled = old.fields() + keys.header_mac(old.fields()) + sealed[H:]
    summary = envelope.decrypt_stream(key, io.BytesIO(relabelled), io.BytesIO())
    assert summary.content_digest == hashlib.sha256(relabelled).digest()
    assert envelope.content_digest(relabelled) == summary.content_digest
    # The MAC covers the version: relabelling without the key is refused.
    with pytest.raises(HeaderAuthenticationFailed):
        envelope.decrypt(key, sealed[:4] + b"\x01" + sealed[5:])


@pytest.mark.parametrize(
    "data",
    [b"", b"UHSE", b"UHSE\x02\x01\x0c" + bytes(200), b"UHSE\x03\x01\x0c" + bytes(200)],
    ids=["empty", "short", "version 2 header, unauthenticated", "version 3"],
)
def test_bytes_without_a_known_header_are_digested_whole(data):
    if data[4:5] == b"\x02":  # a well-formed version 2 header: the tree, even unauthenticated
        assert envelope.content_digest(data) == _chunk_tree(data)
    else:
        assert envelope.content_digest(data) == hashlib.sha256(data).digest()


def test_a_refused_chunk_leaves_no_digest_thread_behind():
    key = envelope.generate_document_key()
    sealed = bytearray(envelope.encrypt(key, os.urandom((1 << 16) * 3), chunk_log2=16))
    sealed[H + (1 << 16) + envelope.TAG_SIZE + 5] ^= 1  # inside chunk 1
    threads = threading.active_count()
    with pytest.raises(ChunkAuthenticationFailed):
        envelope.decrypt_stream(key, io.BytesIO(bytes(sealed)), io.BytesIO())
    assert threading.active_count() == threads


class _Zeros(io.RawIOBase):
    """A stream of n zero bytes that never holds them all in memory, with short reads."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left, 300_000)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


class _Discard(io.RawIOBase):
    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        written = min(len(data), 500_000)  # partial writes, like a raw file
        self.count += written
        return written


def test_streaming_memory_does_not_grow_with_size():
    key = envelope.generate_document_key()
    peaks = []
    for size in (4 << 20, 64 << 20):
        tracemalloc.start()
        sink = _Discard()
        summary = envelope.encrypt_stream(key, _Zeros(size), sink, digest=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert summary.plaintext_size == size and sink.count == summary.envelope_size
    # Three one-chunk buffers (1 MiB each), whatever the size.
    assert peaks[1] < 4 << 20
    assert peaks[1] < peaks[0] * 1.1 + 65536


def test_streaming_memory_with_the_digest_does_not_grow_with_size():
    key = envelope.generate_document_key()
    peaks = []
    for size in (4 << 20, 64 << 20):
        tracemalloc.start()
        summary = envelope.encrypt_stream(key, _Zeros(size), _Discard())
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert summary.content_digest is not None
    # Four one-chunk buffers: the chunk being hashed behind has one of its own.
    assert peaks[1] < 5 << 20
    assert peaks[1] < peaks[0] * 1.1 + 65536


def test_wrong_document_key_size():
    with pytest.raises(MalformedInput):
        envelope.encrypt(b"short", b"data")


def test_chunk_size_bounds():
    with pytest.raises(ValueError):
        envelope.encrypt(envelope.generate_document_key(), b"", chunk_log2=11)


@given(st.integers(min_value=0, max_value=40_000), st.sampled_from([12, 13]))
def test_envelope_size_is_known_in_advance(size, chunk_log2):
    sealed = envelope.encrypt(bytes(32), bytes(size), chunk_log2=chunk_log2)
    assert envelope.envelope_size(size, chunk_log2) == len(sealed)


def test_a_header_is_checked_against_the_key_it_was_made_with():
    key, other = envelope.generate_document_key(), envelope.generate_document_key()
    header = envelope.encrypt(key, b"compte rendu")[: envelope.HEADER_SIZE]
    envelope.check_header(key, header)
    with pytest.raises(HeaderAuthenticationFailed):
        envelope.check_header(other, header)  # another document's key
