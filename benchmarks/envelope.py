"""Envelope and key-wrapping benchmark.

    .venv/bin/python benchmarks/envelope.py            # 1 MiB, 100 MiB, 1 GiB
    .venv/bin/python benchmarks/envelope.py --sizes 1 100

For each size, a random file is encrypted then decrypted, file to file, by:

- the envelope (``uhealthsec.crypto.envelope``), without and with the SHA-256
  content digest that document signatures need;
- raw AES-256-GCM over the same bytes, two ways: one call over the whole file
  (read, encrypt, write), and the cipher alone over 1 MiB slices of the bytes
  already in memory, with no I/O (what the cipher alone costs);
- ``age`` (X25519 recipient, so no scrypt) and ``gpg --symmetric`` (AES256, no
  compression), as the tools people use instead.

Every measurement runs in a fresh child process, which reports its own time
(Python start-up excluded for our code, and also counted in a row of its own, "whole
process"; whole process for age and gpg) and its
peak resident memory. Then key wrapping per recipient, hybrid against classical.
Prints a Markdown report for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from timing import cpu_name

MIB = 1 << 20
PASSPHRASE = "benchmark passphrase, not a secret"


def _child(operation: str, source: str, target: str, key_hex: str) -> None:
    """Run one operation in this process and print {"seconds", "max_rss_kib"}."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from uhealthsec.crypto import envelope

    key = bytes.fromhex(key_hex)
    started = time.perf_counter()
    if operation in ("envelope-encrypt", "envelope-encrypt-digest"):
        with open(source, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
            envelope.encrypt_stream(key, src, dst, digest=operation.endswith("digest"))
    elif operation in ("envelope-decrypt", "envelope-decrypt-digest"):
        with open(source, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
            envelope.decrypt_stream(key, src, dst, digest=operation.endswith("digest"))
    elif operation == "gcm-oneshot-encrypt":
        data = Path(source).read_bytes()
        Path(target).write_bytes(AESGCM(key).encrypt(b"\x00" * 12, data, None))
    elif operation == "gcm-oneshot-decrypt":
        data = Path(source).read_bytes()
        Path(target).write_bytes(AESGCM(key).decrypt(b"\x00" * 12, data, None))
    elif operation in ("gcm-stream-encrypt", "gcm-stream-decrypt"):
        # The same file-to-file streaming as the envelope, minus the construction:
        # no header, no key derivation, no framing; a counter nonce per 1 MiB slice.
        aead = AESGCM(key)
        encrypting = operation.endswith("encrypt")
        read_size = MIB if encrypting else MIB + 16
        inbuf = memoryview(bytearray(read_size))
        outbuf = memoryview(bytearray(MIB + 16))
        with open(source, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
            index = 0
            while count := src.readinto(inbuf):
                nonce = index.to_bytes(12, "big")
                if encrypting:
                    out = outbuf[: count + 16]
                    aead.encrypt_into(nonce, inbuf[:count], None, out)
                else:
                    out = outbuf[: count - 16]
                    aead.decrypt_into(nonce, inbuf[:count], None, out)
                dst.write(out)
                index += 1
    elif operation == "gcm-chunked-memory":
        # Encrypt then decrypt the file's bytes in 1 MiB slices, in memory: cipher cost only.
        data = memoryview(Path(source).read_bytes())
        aead = AESGCM(key)
        sealed = bytearray(MIB + 16)
        opened = bytearray(MIB)
        started = time.perf_counter()
        for offset in range(0, len(data), MIB):
            piece = data[offset : offset + MIB]
            nonce = offset.to_bytes(12, "big")
            out = memoryview(sealed)[: len(piece) + 16]
            aead.encrypt_into(nonce, piece, None, out)
            aead.decrypt_into(nonce, out, None, memoryview(opened)[: len(piece)])
    else:
        raise SystemExit(f"unknown operation {operation}")
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "max_rss_kib": rss}))


def _child_command(operation: str, source: Path, target: Path, key: bytes) -> list[str]:
    return [sys.executable, __file__, "--child", operation, str(source), str(target), key.hex()]


def _run_python(operation: str, source: Path, target: Path, key: bytes) -> dict[str, float]:
    os.sync()  # start every run with no dirty pages left by the previous one
    output = subprocess.run(
        _child_command(operation, source, target, key),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)


def _run_tool(command: list[str]) -> dict[str, float]:
    """Run an outside tool; its whole lifetime is timed, its own peak memory read by wait4."""
    os.sync()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {process.stderr.read().decode()[:200]}")
    return {"seconds": seconds, "max_rss_kib": usage.ru_maxrss}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "max_rss_kib": max(r["max_rss_kib"] for r in runs),
    }


def _throughput(size: int, seconds: float) -> float:
    return size / MIB / seconds


def bench_size(size_mib: int, work: Path, repeats: int) -> dict[str, dict[str, float]]:
    size = size_mib * MIB
    plain = work / f"plain-{size_mib}"
    with open(plain, "wb") as handle:
        for _ in range(size_mib):
            handle.write(os.urandom(MIB))
    sealed, opened = work / "sealed", work / "opened"
    key = os.urandom(32)
    results: dict[str, dict[str, float]] = {}

    def pair(name: str, encrypt: object, decrypt: object) -> None:
        enc_runs, dec_runs = [], []
        for _ in range(repeats):
            enc_runs.append(encrypt())  # type: ignore[operator]
            dec_runs.append(decrypt())  # type: ignore[operator]
            if opened.exists():
                assert opened.stat().st_size == size, f"{name}: wrong output size"
        enc, dec = _median(enc_runs), _median(dec_runs)
        results[name] = {
            "encrypt_s": enc["seconds"],
            "decrypt_s": dec["seconds"],
            "round_trip_mib_s": _throughput(size, enc["seconds"] + dec["seconds"]),
            "peak_rss_mib": max(enc["max_rss_kib"], dec["max_rss_kib"]) / 1024,
        }
        opened.unlink(missing_ok=True)

    for variant, suffix in (("envelope", ""), ("envelope + signing digest", "-digest")):
        pair(
            variant,
            lambda s=suffix: _run_python(f"envelope-encrypt{s}", plain, sealed, key),
            lambda s=suffix: _run_python(f"envelope-decrypt{s}", sealed, opened, key),
        )
    # As a person runs a command: the interpreter's start and the imports counted, as
    # they are for age and gpg below (the rows above time the work alone).
    pair(
        "envelope + signing digest, whole process",
        lambda: _run_tool(_child_command("envelope-encrypt-digest", plain, sealed, key)),
        lambda: _run_tool(_child_command("envelope-decrypt-digest", sealed, opened, key)),
    )
    pair(
        "raw AES-GCM, same streaming I/O (baseline)",
        lambda: _run_python("gcm-stream-encrypt", plain, sealed, key),
        lambda: _run_python("gcm-stream-decrypt", sealed, opened, key),
    )
    pair(
        "raw AES-GCM, one call",
        lambda: _run_python("gcm-oneshot-encrypt", plain, sealed, key),
        lambda: _run_python("gcm-oneshot-decrypt", sealed, opened, key),
    )
    runs = [_run_python("gcm-chunked-memory", plain, sealed, key) for _ in range(repeats)]
    limit = _median(runs)
    results["AES-GCM cipher alone, in memory, no I/O"] = {
        "encrypt_s": float("nan"),
        "decrypt_s": float("nan"),
        "round_trip_mib_s": _throughput(size, limit["seconds"]),
        "peak_rss_mib": limit["max_rss_kib"] / 1024,
    }
    if shutil.which("age") and shutil.which("age-keygen"):
        identity = work / "age-identity"
        if not identity.exists():
            subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
        recipient = subprocess.run(
            ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
        ).stdout.strip()
        pair(
            "age 1.1 (X25519 recipient)",
            lambda: _run_tool(["age", "-r", recipient, "-o", str(sealed), str(plain)]),
            lambda: _run_tool(["age", "-d", "-i", str(identity), "-o", str(opened), str(sealed)]),
        )
    if shutil.which("gpg"):
        home = work / "gnupg"
        home.mkdir(mode=0o700, exist_ok=True)
        base = [
            "gpg",
            "--homedir",
            str(home),
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            PASSPHRASE,
        ]
        pair(
            "gpg --symmetric (AES256, no compression)",
            lambda: _run_tool(
                [
                    *base,
                    "--symmetric",
                    "--cipher-algo",
                    "AES256",
                    "-z",
                    "0",
                    "-o",
                    str(sealed),
                    str(plain),
                ]
            ),
            lambda: _run_tool([*base, "-d", "-o", str(opened), str(sealed)]),
        )
    plain.unlink()
    sealed.unlink(missing_ok=True)
    return results


def bench_wrap(rounds: int = 7, per_round: int = 200) -> dict[str, dict[str, float]]:
    from uhealthsec.crypto import envelope, wrap
    from uhealthsec.crypto.keys import UserKeys

    recipient = UserKeys.generate()
    public = recipient.public()
    header = envelope.encrypt(envelope.generate_document_key(), b"")[: envelope.HEADER_SIZE]
    key = envelope.generate_document_key()
    out: dict[str, dict[str, float]] = {}
    for suite in wrap.WrapSuite:
        wrap_times, unwrap_times = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(per_round):
                wrapped = wrap.wrap_document_key(key, public, header, suite)
            wrap_times.append((time.perf_counter() - started) / per_round)
            started = time.perf_counter()
            for _ in range(per_round):
                wrap.unwrap_document_key(wrapped, recipient, header)
            unwrap_times.append((time.perf_counter() - started) / per_round)
        out[suite.name] = {
            "wrap_ms": statistics.median(wrap_times) * 1000,
            "unwrap_ms": statistics.median(unwrap_times) * 1000,
            "wrapped_bytes": len(wrapped),
        }
    return out


def _machine() -> str:
    cpu = cpu_name()
    import cryptography

    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"cryptography {cryptography.__version__}, {platform.system()} {platform.release()}"
    )


def report(sizes: list[int], work: Path) -> str:
    lines = [
        f"Command: `.venv/bin/python benchmarks/envelope.py --sizes {' '.join(map(str, sizes))}`"
        f" (files in {work.parent})",
        f"Machine: {_machine()}",
        f"Date: {date.today().isoformat()}",
        "",
    ]
    for size_mib in sizes:
        repeats = 5 if size_mib <= 100 else 3
        results = bench_size(size_mib, work, repeats)
        limit = results["raw AES-GCM, same streaming I/O (baseline)"]["round_trip_mib_s"]
        label = f"{size_mib} MiB" if size_mib < 1024 else f"{size_mib // 1024} GiB"
        lines += [
            f"### {label} file, encrypt then decrypt (median of {repeats})",
            "",
            "| implementation | encrypt s | decrypt s | round trip MiB/s | x baseline "
            "| peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, r in results.items():
            enc = "—" if r["encrypt_s"] != r["encrypt_s"] else f"{r['encrypt_s']:.3f}"
            dec = "—" if r["decrypt_s"] != r["decrypt_s"] else f"{r['decrypt_s']:.3f}"
            lines.append(
                f"| {name} | {enc} | {dec} | {r['round_trip_mib_s']:.0f} | "
                f"{r['round_trip_mib_s'] / limit:.2f} | {r['peak_rss_mib']:.0f} |"
            )
        lines.append("")
    wraps = bench_wrap()
    lines += [
        "### Wrapping a document key for one recipient (median of 7 runs of 200)",
        "",
        "| suite | wrap ms | unwrap ms | wrapped key bytes |",
        "|---|---:|---:|---:|",
    ]
    for name, w in wraps.items():
        lines.append(
            f"| {name} | {w['wrap_ms']:.3f} | {w['unwrap_ms']:.3f} | {w['wrapped_bytes']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1, 100, 1024],
        help="file sizes in MiB (default: 1 100 1024)",
    )
    parser.add_argument(
        "--dir",
        default="/dev/shm" if Path("/dev/shm").is_dir() else None,
        help="where the files go (default: /dev/shm, so the disk does not set the pace)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="uhs-bench-", dir=args.dir) as work:
        print(report(args.sizes, Path(work)))


if __name__ == "__main__":
    main()
