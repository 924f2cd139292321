"""Searchable encryption of an index: Mitra, with its client state in an envelope.

The scheme is Mitra, from Chamani, Papadopoulos, Papamanthou and Jalili, "New
Constructions for Forward and Backward Private Symmetric Searchable Encryption"
(ACM CCS 2018), section 4 ("Mitra", its Setup/Update/Search algorithm figure): a
dynamic SSE with forward privacy and type-II backward privacy built from a PRF only.

- The client keeps, per keyword ``w``, a counter ``cnt[w]`` of the updates made on it.
- An update ``(op, w, id)`` increments ``cnt[w]`` and stores on the server
  ``label = PRF(K, w || cnt || 0)  ->  value = (op || id) XOR PRF(K, w || cnt || 1)``.
- A search for ``w`` sends the labels for ``cnt = 1 .. cnt[w]``; the server returns the
  values it holds under them; the client removes the pads and cancels each deletion
  against the addition of the same id.

As in the paper, a deletion adds an entry: the server cannot tell an addition from a
deletion, nor link an update to an earlier search (fresh labels only ever appear).

Choices of ours, all in docs/PROTOCOL.md ("Search"): the PRF is HMAC-SHA256 under a
key derived from the index key with HKDF-SHA256; ``w`` is length-prefixed UTF-8 and
``cnt`` a 64-bit big-endian integer; ``op || id`` is one byte and a 16-byte UUID. The
counters travel between the user's devices in a state envelope, AES-256-GCM under a
second key derived from the index key, its associated data binding the index id and
the state's version so that the server cannot serve one index's state as another's,
nor an old state under a newer version number.

Pure functions; no I/O.
"""

from __future__ import annotations

import secrets
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from uhealthsec.crypto.errors import MalformedInput, SearchStateRefused

INDEX_KEY_SIZE = 32
LABEL_SIZE = 32
#: One byte of operation and a 16-byte document id.
VALUE_SIZE = 17
#: A keyword's UTF-8 encoding is at most this long (the analyser makes shorter ones).
MAX_KEYWORD_BYTES = 255
MAX_COUNTER = 2**63 - 1

_PRF_INFO = b"uhs search v1 prf"
_STATE_INFO = b"uhs search v1 state"
_DOCUMENT_INFO = b"uhs search v1 document"
_STATE_AAD = b"uhs search state v1"
_DOCUMENT_AAD = b"uhs search document v1"
_NONCE_SIZE = 12
_STATE_FORMAT = 0x01


class Op(IntEnum):
    ADD = 0x00
    DELETE = 0x01


_OPS = (Op.ADD, Op.DELETE)


@dataclass(frozen=True)
class IndexKeys:
    """The keys of one index, derived from its 32-byte index key."""

    prf: bytes
    state: bytes
    document: bytes
    #: HMAC-SHA256 keyed with ``prf``, copied for each PRF call: a search computes two
    #: PRFs per update of each keyword, and the key schedule is most of one's cost.
    _keyed: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keyed", hmac.HMAC(self.prf, hashes.SHA256()))

    def mac(self) -> hmac.HMAC:
        return self._keyed.copy()

    @classmethod
    def derive(cls, index_key: bytes) -> IndexKeys:
        if len(index_key) != INDEX_KEY_SIZE:
            raise MalformedInput("an index key is 32 bytes")

        def hkdf(info: bytes) -> bytes:
            return HKDF(hashes.SHA256(), 32, None, info).derive(index_key)

        return cls(hkdf(_PRF_INFO), hkdf(_STATE_INFO), hkdf(_DOCUMENT_INFO))


def new_index_key() -> bytes:
    return secrets.token_bytes(INDEX_KEY_SIZE)


def personal_index(account_secret: bytes) -> tuple[uuid.UUID, bytes]:
    """A user's personal index, its id and key, derived from a private key of theirs
    (the X25519 key's 32 raw bytes): every device that unlocks their keystore finds the
    same index, and nobody else can. The id is opaque: HKDF output, not a name."""

    def hkdf(info: bytes, size: int) -> bytes:
        return HKDF(hashes.SHA256(), size, None, info).derive(account_secret)

    index_id = uuid.UUID(bytes=hkdf(b"uhs search v1 personal index id", 16))
    return index_id, hkdf(b"uhs search v1 personal index key", INDEX_KEY_SIZE)


def _encode_keyword(keyword: str) -> bytes:
    encoded = keyword.encode("utf-8")
    if not 1 <= len(encoded) <= MAX_KEYWORD_BYTES:
        raise MalformedInput("a keyword is 1 to 255 bytes of UTF-8")
    return bytes([len(encoded)]) + encoded


def _prf(keys: IndexKeys, keyword: str, counter: int, which: int) -> bytes:
    if not 1 <= counter <= MAX_COUNTER:
        raise MalformedInput("a counter is 1 to 2^63-1")
    mac = keys.mac()
    mac.update(_encode_keyword(keyword) + struct.pack(">QB", counter, which))
    return mac.finalize()


def label(keys: IndexKeys, keyword: str, counter: int) -> bytes:
    """``PRF(K, w || cnt || 0)``: where the ``counter``-th update of ``keyword`` is stored."""
    return _prf(keys, keyword, counter, 0)


def _pad(keys: IndexKeys, keyword: str, counter: int) -> bytes:
    return _prf(keys, keyword, counter, 1)[:VALUE_SIZE]


def _xor(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise MalformedInput("values of different lengths")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def value(keys: IndexKeys, keyword: str, counter: int, op: Op, document_id: uuid.UUID) -> bytes:
    """``(op || id) XOR PRF(K, w || cnt || 1)``."""
    return _xor(bytes([op]) + document_id.bytes, _pad(keys, keyword, counter))


def open_value(keys: IndexKeys, keyword: str, counter: int, sealed: bytes) -> tuple[Op, uuid.UUID]:
    if len(sealed) != VALUE_SIZE:
        raise MalformedInput("a search value is 17 bytes")
    plain = _xor(sealed, _pad(keys, keyword, counter))
    if plain[0] > Op.DELETE:
        # A value the server made up or moved from another label: refused, not guessed.
        raise MalformedInput("a search value opens to an unknown operation")
    return _OPS[plain[0]], uuid.UUID(bytes=plain[1:])


class Counters:
    """The client state of Mitra: the number of updates made on each keyword."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self._counts: dict[str, int] = dict(counts or {})

    def __getitem__(self, keyword: str) -> int:
        return self._counts.get(keyword, 0)

    def __len__(self) -> int:
        return len(self._counts)

    def items(self) -> Iterable[tuple[str, int]]:
        return self._counts.items()

    def copy(self) -> Counters:
        return Counters(self._counts)

    def update(
        self, keys: IndexKeys, op: Op, keyword: str, document_id: uuid.UUID
    ) -> tuple[bytes, bytes]:
        """Mitra's Update: the (label, value) entry to store; the counter moves on."""
        counter = self[keyword] + 1
        entry = (label(keys, keyword, counter), value(keys, keyword, counter, op, document_id))
        self._counts[keyword] = counter
        return entry

    def search_labels(self, keys: IndexKeys, keyword: str) -> list[bytes]:
        """Mitra's Search, first half: the labels of every update made on ``keyword``."""
        prefix = _encode_keyword(keyword)
        labels = []
        for counter in range(1, self[keyword] + 1):
            mac = keys.mac()
            mac.update(prefix + struct.pack(">QB", counter, 0))
            labels.append(mac.finalize())
        return labels


def resolve(keys: IndexKeys, keyword: str, values: Sequence[bytes | None]) -> set[uuid.UUID]:
    """Mitra's Search, second half: the documents holding ``keyword`` now, from the
    values the server returned for its labels in order (None where it holds none:
    an entry removed by compaction or by the document's erasure)."""
    present: set[bytes] = set()
    prefix = _encode_keyword(keyword)
    for counter, sealed in enumerate(values, start=1):
        if sealed is None:
            continue
        if len(sealed) != VALUE_SIZE:
            raise MalformedInput("a search value is 17 bytes")
        # open_value inlined: a search opens up to tens of thousands of values.
        mac = keys.mac()
        mac.update(prefix + struct.pack(">QB", counter, 1))
        pad = mac.finalize()[:VALUE_SIZE]
        plain = (int.from_bytes(sealed, "big") ^ int.from_bytes(pad, "big")).to_bytes(
            VALUE_SIZE, "big"
        )
        if plain[0] == Op.ADD:
            present.add(plain[1:])
        elif plain[0] == Op.DELETE:
            present.discard(plain[1:])
        else:
            raise MalformedInput("a search value opens to an unknown operation")
    return {uuid.UUID(bytes=document_id) for document_id in present}


# -- the state envelope ---------------------------------------------------------------------


def _state_aad(index_id: uuid.UUID, version: int) -> bytes:
    return _STATE_AAD + index_id.bytes + struct.pack(">Q", version)


def encode_counters(counters: Counters) -> bytes:
    """format (1) || count (4) || per keyword, sorted by its bytes: len (1) || UTF-8 ||
    counter (8); all big-endian."""
    entries = sorted((_encode_keyword(w), c) for w, c in counters.items())
    out = bytearray([_STATE_FORMAT]) + struct.pack(">I", len(entries))
    for encoded, count in entries:
        out += encoded + struct.pack(">Q", count)
    return bytes(out)


def decode_counters(data: bytes) -> Counters:
    if len(data) < 5 or data[0] != _STATE_FORMAT:
        raise MalformedInput("not a search state")
    (count,) = struct.unpack_from(">I", data, 1)
    at = 5
    counts: dict[str, int] = {}
    previous = b""
    for _ in range(count):
        if at >= len(data):
            raise MalformedInput("a search state is truncated")
        size = data[at]
        encoded = data[at : at + 1 + size]
        if size == 0 or len(data) < at + 1 + size + 8 or encoded <= previous:
            raise MalformedInput("a search state's keywords are not in order")
        (counter,) = struct.unpack_from(">Q", data, at + 1 + size)
        if not 1 <= counter <= MAX_COUNTER:
            raise MalformedInput("a search state holds a counter out of range")
        counts[encoded[1:].decode("utf-8")] = counter
        previous = encoded
        at += 1 + size + 8
    if at != len(data):
        raise MalformedInput("a search state has trailing bytes")
    return Counters(counts)


def seal_state(keys: IndexKeys, index_id: uuid.UUID, version: int, counters: Counters) -> bytes:
    """nonce (12) || AES-256-GCM(state key, nonce, encoded counters,
    aad = "uhs search state v1" || index id (16) || version (8))."""
    nonce = secrets.token_bytes(_NONCE_SIZE)
    aad = _state_aad(index_id, version)
    return nonce + AESGCM(keys.state).encrypt(nonce, encode_counters(counters), aad)


def open_state(keys: IndexKeys, index_id: uuid.UUID, version: int, sealed: bytes) -> Counters:
    if len(sealed) < _NONCE_SIZE + 16:
        raise SearchStateRefused("a search state envelope is too short")
    nonce, body = sealed[:_NONCE_SIZE], sealed[_NONCE_SIZE:]
    try:
        plain = AESGCM(keys.state).decrypt(nonce, body, _state_aad(index_id, version))
    except InvalidTag:
        raise SearchStateRefused(
            "the search state does not open: another index's, another version's, or altered"
        ) from None
    return decode_counters(plain)


# -- what a document was indexed under ---------------------------------------------------------


def document_label(keys: IndexKeys, document_id: uuid.UUID) -> bytes:
    """Where the list of a document's keywords is kept, so that any of the user's
    devices can delete them later without the document (erased, revoked)."""
    mac = hmac.HMAC(keys.document, hashes.SHA256())
    mac.update(b"label" + document_id.bytes)
    return mac.finalize()


def seal_keywords(keys: IndexKeys, document_id: uuid.UUID, keywords: Iterable[str]) -> bytes:
    """nonce (12) || AES-256-GCM(document key, nonce, the keywords in the order of
    their UTF-8 bytes, each len (1) || UTF-8,
    aad = "uhs search document v1" || document id (16))."""
    body = b"".join(_encode_keyword(w) for w in sorted(set(keywords), key=str.encode))
    nonce = secrets.token_bytes(_NONCE_SIZE)
    return nonce + AESGCM(keys.document).encrypt(nonce, body, _DOCUMENT_AAD + document_id.bytes)


def open_keywords(keys: IndexKeys, document_id: uuid.UUID, sealed: bytes) -> list[str]:
    if len(sealed) < _NONCE_SIZE + 16:
        raise SearchStateRefused("a document's keyword list is too short")
    try:
        body = AESGCM(keys.document).decrypt(
            sealed[:_NONCE_SIZE], sealed[_NONCE_SIZE:], _DOCUMENT_AAD + document_id.bytes
        )
    except InvalidTag:
        raise SearchStateRefused("a document's keyword list does not open") from None
    keywords, at = [], 0
    while at < len(body):
        size = body[at]
        if size == 0 or at + 1 + size > len(body):
            raise MalformedInput("a document's keyword list is truncated")
        keywords.append(body[at + 1 : at + 1 + size].decode("utf-8"))
        at += 1 + size
    return keywords


def terms_held(terms: Iterable[Iterable[str]], keywords: Iterable[str]) -> int | None:
    """How many of a query's keywords a document's opened keyword list holds, counted
    term by term; None when a term has none of its keywords in the list (the document
    does not match, whatever the index's values said)."""
    held = set(keywords)
    count = 0
    for term in terms:
        matched = sum(1 for w in set(term) if w in held)
        if matched == 0:
            return None
        count += matched
    return count
