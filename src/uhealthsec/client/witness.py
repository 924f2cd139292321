"""A witness of the journal: an outside party that verifies it as a client does
(``JournalClient.verify``), checks that every subject's chain goes on without being
rewound, keeps what it verified, and countersigns the head (``uhs journal witness``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.client.errors import JournalTampered
from uhealthsec.client.journal import (
    ENTRIES_PAGE,
    Call,
    JournalClient,
    Verification,
    decoded_entry,
)
from uhealthsec.client.logs import LogPin
from uhealthsec.client.state_files import write_atomically
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto import merkle
from uhealthsec.crypto.journal import ENTRY_VERSION_UNCHAINED
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.protocol.journal import CosignatureIn, EntriesOut


class Witness:
    """An outside party (another institution, an auditor, a patients' association) that
    verifies the journal, keeps what it verified, and countersigns the head. Heads
    countersigned by independent witnesses cannot be forked without one of them seeing
    two histories."""

    def __init__(self, call: Call, key: ed25519.Ed25519PrivateKey, state_dir: Path) -> None:
        self._call = call
        self.key = key
        self.state = state_dir / "witness-journal.json"
        self.leaves = state_dir / "witness-journal.leaves"
        #: Every subject's chain as far as this witness checked it.
        self.chains = state_dir / "witness-chains.json"

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    def cosign(self, progress: Callable[[int, int], None] | None = None) -> Verification:
        pin = LogPin(**json.loads(self.state.read_text())) if self.state.exists() else LogPin()

        def remember(new: LogPin) -> None:
            self.state.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.state, json.dumps(new.to_dict()).encode())

        result = JournalClient(self._call, pin, remember, self.leaves).verify(progress)
        self._check_chains(result.size)
        timestamp = int(time.time())
        cosignature = CosignatureIn(
            size=result.size,
            witness_key=self.public_key,
            timestamp=timestamp,
            signature=result.head.cosign(self.key, timestamp),
        )
        self._call("POST", "/journal/cosignatures", json=body(cosignature))
        return result

    def _check_chains(self, size: int) -> None:
        """Every entry since the last check, each the one its verified leaf hash
        names, must continue its subjects' chains: number ``n`` right after number
        ``n - 1``, pointing at it. A chain rewound to hide an entry shows as a number
        used twice. After the first entry of version 2 (the cut-over, kept), an entry
        of version 1 is refused: it would be outside every chain (docs/PROTOCOL.md,
        13.2)."""
        state = json.loads(self.chains.read_text()) if self.chains.exists() else {}
        if "chained_from" not in state:  # kept before the cut-over was: check all again
            state = {}
        checked: int = state.get("checked", 0)
        chains: dict[str, list[int]] = state.get("chains", {})
        chained_from: int | None = state.get("chained_from")
        data = self.leaves.read_bytes()
        for start in range(checked, size, ENTRIES_PAGE):
            end = min(start + ENTRIES_PAGE, size)
            page = self._call("GET", "/journal/entries", params={"start": start, "end": end})
            served = parse(EntriesOut, page, JournalTampered, "the journal's entries").entries
            if len(served) != end - start:
                raise JournalTampered(f"the journal serves no entries {start} to {end - 1}")
            for index, raw in enumerate(served, start):
                if merkle.leaf_hash(raw) != data[32 * index : 32 * index + 32]:
                    raise JournalTampered(f"journal entry {index} is not the one its leaf names")
                entry = decoded_entry(index, raw)
                if entry.version == ENTRY_VERSION_UNCHAINED:
                    if chained_from is not None:
                        raise JournalTampered(
                            f"journal entry {index} is of version 1, after entry "
                            f"{chained_from} of version 2: it is outside every chain"
                        )
                elif chained_from is None:
                    chained_from = index
                for link in entry.chain:
                    length, last = chains.get(str(link.subject), (0, 0))
                    if link.sequence != length or (length and link.previous != last):
                        raise JournalTampered(
                            f"journal entry {index} claims number {link.sequence} of a chain "
                            f"that had {length} entries, the last at index {last}: the chain "
                            "was rewound or forked"
                        )
                    chains[str(link.subject)] = [length + 1, index]
        write_atomically(
            self.chains,
            json.dumps({"checked": size, "chained_from": chained_from, "chains": chains}).encode(),
        )


def load_or_create_witness_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The witness's Ed25519 key, kept as a base64url seed in a file only it can read."""
    if path.exists():
        return ed25519.Ed25519PrivateKey.from_private_bytes(b64u_decode(path.read_text().strip()))
    key = ed25519.Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(b64u_encode(key.private_bytes_raw()) + "\n")
    return key
