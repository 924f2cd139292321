"""Differential tests: the same inputs, valid vectors mutated systematically (bit flips,
truncations, extensions) and hostile cases written by hand, go to Python and to the
web client (web/scripts/differential.ts, one Node process per batch); both must
accept or refuse each, and refuse with the same identifier (docs/PROTOCOL.md 8.1).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.web.node_jobs import WEB, Outcome, job_runner
from uhealthsec.client import recovery
from uhealthsec.crypto import (
    checkpoint,
    directory,
    envelope,
    journal,
    keystore,
    signing,
    wrap,
)
from uhealthsec.crypto.errors import CryptoError, error_identifier
from uhealthsec.crypto.keys import PublicKeys, UserKeys

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"


def vectors(name: str) -> Any:
    return json.loads((VECTORS / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def web(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[list[dict[str, Any]]], list[Outcome]]:
    return job_runner("differential", tmp_path_factory.mktemp("differential"))


def python(job: dict[str, str]) -> Outcome:
    def h(name: str) -> bytes:
        return bytes.fromhex(job[name])

    try:
        op = job["op"]
        if op == "open_envelope":
            summary = envelope.decrypt_stream(h("key"), io.BytesIO(h("envelope")), io.BytesIO())
            return True, summary.content_digest.hex()  # type: ignore[union-attr]
        if op == "unwrap":
            keys = UserKeys.decode(h("private_keys"))
            return True, wrap.unwrap_document_key(h("wrapped"), keys, h("header")).hex()
        if op == "ed25519_key":
            signing.public_key(h("key"))
            return True, ""
        if op == "verify":
            purpose = signing.Purpose(job["purpose"].encode())
            signing.verify(h("key"), purpose, h("digest"), h("signature"))
            return True, ""
        if op == "open_checkpoint":
            c = checkpoint.open_checkpoint(job["note"], job["origin"], h("key"))
            return True, f"{c.origin} {c.size} {c.root.hex()}"
        if op == "cosignatures":
            found = checkpoint.note_cosignatures(job["note"], job["name"], h("key"))
            return True, ",".join(f"{t}:{s.hex()}" for t, s in found)
        if op == "verifier_key":
            name, key = checkpoint.parse_verifier_key(job["vkey"])
            return True, f"{name} {key.hex()}"
        if op == "bundle":
            PublicKeys.decode(h("bundle"))
            return True, ""
        if op == "directory_entry":
            d = directory.DirectoryEntry.decode(h("entry"))
            return True, f"{d.account_id} {d.key_version} {int(d.kind)} {d.email}"
        if op == "journal_entry":
            j = journal.JournalEntry.decode(h("entry"))
            objects, links = len(j.objects), len(j.chain)
            shown = f"{j.version} {j.timestamp_ms} {j.action} {int(j.outcome)} {objects} {links}"
            return True, shown
        if op == "keystore":
            keystore.Keystore.decode(h("keystore"))
            return True, ""
        if op == "argon2_params":
            p = keystore.Argon2Params.decode(h("params"))
            return True, f"{p.memory_kib} {p.iterations} {p.parallelism}"
        if op == "recovery_words":
            return True, recovery.from_words(job["text"]).hex()
    except CryptoError as exc:
        identifier = error_identifier(exc)
        return False, identifier
    raise AssertionError(f"unknown job {job['op']}")


def compare(
    web: Callable[[list[dict[str, str]]], list[Outcome]],
    jobs: list[dict[str, str]],
    labels: list[str],
) -> list[str]:
    differences = []
    for label, job, theirs in zip(labels, jobs, web(jobs), strict=True):
        ours = python(job)
        if ours != theirs:
            differences.append(f"{label}: Python {ours}, web {theirs}")
    return differences


def mutations(
    data: bytes, positions: list[int], cuts: list[int], tails: list[bytes]
) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for at in positions:
        if 0 <= at < len(data):
            for bit in (0, 7):
                out[f"flip byte {at} bit {bit}"] = (
                    data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1 :]
                )
    for cut in cuts:
        if 0 <= cut < len(data):
            out[f"cut to {cut}"] = data[:cut]
    for tail in tails:
        out[f"extended by {len(tail)}"] = data + tail
    return out


def test_mutated_envelopes_are_judged_alike(web: Any) -> None:
    jobs, labels = [], []
    for case in vectors("envelope")["valid"]:
        data = bytes.fromhex(case["envelope"])
        piece = (1 << case["chunk_log2"]) + envelope.TAG_SIZE
        header = envelope.HEADER_SIZE
        positions = [
            *range(header),
            header,
            header + 1,
            len(data) - 17,
            len(data) - 16,
            len(data) - 1,
        ]
        positions += [header + piece - 1, header + piece, header + piece + 1]
        cuts = [0, 1, 4, 45, 46, 77, header, header + 1, header + 15, header + 16, header + 17]
        cuts += [
            header + piece - 1,
            header + piece,
            header + piece + 1,
            len(data) - 16,
            len(data) - 1,
        ]
        tails = [b"\x00", bytes(15), bytes(16), bytes(17), data[header : header + piece]]
        for name, mutated in mutations(data, positions, cuts, tails).items():
            jobs.append(
                {"op": "open_envelope", "key": case["document_key"], "envelope": mutated.hex()}
            )
            labels.append(f"{case['description']}: {name}")
    for case in vectors("envelope")["invalid"]:
        jobs.append(
            {"op": "open_envelope", "key": case["document_key"], "envelope": case["envelope"]}
        )
        labels.append(f"invalid vector {case['description']}")
    assert compare(web, jobs, labels) == []


def test_mutated_wrapped_keys_are_judged_alike(web: Any) -> None:
    jobs, labels = [], []
    for case in vectors("wrap")["vectors"]:
        data = bytes.fromhex(case["wrapped_key"])
        positions = [*range(7), 7, 8, 38, 39, 40]
        positions += [len(data) - 49, len(data) - 48, len(data) - 17, len(data) - 16, len(data) - 1]
        cuts = [0, 1, 6, 7, 8, len(data) - 48, len(data) - 1]
        for name, mutated in mutations(data, positions, cuts, [b"\x00", bytes(32)]).items():
            for header_name, header in (
                ("its header", case["envelope_header"]),
                ("a header cut short", case["envelope_header"][:-2]),
            ):
                jobs.append(
                    {
                        "op": "unwrap",
                        "wrapped": mutated.hex(),
                        "private_keys": case["recipient_private_keys"],
                        "header": header,
                    }
                )
                labels.append(f"v{case['version']} {case['suite']}: {name}, {header_name}")
    for case in vectors("wrap")["invalid"]:
        jobs.append(
            {
                "op": "unwrap",
                "wrapped": case["wrapped_key"],
                "private_keys": case["recipient_private_keys"],
                "header": case["envelope_header"],
            }
        )
        labels.append(f"invalid vector {case['description']}")
    assert compare(web, jobs, labels) == []


def test_ed25519_keys_and_signatures_are_judged_alike(web: Any) -> None:
    data = vectors("ed25519_keys")
    jobs, labels = [], []
    keys = [k["public_key"] for k in data["accepted_keys"] + data["refused_keys"]]
    for key in keys:
        raw = bytes.fromhex(key)
        for name, mutated in mutations(raw, [0, 31], [0, 31], [b"\x00"]).items():
            jobs.append({"op": "ed25519_key", "key": mutated.hex()})
            labels.append(f"key {key}: {name}")
    # Every y below 2^8 and every y near p, with both signs: small-order points, the
    # identity, non-canonical encodings, points off the curve.
    p = 2**255 - 19
    for y in [*range(256), *range(p - 20, p + 20), 2**255 - 1]:
        for sign in (0, 1):
            encoded = (y | (sign << 255)).to_bytes(32, "little") if y < 2**255 else None
            if encoded is not None:
                jobs.append({"op": "ed25519_key", "key": encoded.hex()})
                labels.append(f"y={y} sign={sign}")
    message = bytes.fromhex(data["message"])
    digest = message[-32:]
    for case in data["signatures"] + data["refused_keys"]:
        if not case.get("signature"):
            continue
        sig = bytes.fromhex(case["signature"])
        for name, mutated in mutations(sig, [0, 31, 32, 63], [63], [b"\x00"]).items():
            jobs.append(
                {
                    "op": "verify",
                    "key": case["public_key"],
                    "purpose": "document",
                    "digest": digest.hex(),
                    "signature": mutated.hex(),
                }
            )
            labels.append(f"{case['description']}: {name}")
        for purpose in ("message", "request", "keystore-change", "factor-change"):
            jobs.append(
                {
                    "op": "verify",
                    "key": case["public_key"],
                    "purpose": purpose,
                    "digest": digest.hex(),
                    "signature": case["signature"],
                }
            )
            labels.append(f"{case['description']}: as {purpose}")
    assert compare(web, jobs, labels) == []


def test_keystores_and_argon2_parameters_are_judged_alike(web: Any) -> None:
    jobs, labels = [], []
    for case in vectors("keystore")["vectors"]:
        data = bytes.fromhex(case["keystore"])
        start = 5 + 1285 + 1  # the password slot's parameters
        positions = [
            0,
            4,
            5,
            9,
            37,
            start - 1,
            *range(start, start + 10),
            start + 26,
            len(data) - 1,
        ]
        positions += [start + 26 + 12 + 113]
        for name, mutated in mutations(data, positions, [len(data) - 1], [b"\x00"]).items():
            jobs.append({"op": "keystore", "keystore": mutated.hex()})
            labels.append(f"keystore: {name}")
    for case in vectors("keystore")["invalid"]:
        jobs.append({"op": "keystore", "keystore": case["keystore"]})
        labels.append(f"invalid vector {case['description']}")
    salt = bytes(16)
    for memory in (0, 8, 19455, 19456, 262144, 262145, 2**31, 2**32 - 1):
        for time in (0, 1, 2, 3, 8, 9, 2**32 - 1):
            for lanes in (0, 1, 4, 5, 255):
                params = (
                    bytes([1])
                    + memory.to_bytes(4, "big")
                    + time.to_bytes(4, "big")
                    + bytes([lanes])
                    + salt
                )
                jobs.append({"op": "argon2_params", "params": params.hex()})
                labels.append(f"m={memory} t={time} p={lanes}")
    assert compare(web, jobs, labels) == []


def checkpoint_note_cases() -> list[tuple[str, str]]:
    data = vectors("checkpoint")
    note = data["checkpoints"][-1]["note"]
    text, _, signatures = note.partition("\n\n")
    line = signatures.rstrip("\n")
    cases = [
        ("as served", note),
        ("CRLF line endings", note.replace("\n", "\r\n")),
        ("trailing data", note + "x"),
        ("trailing blank line", note + "\n"),
        ("signature line twice", f"{text}\n\n{line}\n{line}\n"),
        (
            "a space at the end of the size line",
            note.replace("\n", " \n", 2).replace(" \n", "\n", 1),
        ),
        ("unknown key line first", f"{text}\n\n\u2014 other.example QUJDREVGRw==\n{line}\n"),
        ("extension line", note.replace("=\n\n", "=\nextra\n\n", 1)),
    ]
    # A line of another key is checked only for its shape: a name may hold any
    # character but a space or '+', and which characters count as spaces must agree.
    for char in ("\u00a0", "\u1680", "\u2000", "\u2028", "\u3000", "\u180e", "\u200b"):
        cases.append(
            (
                f"unknown key name holding U+{ord(char):04X}",
                f"{text}\n\n\u2014 other{char}name QUJDREVGRw==\n{line}\n",
            )
        )
    other = "\u2014 other.example QUJDREVGRw==\n"
    cases += [
        ("64 signature lines", f"{text}\n\n{other * 63}{line}\n"),
        ("65 signature lines", f"{text}\n\n{other * 64}{line}\n"),
        ("a lone surrogate in another key's name", f"{text}\n\n\u2014 a\ud800b QUJD\n{line}\n"),
        ("a tab in the text", note.replace("\n", "\t\n", 1)),
        ("DEL in the text", note.replace("\n", "\x7f\n", 1)),
        (
            "16,385 bytes",
            f"{text}\n\n\u2014 x {'A' * (16_384 - len(note.encode()) + 1 - 5)}\n{line}\n",
        ),
    ]
    base64 = line.rsplit(" ", 1)[1]
    for name, mutated in (
        ("base64 without padding", base64.rstrip("=")),
        ("base64 with a trailing bit set", base64[:-2] + chr(ord(base64[-2]) + 1) + "="),
        ("base64url alphabet", base64.replace("+", "-").replace("/", "_")),
    ):
        cases.append((name, note.replace(base64, mutated)))
    return cases


def resigned_checkpoint_cases() -> list[tuple[str, str]]:
    """Checkpoint texts a log key really signed, so that the parsing is what is judged."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    data = vectors("checkpoint")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data["log_private_seed"]))
    origin = data["log_origin"]
    root = "I/DPgGUQRoXvMotnTU1rcjoj8x/i2hmv/2pX6ZujDQg="
    texts = {
        "canonical": f"{origin}\n1\n{root}\n",
        "size with a leading zero": f"{origin}\n01\n{root}\n",
        "size 2^63 - 1": f"{origin}\n{2**63 - 1}\n{root}\n",
        "size 2^63": f"{origin}\n{2**63}\n{root}\n",
        "size with a plus sign": f"{origin}\n+1\n{root}\n",
        "negative size": f"{origin}\n-1\n{root}\n",
        "size in full-width digits": f"{origin}\n\uff11\n{root}\n",
        "an extension line": f"{origin}\n1\n{root}\nextension\n",
        "root of 31 bytes": f"{origin}\n1\n{root[:-4]}AA==\n",
        "root without padding": f"{origin}\n1\n{root[:-1]}\n",
        "a space after the root": f"{origin}\n1\n{root} \n",
        "another origin": f"other.example/log\n1\n{root}\n",
        "a non-ASCII origin": f"sant\u00e9.example.fr/keys\n1\n{root}\n",
    }
    return [
        (name, checkpoint.sign_note(text.encode(), origin, key)) for name, text in texts.items()
    ]


def test_checkpoint_notes_are_judged_alike(web: Any) -> None:
    data = vectors("checkpoint")
    jobs, labels = [], []
    for name, note in checkpoint_note_cases() + resigned_checkpoint_cases():
        jobs.append(
            {
                "op": "open_checkpoint",
                "note": note,
                "origin": data["log_origin"],
                "key": data["log_public_key"],
            }
        )
        labels.append(name)
    for case in data["refused_checkpoints"]:
        jobs.append(
            {
                "op": "open_checkpoint",
                "note": case["note"],
                "origin": data["log_origin"],
                "key": data["log_public_key"],
            }
        )
        labels.append(f"refused vector {case['description']}")
    vkey = data["log_verifier_key"]
    for name, mutated in (
        ("as served", vkey),
        ("upper-case key ID", vkey.replace("+bf5edae5+", "+BF5EDAE5+")),
        ("no key", vkey.rsplit("+", 1)[0]),
        ("unpadded key", vkey.rstrip("=")),
        ("trailing newline", vkey + "\n"),
    ):
        jobs.append({"op": "verifier_key", "vkey": mutated})
        labels.append(f"verifier key {name}")
    assert compare(web, jobs, labels) == []


def test_recovery_words_are_read_alike(web: Any) -> None:
    words = recovery.to_words(bytes(range(32)))
    jobs, labels = [], []
    for name, separator in (
        ("spaces", " "),
        ("line breaks", "\n"),
        ("tabs", "\t"),
        ("U+00A0", "\u00a0"),
        ("U+3000", "\u3000"),
    ):
        jobs.append({"op": "recovery_words", "text": separator.join(words)})
        labels.append(f"words separated by {name}")
    jobs.append({"op": "recovery_words", "text": " ".join(words).upper()})
    labels.append("upper case")
    swapped = [words[1], words[0], *words[2:]]
    jobs.append({"op": "recovery_words", "text": " ".join(swapped)})
    labels.append("two words swapped")
    assert compare(web, jobs, labels) == []


def test_white_space_is_the_same_characters_in_both(web: Any) -> None:
    # Python's str.isspace and str.split count U+0085 and U+001C..U+001F as white
    # space and U+FEFF not, JavaScript's \s the other way round: neither is used, both
    # name the same characters (PROTOCOL 7.2, 9.2), so both decide alike.
    data = vectors("checkpoint")
    note = data["checkpoints"][-1]["note"]
    text, _, signatures = note.partition("\n\n")
    line = signatures.rstrip("\n")
    words = recovery.to_words(bytes(range(32)))
    jobs, labels = [], []
    for char in ("\u0085", "\u001c", "\u001f", "\ufeff"):
        jobs.append(
            {
                "op": "open_checkpoint",
                "note": f"{text}\n\n\u2014 other{char}name QUJDREVGRw==\n{line}\n",
                "origin": data["log_origin"],
                "key": data["log_public_key"],
            }
        )
        labels.append(f"note with a key name holding U+{ord(char):04X}")
        jobs.append({"op": "recovery_words", "text": char.join(words)})
        labels.append(f"recovery words separated by U+{ord(char):04X}")
    assert compare(web, jobs, labels) == []


# X25519 u-coordinates no honest party sends: the points of small order (whose shared
# secret is all zero, RFC 7748 section 6.1) and their non-canonical encodings (u + p,
# the high bit set).
_P25519 = 2**255 - 19
_SMALL_ORDER_U = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    _P25519 - 1,
]


def hostile_x25519_points() -> dict[str, bytes]:
    points = {}
    for u in _SMALL_ORDER_U:
        points[f"u={u}"] = u.to_bytes(32, "little")
        if u + _P25519 < 2**256:
            points[f"u={u}+p"] = (u + _P25519).to_bytes(32, "little")
        points[f"u={u} high bit"] = (u | (1 << 255)).to_bytes(32, "little")
    return points


def test_hostile_x25519_points_in_wrapped_keys_are_judged_alike(web: Any) -> None:
    jobs, labels = [], []
    for case in vectors("wrap")["vectors"]:
        data = bytes.fromhex(case["wrapped_key"])
        # CLASSICAL: enc is the 32-byte X25519 key; HYBRID: its last 32 bytes are ct_X.
        start = 7 if case["suite"] == "CLASSICAL" else 7 + 1088
        for name, point in hostile_x25519_points().items():
            mutated = data[:start] + point + data[start + 32 :]
            jobs.append(
                {
                    "op": "unwrap",
                    "wrapped": mutated.hex(),
                    "private_keys": case["recipient_private_keys"],
                    "header": case["envelope_header"],
                }
            )
            labels.append(f"v{case['version']} {case['suite']}: ephemeral {name}")
    assert compare(web, jobs, labels) == []


# A challenge within every bound of PROTOCOL 14 but at the cheapest parameters (8 KiB,
# one pass): the work budget of 2,048 x 8,192 KiB-passes then buys 2,097,152 tries, and
# a prefix of 64 bytes of 0xff is never found. Each try costs a fixed overhead whatever
# its memory (about 0.6 ms in hash-wasm), so a hostile server keeps the client busy for
# some 20 minutes per challenge; a client must give up within seconds.
HOSTILE_CHALLENGE = {
    "parameters": {
        "algorithm": "ARGON2ID",
        "nonce": "00" * 16,
        "salt": "00" * 16,
        "cost": 1,
        "memoryCost": 8,
        "parallelism": 1,
        "keyLength": 64,
        "keyPrefix": "ff" * 64,
    },
    "signature": "00",
}
#: A solver bounded by its tries gives up in about a second (2,048 tries of 8 KiB); one
#: bounded only by memory passes takes about twenty minutes: a minute tells them apart
#: on any machine.
GIVE_UP_SECONDS = 60


def outcome_within(command: list[str], seconds: float) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return "still running"
    return done.stdout.strip() or done.stderr.strip()[-200:]


def test_web_solver_gives_up_a_hostile_cheap_challenge_in_seconds(web: Any) -> None:
    node = shutil.which("node")
    assert node
    module = (WEB / "build" / "src" / "protocol" / "proof_of_work.js").as_uri()
    script = (
        f"import {{ solve }} from {json.dumps(module)};"
        f"solve({json.dumps(HOSTILE_CHALLENGE)}).then("
        "() => console.log('solved'), (e) => console.log('refused: ' + e.name));"
    )
    outcome = outcome_within([node, "--input-type=module", "-e", script], GIVE_UP_SECONDS)
    assert outcome == "refused: UnsolvableChallenge"


def test_python_solver_gives_up_a_hostile_cheap_challenge_after_its_tries(monkeypatch) -> None:
    from uhealthsec.client import proof_of_work

    tries = []
    derive = proof_of_work.hash_secret_raw

    def counted(**arguments: Any) -> bytes:
        tries.append(1)
        return derive(**arguments)

    monkeypatch.setattr(proof_of_work, "hash_secret_raw", counted)
    with pytest.raises(proof_of_work.UnsolvableChallenge):
        proof_of_work.solve(HOSTILE_CHALLENGE)
    assert len(tries) == proof_of_work.MAX_TRIES


def test_a_mistyped_recovery_word_is_not_echoed_in_the_refusal() -> None:
    # The words are the recovery key: a refusal is shown and may be logged, and a
    # mistyped word is one letter away from a word of the key (PROTOCOL 8.1: a message
    # never carries a key). The web client's message names no word.
    words = recovery.to_words(bytes(range(32)))
    mistyped = words[0] + "x"
    with pytest.raises(CryptoError) as refusal:
        recovery.from_words(" ".join([mistyped, *words[1:]]))
    assert error_identifier(refusal.value) == "malformed"
    assert mistyped not in str(refusal.value)


def test_journal_and_directory_entries_are_judged_alike(web: Any) -> None:
    jobs, labels = [], []
    data = vectors("journal")
    for case in data["entries"]:
        encoded = bytes.fromhex(case["encoded"])
        positions = [*range(min(len(encoded), 48)), len(encoded) - 1]
        cuts = [0, 4, 5, 13, 29, len(encoded) - 1]
        for name, mutated in mutations(encoded, positions, cuts, [b"\x00", bytes(35)]).items():
            jobs.append({"op": "journal_entry", "entry": mutated.hex()})
            labels.append(f"journal v{case['version']} {case['action']}: {name}")
    for case in data["invalid"]:
        jobs.append({"op": "journal_entry", "entry": case["encoded"]})
        labels.append(f"invalid journal vector {case['description']}")
    bundle = UserKeys.generate().public().encode()
    for email in ("a@example.org", "\u00e9@example.org"):
        entry = directory.DirectoryEntry(
            uuid.UUID(int=7), 1, directory.AccountKindCode(1), email, bundle
        ).encode()
        positions = [*range(0, 34), len(entry) - 1]
        for name, mutated in mutations(entry, positions, [27, 28, 40], [b"\x00"]).items():
            jobs.append({"op": "directory_entry", "entry": mutated.hex()})
            labels.append(f"directory entry {email}: {name}")
        at = entry.index(email.encode())
        for raw in (b"\xc3", b"\xed\xa0\x80", b"\xc0\xa9", b"\xef\xbb\xbf", b"\xf4\x90\x80\x80"):
            bad = entry[:at] + raw + entry[at + len(raw) :]
            jobs.append({"op": "directory_entry", "entry": bad.hex()})
            labels.append(f"directory entry {email}: address bytes {raw.hex()}")
    assert compare(web, jobs, labels) == []
