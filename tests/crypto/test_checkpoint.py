"""Checkpoints and cosignatures (docs/PROTOCOL.md 9.2): our vectors, the reference
signed note of the Go implementation, and a verifier we did not write."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sigstore._internal.rekor.checkpoint import SignedCheckpoint
from sigstore._internal.trust import Keyring
from sigstore._utils import KeyID
from sigstore.errors import VerificationError
from sigstore_models.common.v1 import PublicKey, PublicKeyDetails

from tests.conftest import load_vectors
from uhealthsec.crypto import checkpoint
from uhealthsec.crypto.checkpoint import Checkpoint, open_checkpoint
from uhealthsec.crypto.errors import (
    CryptoError,
    MalformedInput,
    SignatureVerificationFailed,
    error_identifier,
)

VECTORS = load_vectors("checkpoint.json")
ORIGIN = VECTORS["log_origin"]
LOG_KEY = bytes.fromhex(VECTORS["log_public_key"])


@pytest.mark.parametrize("vector", VECTORS["checkpoints"], ids=lambda v: str(v["size"]))
def test_checkpoints(vector):
    opened = open_checkpoint(vector["note"], ORIGIN, LOG_KEY)
    assert opened == Checkpoint(ORIGIN, vector["size"], bytes.fromhex(vector["root"]))
    # Ed25519 is deterministic: the log's key signs the same note byte for byte.
    seed = bytes.fromhex(VECTORS["log_private_seed"])
    assert opened.sign(ed25519.Ed25519PrivateKey.from_private_bytes(seed)) == vector["note"]


def test_verifier_key_names_the_log_and_its_key():
    assert checkpoint.verifier_key(ORIGIN, LOG_KEY) == VECTORS["log_verifier_key"]
    assert checkpoint.parse_verifier_key(VECTORS["log_verifier_key"]) == (ORIGIN, LOG_KEY)
    vkey = VECTORS["log_verifier_key"]
    name, key_id, material = vkey.split("+", 2)
    for mangled in (
        f"{name}+{key_id[:-1]}{'1' if key_id[-1] == '0' else '0'}+{material}",
        f"{name}x+{key_id}+{material}",
        f"{name}+{key_id}+{material[:-2]}",
        f"{name}+{key_id}",
        vkey + "+extra",
    ):
        with pytest.raises(MalformedInput):
            checkpoint.parse_verifier_key(mangled)


@pytest.mark.parametrize("vector", VECTORS["refused_checkpoints"], ids=lambda v: v["description"])
def test_refused_checkpoints(vector):
    with pytest.raises(CryptoError) as refused:
        open_checkpoint(vector["note"], ORIGIN, LOG_KEY)
    assert error_identifier(refused.value) == vector["error"]


def test_cosignature():
    cosigned = VECTORS["cosignature"]
    name, witness = cosigned["witness_name"], bytes.fromhex(cosigned["witness_public_key"])
    assert checkpoint.parse_verifier_key(
        cosigned["witness_verifier_key"], checkpoint.COSIGNATURE_ED25519
    ) == (name, witness)
    note = cosigned["note"]
    # The log's signature still verifies with the witness's line appended ...
    point = open_checkpoint(note, ORIGIN, LOG_KEY)
    assert point.cosignature_message(cosigned["timestamp"]).decode() == cosigned["signed_message"]
    # ... and the witness's line is its signature over the checkpoint at that time.
    [(timestamp, signature)] = checkpoint.note_cosignatures(note, name, witness)
    assert timestamp == cosigned["timestamp"]
    point.verify_cosignature(witness, timestamp, signature)
    with pytest.raises(SignatureVerificationFailed):
        point.verify_cosignature(witness, timestamp + 1, signature)
    with pytest.raises(SignatureVerificationFailed):
        Checkpoint(ORIGIN, point.size + 1, point.root).verify_cosignature(
            witness, timestamp, signature
        )
    # A line of the witness's name under another key ID is someone else's: ignored.
    assert checkpoint.note_cosignatures(note, name, bytes(reversed(witness))) == []


def test_reference_signed_note():
    """golang.org/x/mod/sumdb/note's own example, signed and opened byte for byte."""
    reference = VECTORS["reference_note"]
    seed = base64.b64decode(reference["signer_key"].split("+", 4)[-1])
    assert seed[0] == checkpoint.NOTE_ED25519
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed[1:])
    name, public = checkpoint.parse_verifier_key(reference["verifier_key"])
    assert public == key.public_key().public_bytes_raw()
    text = reference["text"].encode()
    assert checkpoint.sign_note(text, name, key) == reference["note"]
    assert checkpoint.open_note(reference["note"], name, public) == text


def test_signature_lines_of_unknown_keys_are_ignored_but_one_of_ours_is_needed():
    note = VECTORS["checkpoints"][1]["note"]
    foreign = "\u2014 someone.example/log " + base64.b64encode(bytes(68)).decode() + "\n"
    assert open_checkpoint(note + foreign, ORIGIN, LOG_KEY).size == 1
    text = note.split("\n\n")[0] + "\n\n"
    with pytest.raises(SignatureVerificationFailed):
        open_checkpoint(text + foreign, ORIGIN, LOG_KEY)


def test_a_note_too_large_or_with_too_many_lines_is_refused_unread():
    note = VECTORS["checkpoints"][1]["note"]
    line = note.split("\n\n")[1]
    with pytest.raises(MalformedInput):
        open_checkpoint(note + line * checkpoint.MAX_SIGNATURES, ORIGIN, LOG_KEY)
    with pytest.raises(MalformedInput):
        open_checkpoint("x" * (checkpoint.MAX_NOTE_BYTES + 1), ORIGIN, LOG_KEY)


# -- a verifier we did not write ---------------------------------------------------------


def _sigstore_keyring(public: bytes) -> Keyring:
    der = ed25519.Ed25519PublicKey.from_public_bytes(public).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # sigstore's models take the DER bytes base64-encoded, as in its JSON.
    key = PublicKey(raw_bytes=base64.b64encode(der), key_details=PublicKeyDetails.PKIX_ED25519)
    keyring = Keyring([key])
    assert len(keyring._keyring) == 1  # it loaded our key (a key it cannot load is skipped)
    return keyring


@pytest.mark.parametrize("vector", VECTORS["checkpoints"], ids=lambda v: str(v["size"]))
def test_sigstore_python_accepts_our_checkpoints(vector):
    parsed = SignedCheckpoint.from_text(vector["note"])
    assert parsed.checkpoint.origin == ORIGIN
    assert parsed.checkpoint.log_size == vector["size"]
    assert parsed.checkpoint.log_hash == vector["root"]
    assert parsed.checkpoint.other_content == []
    # sigstore looks a note's signature up by the C2SP key ID we put in the line.
    key_id = checkpoint.key_id(ORIGIN, checkpoint.NOTE_ED25519, LOG_KEY)
    parsed.signed_note.verify(_sigstore_keyring(LOG_KEY), KeyID(key_id))


def test_sigstore_python_refuses_a_changed_checkpoint():
    note = VECTORS["checkpoints"][1]["note"].replace("\n1\n", "\n2\n", 1)
    key_id = checkpoint.key_id(ORIGIN, checkpoint.NOTE_ED25519, LOG_KEY)
    with pytest.raises(VerificationError):
        SignedCheckpoint.from_text(note).signed_note.verify(
            _sigstore_keyring(LOG_KEY), KeyID(key_id)
        )
