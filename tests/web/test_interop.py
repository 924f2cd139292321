"""Cross-implementation round trips through files: what the web client (TypeScript,
under Node) seals or wraps, Python opens, and the other way round; a tampered
envelope or wrapped key is refused by both with the same identifier.

The web side runs web/scripts/interop.ts on a list of jobs, with real files and its
streaming API (ReadableStream from the input file to WritableStream into the output
file), so that one Node process serves every case.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.web.node_jobs import Outcome, job_runner
from uhealthsec.crypto import envelope, wrap
from uhealthsec.crypto.errors import CryptoError, error_identifier
from uhealthsec.crypto.keys import UserKeys

ROOT = Path(__file__).resolve().parents[2]
SMALL, DEFAULT = 12, envelope.DEFAULT_CHUNK_LOG2


def sizes(chunk_log2: int) -> list[int]:
    chunk = 1 << chunk_log2
    return [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk]


CASES = [(log2, size) for log2 in (SMALL, DEFAULT) for size in sizes(log2)]


@pytest.fixture(scope="module")
def web(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[list[dict[str, Any]]], list[Outcome]]:
    """Runs jobs through the web client; returns each result as (ok, value or identifier)."""
    return job_runner("interop", tmp_path_factory.mktemp("interop-jobs"))


def python_seal(key: bytes, source: Path, target: Path, chunk_log2: int) -> str:
    with source.open("rb") as src, target.open("wb") as sink:
        summary = envelope.encrypt_stream(key, src, sink, chunk_log2=chunk_log2)
    assert summary.content_digest == envelope.content_digest(target.read_bytes())
    return summary.content_digest.hex()


def python_open(key: bytes, source: Path, target: Path) -> tuple[bool, str]:
    try:
        with source.open("rb") as src, target.open("wb") as sink:
            summary = envelope.decrypt_stream(key, src, sink)
    except CryptoError as exc:
        return False, error_identifier(exc)
    assert summary.content_digest == envelope.content_digest(source.read_bytes())
    return True, summary.content_digest.hex()


def test_envelopes_round_trip_both_ways(web: Any, tmp_path: Path) -> None:
    key = os.urandom(32)
    seal_jobs, expected = [], []
    for log2, size in CASES:
        plain = tmp_path / f"plain-{log2}-{size}"
        plain.write_bytes(os.urandom(size))
        seal_jobs.append(
            {
                "op": "seal",
                "key": key.hex(),
                "input": str(plain),
                "output": f"{plain}.web.uhse",
                "chunk_log2": log2,
            }
        )
        expected.append(plain)
    sealed = web(seal_jobs)
    # Web -> Python: each envelope opens to the plaintext, with the digest the web gave.
    for (ok, digest), plain in zip(sealed, expected, strict=True):
        assert ok, digest
        opened = python_open(key, Path(f"{plain}.web.uhse"), Path(f"{plain}.web.out"))
        assert opened == (True, digest), plain.name
        assert Path(f"{plain}.web.out").read_bytes() == plain.read_bytes(), plain.name
    # Python -> web.
    open_jobs, digests = [], []
    for (log2, _), plain in zip(CASES, expected, strict=True):
        digests.append(python_seal(key, plain, Path(f"{plain}.py.uhse"), log2))
        open_jobs.append(
            {
                "op": "open",
                "key": key.hex(),
                "input": f"{plain}.py.uhse",
                "output": f"{plain}.py.out",
            }
        )
    for (ok, digest), expected_digest, plain in zip(web(open_jobs), digests, expected, strict=True):
        assert (ok, digest) == (True, expected_digest), plain.name
        assert Path(f"{plain}.py.out").read_bytes() == plain.read_bytes(), plain.name


def tampered(sealed: bytes, chunk_log2: int) -> dict[str, bytes]:
    piece = (1 << chunk_log2) + 16
    header = envelope.HEADER_SIZE

    def flipped(at: int) -> bytes:
        return sealed[:at] + bytes([sealed[at] ^ 1]) + sealed[at + 1 :]

    return {
        "header": flipped(10),
        "first chunk": flipped(header + 5),
        "final tag": flipped(len(sealed) - 1),
        "chunks swapped": sealed[:header]
        + sealed[header + piece : header + 2 * piece]
        + sealed[header : header + piece]
        + sealed[header + 2 * piece :],
        "final chunk dropped": sealed[: header + 3 * piece],
        "cut inside the final chunk": sealed[:-3],
        "trailing bytes": sealed + bytes(17),
        "header only": sealed[:header],
        "short header": sealed[: header - 1],
    }


def test_tampered_envelopes_are_refused_by_both_with_the_same_identifier(
    web: Any, tmp_path: Path
) -> None:
    key, log2 = os.urandom(32), SMALL
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(3 * 4096 + 100))  # three full chunks and a short final one
    sealed = tmp_path / "sealed"
    python_seal(key, plain, sealed, log2)
    cases = tampered(sealed.read_bytes(), log2)
    jobs = []
    for name, data in cases.items():
        path = tmp_path / f"tampered-{name.replace(' ', '-')}"
        path.write_bytes(data)
        jobs.append({"op": "open", "key": key.hex(), "input": str(path), "output": f"{path}.out"})
    for (name, _), job, (ok, identifier) in zip(cases.items(), jobs, web(jobs), strict=True):
        python = python_open(key, Path(job["input"]), Path(f"{job['input']}.py.out"))
        assert not ok and not python[0], name
        assert identifier == python[1], f"{name}: web {identifier}, Python {python[1]}"


@pytest.mark.parametrize("suite", list(wrap.WrapSuite), ids=lambda s: s.name)
def test_wrapped_keys_open_both_ways(web: Any, suite: wrap.WrapSuite) -> None:
    keys = UserKeys.generate()
    header = envelope.encrypt(os.urandom(32), b"x")[: envelope.HEADER_SIZE]
    document_key = os.urandom(32)
    [(ok, wrapped_by_web)] = web(
        [
            {
                "op": "wrap",
                "key": document_key.hex(),
                "bundle": keys.public().encode().hex(),
                "header": header.hex(),
                "suite": suite.name,
            }
        ]
    )
    assert ok, wrapped_by_web
    assert wrap.unwrap_document_key(bytes.fromhex(wrapped_by_web), keys, header) == document_key
    wrapped_by_python = wrap.wrap_document_key(document_key, keys.public(), header, suite)
    modified = bytearray(wrapped_by_python)
    modified[-1] ^= 1
    other_header = envelope.encrypt(os.urandom(32), b"y")[: envelope.HEADER_SIZE]
    jobs = [
        {"op": "unwrap", "wrapped": w.hex(), "private_keys": keys.encode().hex(), "header": h.hex()}
        for w, h in (
            (wrapped_by_python, header),
            (bytes(modified), header),
            (wrapped_by_python, other_header),
        )
    ]
    opened, modified_result, other_result = web(jobs)
    assert opened == (True, document_key.hex())
    for result, (w, h) in (
        (modified_result, (bytes(modified), header)),
        (other_result, (wrapped_by_python, other_header)),
    ):
        with pytest.raises(CryptoError) as refused:
            wrap.unwrap_document_key(w, keys, h)
        assert result == (False, error_identifier(refused.value)) == (False, "decryption_failed")
