"""Our formats against the stored vectors in tests/vectors (the contract for other clients)."""

import hashlib
import io
import uuid
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import load_vectors
from tests.vectors import wrap_reference
from uhealthsec.client import recovery
from uhealthsec.crypto import (
    directory,
    envelope,
    hpke,
    journal,
    keystore,
    manifest,
    merkle,
    signing,
    wrap,
)
from uhealthsec.crypto.checkpoint import Checkpoint
from uhealthsec.crypto.errors import (
    CryptoError,
    MalformedInput,
    SignatureVerificationFailed,
    error_identifier,
)
from uhealthsec.crypto.keys import PublicKeys, UserKeys
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode

ENVELOPE = load_vectors("envelope.json")
WRAP = load_vectors("wrap.json")["vectors"]
SIGNATURE = load_vectors("signature.json")["vectors"]
KEYSTORE = load_vectors("keystore.json")["vectors"]
KEYSTORE_INVALID = load_vectors("keystore.json")["invalid"]


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


@pytest.mark.parametrize(
    "vector", [v for v in ENVELOPE["valid"] if v["version"] == 2], ids=lambda v: v["description"]
)
def test_envelope_encryption_matches(vector):
    """R2: the AES-256-GCM envelope is exactly the vectors' (PROTOCOL section 3)."""
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
    """Both versions open; the digest follows the version byte, however the bytes come."""
    sealed, opened = _h(vector["envelope"]), io.BytesIO()
    summary = envelope.decrypt_stream(_h(vector["document_key"]), io.BytesIO(sealed), opened)
    assert opened.getvalue().hex() == vector["plaintext"]
    assert sealed[4] == vector["version"]
    assert summary.content_digest.hex() == vector["content_digest"]
    assert envelope.content_digest(sealed).hex() == vector["content_digest"]
    digest = envelope.EnvelopeDigest()
    for start in range(0, len(sealed), 1000):
        digest.update(sealed[start : start + 1000])
    assert digest.digest().hex() == vector["content_digest"]


@pytest.mark.parametrize(
    "vector", ENVELOPE["digest_of_other_bytes"], ids=lambda v: v["description"]
)
def test_bytes_that_are_no_envelope_are_digested_whole(vector):
    assert envelope.content_digest(_h(vector["data"])).hex() == vector["content_digest"]


@pytest.mark.parametrize("vector", ENVELOPE["invalid"], ids=lambda v: v["description"])
def test_envelope_invalid_vectors_are_refused_precisely(vector):
    with pytest.raises(CryptoError) as refused:
        envelope.decrypt(_h(vector["document_key"]), _h(vector["envelope"]))
    assert error_identifier(refused.value) == vector["error"]


@pytest.mark.parametrize("vector", WRAP, ids=lambda v: f"v{v['version']}-{v['suite']}")
def test_wrap_vectors(vector):
    keys = UserKeys.decode(_h(vector["recipient_private_keys"]))
    public = PublicKeys.decode(_h(vector["recipient_public_bundle"]))
    assert keys.public() == public
    header, wrapped = _h(vector["envelope_header"]), _h(vector["wrapped_key"])
    assert wrap.wrapped_key_version(wrapped) == vector["version"]
    assert wrap.unwrap_document_key(wrapped, keys, header).hex() == vector["document_key"]
    if vector["deterministic"]:
        # The library's HPKE draws its ephemeral key itself; the reference takes ikmE.
        ids = wrap.WrapSuite[vector["suite"]].value
        again = wrap_reference.seal_wrapped_key(
            vector["version"],
            hpke.Suite.from_ids(ids.kem_id, ids.kdf_id, ids.aead_id),
            public.x25519,
            header,
            _h(vector["document_key"]),
            _h(vector["ikm_e"]),
        )
        assert again.hex() == vector["wrapped_key"]


def test_wrap_vectors_cover_both_versions_and_suites():
    assert {(v["version"], v["suite"]) for v in WRAP} == {
        (version, suite.name) for version in (1, 2) for suite in wrap.WrapSuite
    }


@pytest.mark.parametrize(
    "vector", load_vectors("wrap.json")["invalid"], ids=lambda v: v["description"]
)
def test_invalid_wrapped_keys_are_refused_precisely(vector):
    keys = UserKeys.decode(_h(vector["recipient_private_keys"]))
    with pytest.raises(CryptoError) as refused:
        wrap.unwrap_document_key(_h(vector["wrapped_key"]), keys, _h(vector["envelope_header"]))
    assert error_identifier(refused.value) == vector["error"]


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
    assert keystore.normalize_password(vector["password"]).hex() == vector["password_bytes"]
    # Sign-in on the wire: the prelogin answer decodes to the password slot's parameters,
    # and the login carries the auth secret derived from them.
    served = keystore.Argon2Params.decode(b64u_decode(vector["prelogin_argon2_params"]))
    assert served == keystore.Keystore.decode(_h(vector["keystore"])).password_params
    assert b64u_encode(_h(vector["auth_secret"])) == vector["login_auth_secret"]
    assert " ".join(recovery.to_words(_h(vector["recovery_key"]))) == vector["recovery_words"]
    assert recovery.from_words(vector["recovery_words"]).hex() == vector["recovery_key"]
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


@pytest.mark.parametrize("vector", KEYSTORE_INVALID, ids=lambda v: v["description"])
def test_invalid_keystores_are_refused_precisely(vector, monkeypatch):
    if vector["error"] != "wrong_password" and "do not match" not in vector["description"]:
        # Refused from the bytes alone: Argon2id must not run (a hostile server would
        # otherwise choose what each unlock costs).
        def no_derivation(*args, **kwargs):
            raise AssertionError("Argon2id ran before the keystore was refused")

        monkeypatch.setattr(keystore, "Argon2id", no_derivation)
    with pytest.raises(CryptoError) as refused:
        stored = keystore.Keystore.decode(_h(vector["keystore"]))
        keystore.unlock_with_password(stored, vector["password"])
    assert error_identifier(refused.value) == vector["error"]


EXCHANGE = load_vectors("exchange.json")


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


@pytest.mark.parametrize(
    "vector", EXCHANGE["pair_safety_numbers"], ids=lambda v: "+".join(v["emails"])
)
def test_pair_safety_numbers_are_the_same_on_both_sides(vector):
    by_email = {
        v["email"]: directory.DirectoryEntry.decode(_h(v["encoded"]))
        for v in EXCHANGE["directory_entries"]
    }
    one, other = (by_email[email] for email in vector["emails"])
    assert directory.pair_safety_number(one, other) == vector["safety_number"]
    assert directory.pair_safety_number(other, one) == vector["safety_number"]
    assert one.safety_number() in vector["safety_number"]
    assert other.safety_number() in vector["safety_number"]


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
    with pytest.raises(SignatureVerificationFailed):
        manifest.VersionManifest(
            m.document_id,
            m.version + 1,
            m.patient_file_id,
            m.author_id,
            m.signer_key_index,
            m.content_digest,
            m.metadata_digest,
        ).verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))


def _readers(raw):
    return tuple(manifest.Reader(uuid.UUID(r["account_id"]), r["email"]) for r in raw)


def _v2_manifest(vector) -> manifest.VersionManifest:
    return manifest.VersionManifest(
        uuid.UUID(vector["document_id"]),
        vector["version"],
        uuid.UUID(vector["patient_file_id"]),
        uuid.UUID(vector["author_id"]),
        vector["signer_key_index"],
        _h(vector["content_digest"]),
        _h(vector["metadata_digest"]),
        _readers(vector["readers"]),
        _h(vector["previous"]),
    )


@pytest.mark.parametrize("vector", EXCHANGE["manifests_v2"], ids=lambda v: str(v["version"]))
def test_version_manifests_with_readers(vector):
    readers = _readers(vector["readers"])
    m = _v2_manifest(vector)
    assert manifest.encode_readers(reversed(readers)).hex() == vector["reader_list"]
    assert manifest.decode_readers(_h(vector["reader_list"])) == tuple(sorted(readers))
    assert m.encode().hex() == vector["encoded"]
    assert m.digest().hex() == vector["digest"]
    m.verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))
    # One reader more (or less) is another manifest.
    with pytest.raises(SignatureVerificationFailed):
        replace(m, readers=readers[:-1]).verify(
            _h(EXCHANGE["author_public_key"]), _h(vector["signature"])
        )
    # So is a version chained to another previous one.
    if m.version > 1:
        with pytest.raises(SignatureVerificationFailed):
            replace(m, previous=bytes(31) + b"\x01").verify(
                _h(EXCHANGE["author_public_key"]), _h(vector["signature"])
            )


def test_versions_chain_to_the_manifest_before():
    first, second = EXCHANGE["manifests_v2"]
    assert first["previous"] == manifest.NO_PREVIOUS.hex()
    assert second["previous"] == first["digest"]
    with pytest.raises(MalformedInput):
        replace(_v2_manifest(first), version=2).encode()  # only version 1 has no previous


def test_reader_lists_are_canonical():
    raw = _h(EXCHANGE["manifests_v2"][1]["reader_list"])
    first = 2 + 16 + 2 + raw[19]
    swapped = raw[:2] + raw[first:] + raw[2:first]
    with pytest.raises(MalformedInput):
        manifest.decode_readers(swapped)  # unsorted
    with pytest.raises(MalformedInput):
        manifest.decode_readers(raw + b"\x00")
    with pytest.raises(MalformedInput):
        manifest.encode_readers([manifest.Reader(uuid.UUID(int=1), "a@b.c")] * 2)


@pytest.mark.parametrize("vector", EXCHANGE["share_statements"], ids=lambda v: str(v["version"]))
def test_share_statements(vector):
    [recipient] = _readers([vector["recipient"]])
    statement = manifest.ShareStatement(
        uuid.UUID(vector["document_id"]),
        vector["version"],
        uuid.UUID(vector["granter_id"]),
        vector["signer_key_index"],
        recipient,
        vector.get("available_from"),
    )
    assert statement.encode().hex() == vector["encoded"]
    assert statement.digest().hex() == vector["digest"]
    statement.verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))
    with pytest.raises(SignatureVerificationFailed):
        replace(statement, recipient=replace(recipient, email="mallory@demo.test")).verify(
            _h(EXCHANGE["author_public_key"]), _h(vector["signature"])
        )
    # R28: the time a share becomes readable is signed: neither moved nor dropped.
    for moved in (None, 1_796_256_001) if statement.available_from else (1_796_256_000,):
        with pytest.raises(SignatureVerificationFailed):
            replace(statement, available_from=moved).verify(
                _h(EXCHANGE["author_public_key"]), _h(vector["signature"])
            )


@pytest.mark.parametrize(
    "vector", EXCHANGE["revocation_statements"], ids=lambda v: str(v["version"])
)
def test_revocation_statements(vector):
    [reader] = _readers([vector["reader"]])
    statement = manifest.RevocationStatement(
        uuid.UUID(vector["document_id"]),
        vector["version"],
        uuid.UUID(vector["revoker_id"]),
        vector["signer_key_index"],
        reader,
    )
    assert statement.encode().hex() == vector["encoded"]
    assert manifest.RevocationStatement.decode(_h(vector["encoded"])) == statement
    assert statement.digest().hex() == vector["digest"]
    statement.verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))
    # Another version, or the same words as a share statement, is not what was signed.
    for other in (
        replace(statement, version=statement.version + 1),
        manifest.ShareStatement(
            statement.document_id,
            statement.version,
            statement.revoker_id,
            statement.signer_key_index,
            reader,
        ),
    ):
        with pytest.raises(SignatureVerificationFailed):
            other.verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))


@pytest.mark.parametrize(
    "vector", EXCHANGE["invalid_revocation_statements"], ids=lambda v: v["description"]
)
def test_invalid_revocation_statements_are_refused_precisely(vector):
    with pytest.raises(CryptoError) as refused:
        manifest.RevocationStatement.decode(_h(vector["encoded"]))
    assert error_identifier(refused.value) == vector["error"]


@pytest.mark.parametrize("vector", EXCHANGE["thread_memberships"], ids=lambda v: str(v["seq"]))
def test_thread_memberships(vector):
    link = manifest.ThreadMembership(
        uuid.UUID(vector["thread_id"]),
        vector["seq"],
        uuid.UUID(vector["actor_id"]),
        vector["signer_key_index"],
        _h(vector["previous"]),
        _readers(vector["members"]),
    )
    assert link.encode().hex() == vector["encoded"]
    assert link.digest().hex() == vector["digest"]
    link.verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))
    if link.seq > 1:
        previous = EXCHANGE["thread_memberships"][link.seq - 2]
        assert vector["previous"] == previous["digest"]
        assert vector["thread_id"] == previous["thread_id"]
    else:
        # The first link derives the thread's id; with another creator it does not.
        nonce = _h(vector["nonce"])
        link.check_starts_thread(nonce)
        assert manifest.thread_id_of(link.actor_id, nonce, link.members) == link.thread_id
        assert manifest.is_derived_thread_id(link.thread_id)
        assert not manifest.is_derived_thread_id(uuid.UUID(int=link.thread_id.int ^ 1 << 79))
        other = next(m.account_id for m in link.members if m.account_id != link.actor_id)
        with pytest.raises(MalformedInput, match="does not derive the thread's id"):
            replace(link, actor_id=other).check_starts_thread(nonce)


@pytest.mark.parametrize("vector", EXCHANGE["message_manifests"], ids=lambda v: v["message_id"])
def test_message_manifests(vector):
    message = manifest.MessageManifest(
        uuid.UUID(vector["message_id"]),
        uuid.UUID(vector["thread_id"]),
        uuid.UUID(vector["sender_id"]),
        vector["signer_key_index"],
        _h(vector["body_digest"]),
    )
    assert message.encode().hex() == vector["encoded"]
    assert message.digest().hex() == vector["digest"]
    message.verify(_h(EXCHANGE["author_public_key"]), _h(vector["signature"]))
    # A message of the vectors' thread, whose first link is the one above.
    assert vector["thread_id"] == EXCHANGE["thread_memberships"][0]["thread_id"]


JOURNAL = load_vectors("journal.json")


@pytest.mark.parametrize("vector", JOURNAL["requests"], ids=lambda v: v["method"])
def test_request_digests_and_signatures(vector):
    body = hashlib.sha256(_h(vector["body"])).digest()
    digest = journal.request_digest(vector["method"], vector["target"], body)
    assert digest.hex() == vector["request_digest"]
    journal.SignedRequest(digest).verify(_h(JOURNAL["user_public_key"]), _h(vector["signature"]))
    with pytest.raises(SignatureVerificationFailed):
        journal.SignedRequest(bytes(32)).verify(
            _h(JOURNAL["user_public_key"]), _h(vector["signature"])
        )


@pytest.mark.parametrize("vector", JOURNAL["signed_requests"], ids=lambda v: v["method"])
def test_signed_request_digests_and_signatures(vector):
    """R3 (13.0): the signed digest covers the time of signing and the single-use value;
    changing either gives another digest, which the signature does not verify for."""
    body = hashlib.sha256(_h(vector["body"])).digest()
    fields = (vector["method"], vector["target"], body)
    digest = journal.signed_request_digest(*fields, vector["signed_at_ms"], vector["nonce"])
    assert digest.hex() == vector["signed_request_digest"]
    public = _h(JOURNAL["user_public_key"])
    journal.SignedRequest(digest).verify(public, _h(vector["signature"]))
    assert digest != journal.request_digest(*fields)
    for later in (
        journal.signed_request_digest(*fields, vector["signed_at_ms"] + 1, vector["nonce"]),
        journal.signed_request_digest(*fields, vector["signed_at_ms"], vector["nonce"][1:] + "x"),
    ):
        with pytest.raises(SignatureVerificationFailed):
            journal.SignedRequest(later).verify(public, _h(vector["signature"]))


@pytest.mark.parametrize(
    "vector", JOURNAL["invalid_signed_requests"], ids=lambda v: v["description"]
)
def test_signed_request_digest_refuses(vector):
    with pytest.raises(MalformedInput):
        journal.signed_request_digest(
            "POST", "/consents", bytes(32), vector["signed_at_ms"], vector["nonce"]
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


def _journal_field_offsets(encoded: bytes) -> dict[str, int]:
    """Where the action, outcome, first object kind and signature flag of an entry are."""
    action = 4 + 1 + 8 + 16
    outcome = action + 1 + encoded[action]
    objects = outcome + 3
    client = objects + 1 + 17 * encoded[objects]
    flag = client + 1 + encoded[client] + 32
    return {"action": action + 1, "outcome": outcome, "kind": objects + 1, "flag": flag}


@pytest.mark.parametrize(
    "field,value", [("action", 0xC3), ("outcome", 9), ("kind", 10), ("flag", 2)]
)
def test_journal_entry_fields_out_of_their_range_are_malformed(field, value):
    """A non-ASCII action, an unknown outcome or object kind, a signature flag other
    than 0 or 1: each refused as malformed (docs/PROTOCOL.md 13), as the browser's
    reader does, rather than with a bare ValueError or by reading on."""
    encoded = bytearray(_h(JOURNAL["entries"][3]["encoded"]))
    encoded[_journal_field_offsets(bytes(encoded))[field]] = value
    with pytest.raises(MalformedInput) as refused:
        journal.JournalEntry.decode(bytes(encoded))
    assert error_identifier(refused.value) == "malformed"


@pytest.mark.parametrize("vector", JOURNAL["invalid"], ids=lambda v: v["description"])
def test_invalid_journal_entries_are_refused(vector):
    with pytest.raises(_expect(vector["error"])):
        journal.JournalEntry.decode(_h(vector["encoded"]))


ED25519_KEYS = load_vectors("ed25519_keys.json")


def _expect(identifier: str):
    """The exception class the errors module names ``identifier``."""
    classes = [CryptoError, *_all_subclasses(CryptoError)]
    [match] = [c for c in classes if c.identifier == identifier]
    return match


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


@pytest.mark.parametrize("vector", ED25519_KEYS["accepted_keys"], ids=lambda v: v["description"])
def test_accepted_ed25519_keys(vector):
    signing.public_key(_h(vector["public_key"]))


@pytest.mark.parametrize("vector", ED25519_KEYS["refused_keys"], ids=lambda v: v["description"])
def test_refused_ed25519_keys_everywhere_a_key_is_decoded(vector):
    key, message = _h(vector["public_key"]), _h(ED25519_KEYS["message"])
    error = _expect(vector["error"])
    with pytest.raises(error):
        signing.public_key(key)
    # In a bundle (and so in a directory entry and a keystore) ...
    bundle = bytearray(_h(WRAP[0]["recipient_public_bundle"]))
    bundle[5:37] = key
    with pytest.raises(error):
        PublicKeys.decode(bytes(bundle))
    # ... and as the key of any signature (a document, a checkpoint, a cosignature).
    if vector["signature"] is not None:
        forged = _h(vector["signature"])
        ed25519.Ed25519PublicKey.from_public_bytes(key).verify(forged, message)  # OpenSSL alone
        digest = message[-32:]
        with pytest.raises(error):
            signing.verify(key, signing.Purpose.DOCUMENT, digest, forged)
        with pytest.raises(error):
            Checkpoint("example.org/journal", 1, bytes(32)).verify_cosignature(key, 0, forged)


@pytest.mark.parametrize("vector", ED25519_KEYS["signatures"], ids=lambda v: v["description"])
def test_ed25519_verification_rule(vector):
    key, signature = _h(vector["public_key"]), _h(vector["signature"])
    digest = _h(ED25519_KEYS["message"])[-32:]
    if vector["error"] is None:
        signing.verify(key, signing.Purpose.DOCUMENT, digest, signature)
    else:
        with pytest.raises(_expect(vector["error"])):
            signing.verify(key, signing.Purpose.DOCUMENT, digest, signature)
