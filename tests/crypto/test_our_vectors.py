"""Our formats against the stored vectors in tests/vectors (the contract for other clients)."""

import hashlib
import io
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import load_vectors
from uhealthsec.crypto import (
    directory,
    envelope,
    journal,
    keystore,
    manifest,
    merkle,
    signing,
    wrap,
)
from uhealthsec.crypto.errors import (
    ChunkAuthenticationFailed,
    HeaderAuthenticationFailed,
    InvalidSignature,
    MalformedInput,
    TruncatedEnvelope,
    UnsupportedVersion,
)
from uhealthsec.crypto.keys import PublicKeys, UserKeys

ENVELOPE = load_vectors("envelope.json")
WRAP = load_vectors("wrap.json")["vectors"]
SIGNATURE = load_vectors("signature.json")["vectors"]
KEYSTORE = load_vectors("keystore.json")["vectors"]


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


@pytest.mark.parametrize("vector", ENVELOPE["valid"], ids=lambda v: v["description"])
def test_envelope_encryption_matches(vector):
    sink = io.BytesIO()
    summary = envelope.encrypt_stream(
        _h(vector["document_key"]),
        io.BytesIO(_h(vector["plaintext"])),
        sink,
        chunk_log2=vector["chunk_log2"],
        _salt=_h(vector["salt"]),
        _nonce_prefix=_h(vector["nonce_prefix"]),
    )
    assert sink.getvalue().hex() == vector["envelope"]
    assert summary.content_digest.hex() == vector["content_digest"]


@pytest.mark.parametrize("vector", ENVELOPE["valid"], ids=lambda v: v["description"])
def test_envelope_decryption_matches(vector):
    assert (
        envelope.decrypt(_h(vector["document_key"]), _h(vector["envelope"])).hex()
        == (vector["plaintext"])
    )


_ERRORS = {
    "malformed": MalformedInput,
    "unsupported": UnsupportedVersion,
    "header_authentication": HeaderAuthenticationFailed,
    "truncated": TruncatedEnvelope,
}


@pytest.mark.parametrize("vector", ENVELOPE["invalid"], ids=lambda v: v["description"])
def test_envelope_invalid_vectors_are_refused_precisely(vector):
    expected = vector["error"]
    if expected.startswith("chunk_authentication:"):
        with pytest.raises(ChunkAuthenticationFailed) as excinfo:
            envelope.decrypt(_h(vector["document_key"]), _h(vector["envelope"]))
        assert excinfo.value.index == int(expected.split(":")[1])
    else:
        with pytest.raises(_ERRORS[expected]):
            envelope.decrypt(_h(vector["document_key"]), _h(vector["envelope"]))


@pytest.mark.parametrize("vector", WRAP, ids=lambda v: v["suite"])
def test_wrap_vectors(vector):
    keys = UserKeys.decode(_h(vector["recipient_private_keys"]))
    assert keys.public().encode().hex() == vector["recipient_public_bundle"]
    header = _h(vector["envelope_header"])
    assert (
        wrap.unwrap_document_key(_h(vector["wrapped_key"]), keys, header).hex()
        == (vector["document_key"])
    )
    if vector["deterministic"]:
        wrapped = wrap.wrap_document_key(
            _h(vector["document_key"]),
            PublicKeys.decode(_h(vector["recipient_public_bundle"])),
            header,
            wrap.WrapSuite[vector["suite"]],
            _ikm_e=_h(vector["ikm_e"]),
        )
        assert wrapped.hex() == vector["wrapped_key"]


@pytest.mark.parametrize("vector", SIGNATURE, ids=lambda v: v["purpose"])
def test_signature_vectors(vector):
    purpose = signing.Purpose(vector["purpose"].encode())
    key = ed25519.Ed25519PrivateKey.from_private_bytes(_h(vector["private_seed"]))
    assert signing.signed_message(purpose, _h(vector["digest"])).hex() == vector["signed_message"]
    assert signing.sign(key, purpose, _h(vector["digest"])).hex() == vector["signature"]
    signing.verify(_h(vector["public_key"]), purpose, _h(vector["digest"]), _h(vector["signature"]))


class _Replay:
    """Hands out the random bytes recorded in a keystore, in order of use."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __call__(self, size: int) -> bytes:
        chunk = self._chunks.pop(0)
        assert len(chunk) == size
        return chunk


@pytest.mark.parametrize("vector", KEYSTORE, ids=lambda v: v["password"][:10])
def test_keystore_vectors(vector):
    stored = keystore.Keystore.decode(_h(vector["keystore"]))
    assert stored.public_keys.encode().hex() == vector["public_bundle"]
    assert stored.public_keys.fingerprint().hex() == vector["public_fingerprint"]
    keys = keystore.unlock_with_password(stored, vector["password"])
    assert keys.encode().hex() == vector["private_keys"]
    recovered = keystore.unlock_with_recovery_key(stored, _h(vector["recovery_key"]))
    assert recovered.encode().hex() == vector["private_keys"]
    secrets_ = keystore.derive_password_secrets(vector["password"], stored.password_params)
    assert secrets_.auth_secret.hex() == vector["auth_secret"]
    # Re-create byte for byte from the same randomness.
    replay = _Replay([_h(vector["recovery_key"]), stored.password_nonce, stored.recovery_nonce])
    again = keystore.create_keystore(
        vector["password"], keys=keys, params=stored.password_params, random=replay
    )
    assert again.keystore.encode().hex() == vector["keystore"]
    changed = keystore.Keystore.decode(_h(vector["keystore_after_password_change"]))
    assert (
        keystore.unlock_with_password(changed, vector["new_password"]).encode().hex()
        == (vector["private_keys"])
    )
    assert (
        keystore.derive_password_secrets(
            vector["new_password"], changed.password_params
        ).auth_secret.hex()
        == vector["new_auth_secret"]
    )


EXCHANGE = load_vectors("exchange.json")


@pytest.mark.parametrize("vector", EXCHANGE["tree_heads"], ids=lambda v: str(v["size"]))
def test_tree_heads(vector):
    head = merkle.TreeHead(
        vector["log"], vector["size"], _h(vector["root"]), vector["timestamp_ms"]
    )
    assert head.encode().hex() == vector["encoded"]
    assert merkle.TreeHead.decode(_h(vector["encoded"])) == head
    head.verify(_h(EXCHANGE["log_public_key"]), _h(vector["signature"]))


@pytest.mark.parametrize("vector", EXCHANGE["directory_entries"], ids=lambda v: v["email"])
def test_directory_entries(vector):
    entry = directory.DirectoryEntry(
        uuid.UUID(vector["account_id"]),
        vector["key_version"],
        directory.AccountKindCode(vector["kind"]),
        vector["email"],
        _h(vector["bundle"]),
    )
    assert entry.encode().hex() == vector["encoded"]
    assert directory.DirectoryEntry.decode(_h(vector["encoded"])) == entry
    assert merkle.leaf_hash(entry.encode()).hex() == vector["leaf_hash"]
    assert entry.safety_number() == vector["safety_number"]


@pytest.mark.parametrize("vector", EXCHANGE["manifests"], ids=lambda v: str(v["version"]))
def test_version_manifests(vector):
    m = manifest.VersionManifest(
        uuid.UUID(vector["document_id"]),
        vector["version"],
        uuid.UUID(vector["patient_file_id"]),
        uuid.UUID(vector["author_id"]),
        vector["signer_key_index"],
        _h(vector["content_digest"]),
        _h(vector["metadata_digest"]),
    )
    assert m.encode().hex() == vector["encoded"]
    assert m.digest().hex() == vector["digest"]
    m.verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))
    with pytest.raises(InvalidSignature):
        manifest.VersionManifest(
            m.document_id,
            m.version + 1,
            m.patient_file_id,
            m.author_id,
            m.signer_key_index,
            m.content_digest,
            m.metadata_digest,
        ).verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))


JOURNAL = load_vectors("journal.json")


@pytest.mark.parametrize("vector", JOURNAL["requests"], ids=lambda v: v["method"])
def test_request_digests_and_signatures(vector):
    body = hashlib.sha256(_h(vector["body"])).digest()
    digest = journal.request_digest(vector["method"], vector["target"], body)
    assert digest.hex() == vector["request_digest"]
    journal.SignedRequest(digest).verify(_h(JOURNAL["user_public_key"]), _h(vector["signature"]))
    with pytest.raises(InvalidSignature):
        journal.SignedRequest(bytes(32)).verify(
            _h(JOURNAL["user_public_key"]), _h(vector["signature"])
        )


@pytest.mark.parametrize(
    "vector", JOURNAL["entries"], ids=lambda v: f"v{v['version']}-{v['outcome']}"
)
def test_journal_entries(vector):
    signature = vector["signature"]
    entry = journal.JournalEntry(
        timestamp_ms=vector["timestamp_ms"],
        actor=uuid.UUID(vector["actor"]),
        action=vector["action"],
        outcome=journal.Outcome(vector["outcome"]),
        status=vector["status"],
        objects=tuple((journal.ObjectKind(k), uuid.UUID(i)) for k, i in vector["objects"]),
        client=vector["client"],
        request_digest=_h(vector["request_digest"]),
        signature=None
        if signature is None
        else journal.RequestSignature(signature["signer_key_index"], _h(signature["signature"])),
        chain=tuple(
            journal.ChainLink(
                journal.ObjectKind(c["kind"]), uuid.UUID(c["subject"]), c["sequence"], c["previous"]
            )
            for c in vector["chain"]
        ),
        version=vector["version"],
    )
    assert entry.encode().hex() == vector["encoded"]
    assert journal.JournalEntry.decode(_h(vector["encoded"])) == entry
    assert merkle.leaf_hash(entry.encode()).hex() == vector["leaf_hash"]
    with pytest.raises(MalformedInput):
        journal.JournalEntry.decode(_h(vector["encoded"]) + b"\x00")
