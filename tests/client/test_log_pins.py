"""What a device pins of a log and how it accepts a checkpoint (client/logs.py,
docs/PROTOCOL.md 9.2 and 10): origin, key, consistency, and pins kept before origins."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.client.errors import LogRefused
from uhealthsec.client.logs import LogPin, accept_head
from uhealthsec.crypto import merkle
from uhealthsec.crypto.checkpoint import Checkpoint, verifier_key
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.protocol.logs import LogHeadOut

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes_raw()
LEAVES = [merkle.leaf_hash(bytes([i])) for i in range(16)]
#: Every perfect subtree of the 16 leaves, as a server stores them: (level, index).
NODES = {(0, i): h for i, h in enumerate(LEAVES)}
for _level in range(1, 5):
    for _index in range(16 >> _level):
        NODES[(_level, _index)] = merkle.node_hash(
            NODES[(_level - 1, 2 * _index)], NODES[(_level - 1, 2 * _index + 1)]
        )


def answer(origin: str, size: int, since: int = 0, key=KEY) -> LogHeadOut:
    """A server's ``GET /<log>/head`` answer."""
    point = Checkpoint(origin, size, merkle.root_of(LEAVES[:size]))
    proof = []
    if since:
        ranges = merkle.consistency_ranges(since, size)
        proof = merkle.proof_from(ranges, NODES)
    return LogHeadOut(
        log_key=verifier_key(origin, key.public_key().public_bytes_raw()),
        checkpoint=point.sign(key),
        consistency=proof,
    )


def test_first_use_pins_origin_key_size_and_root_then_moves_forward():
    head, pin = accept_head(answer("sante.example/keys", 3), LogPin(), "keys", "the directory")
    assert (pin.origin, pin.size, head.size) == ("sante.example/keys", 3, 3)
    head, later = accept_head(answer("sante.example/keys", 7, since=3), pin, "keys", "it")
    assert (later.size, later.origin, later.log_key) == (7, pin.origin, pin.log_key)


def test_a_pin_kept_before_origins_takes_the_origin_served_with_its_key():
    root = merkle.root_of(LEAVES[:3])
    old = LogPin(b64u_encode(PUBLIC), 3, b64u_encode(root))  # no origin: an earlier version's
    _, pin = accept_head(answer("sante.example/keys", 5, since=3), old, "keys", "it")
    assert pin.origin == "sante.example/keys" and pin.size == 5
    # ... but only with the key it pinned.
    other = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(LogRefused, match="another key"):
        accept_head(answer("sante.example/keys", 5, since=3, key=other), old, "keys", "it")


def test_another_origin_or_the_other_log_is_refused():
    _, pin = accept_head(answer("sante.example/keys", 3), LogPin(), "keys", "it")
    with pytest.raises(LogRefused, match="now calls itself"):
        accept_head(answer("ailleurs.example/keys", 5, since=3), pin, "keys", "it")
    # One key signs both logs: the journal's checkpoint is not the directory's.
    with pytest.raises(LogRefused, match="another log"):
        accept_head(answer("sante.example/journal", 3), LogPin(), "keys", "it")


def test_a_checkpoint_not_matching_its_verifier_key_is_refused():
    body = answer("sante.example/keys", 3)
    body.checkpoint = Checkpoint("sante.example/keys", 3, merkle.root_of(LEAVES[:3])).sign(
        ed25519.Ed25519PrivateKey.generate()
    )
    with pytest.raises(LogRefused, match="not validly signed"):
        accept_head(body, LogPin(), "keys", "it")
    body = answer("sante.example/keys", 3)
    body.checkpoint = answer("sante.example/keys", 4).checkpoint.replace("\n4\n", "\n3\n")
    with pytest.raises(LogRefused, match="not validly signed"):
        accept_head(body, LogPin(), "keys", "it")


def test_a_rolled_back_or_forked_log_is_refused():
    _, pin = accept_head(answer("sante.example/keys", 7), LogPin(), "keys", "it")
    with pytest.raises(LogRefused, match="does not extend"):
        accept_head(answer("sante.example/keys", 5), pin, "keys", "it")
    forked = answer("sante.example/keys", 9, since=7)
    forked.checkpoint = Checkpoint("sante.example/keys", 9, bytes(32)).sign(KEY)
    with pytest.raises(LogRefused, match="does not extend"):
        accept_head(forked, pin, "keys", "it")
