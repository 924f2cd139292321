"""Key rotation end to end (docs/PROTOCOL.md, 10.6): an account replaces its keys, reads
what was wrapped to the former ones, is reached at its new ones; and a server that
publishes keys for an account without its owner is refused by every reader."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.server.records.conftest import Practice, device
from tests.server_fixtures import PASSWORD
from uhealthsec.client.api import ApiError
from uhealthsec.client.directory import audit
from uhealthsec.client.errors import DirectoryRefused, ExchangeRefused
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.client.exchange.messaging import MessagingClient
from uhealthsec.crypto import envelope, key_rotation
from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.errors import DecryptionFailed
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.crypto.keystore import (
    Argon2Params,
    FormerKeys,
    Keystore,
    change_password,
    create_keystore,
    open_former_keys,
    unlock_with_password,
    unlock_with_recovery_key,
)
from uhealthsec.crypto.keystore_change import KeystoreChange
from uhealthsec.crypto.wrap import unwrap_document_key, wrap_document_key
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.protocol.records import MAX_REWRAPS
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.idempotency.models import KeptAnswer
from uhealthsec.server.keys.models import DirectoryRecord
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.messaging.models import Message, MessageKey
from uhealthsec.server.records.models import DocumentVersion, Share


def b64u_decode_keystore(answer: dict) -> bytes:
    return b64u_decode(answer["keystore"])


def _fresh_view(person) -> None:
    """As a device that starts again: the newest head, nothing proven before."""
    person.exchange.directory.refresh()
    person.exchange.directory.forget()


def test_a_rotated_account_reads_the_old_and_is_reached_at_the_new_keys(
    practice: Practice, report, tmp_path, client, users
):
    alice, bob = practice.alice, practice.bob
    to_bob = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    before = bob.exchange.my_entry()

    rotation = bob.exchange.rotate_keys(PASSWORD)

    assert rotation.key_version == 2
    after = bob.exchange.my_entry()
    assert (after.index, after.entry.key_version) == (rotation.index, 2)
    assert after.entry.bundle != before.entry.bundle
    assert after.entry.safety_number() != before.entry.safety_number()
    # What was wrapped to the former keys still opens, on this device and a new one.
    assert bob.exchange.fetch(to_bob, tmp_path / "a.txt").path.read_bytes() == report.read_bytes()
    other_device = device(client, users, bob.user)
    assert other_device.fetch(to_bob, tmp_path / "b.txt").path.read_bytes() == (report.read_bytes())
    # The new recovery words open the new keys and the former ones.
    stored = Keystore.decode(
        b64u_decode_keystore(bob.exchange.call("GET", "/accounts/me/keystore").json())
    )
    recovered = unlock_with_recovery_key(stored, rotation.recovery_key)
    assert [f.keys.public() for f in open_former_keys(stored, recovered)] == [
        before.entry.public_keys
    ]

    # Alice takes bob's new keys only through the chain, and sends to them.
    _fresh_view(alice)
    seen = alice.exchange.directory.lookup(bob.email)
    assert (seen.index, seen.entry.key_version, seen.current) == (rotation.index, 2, True)
    assert seen.entry.bundle == after.entry.bundle
    to_new = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    assert bob.exchange.fetch(to_new, tmp_path / "c.txt").path.read_bytes() == (report.read_bytes())


def test_what_a_rotated_account_signed_before_is_checked_against_its_former_keys(
    practice: Practice, report, tmp_path
):
    alice, bob = practice.alice, practice.bob
    by_alice = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    before = alice.exchange.my_entry()
    rotation = alice.exchange.rotate_keys(PASSWORD)

    _fresh_view(bob)
    signed_before = bob.exchange.fetch(by_alice, tmp_path / "a.txt")
    assert (signed_before.signer.index, signed_before.signer.current) == (before.index, False)
    # Her own copy was wrapped to her former keys.
    assert alice.exchange.fetch(by_alice, tmp_path / "b.txt").path.read_bytes() == (
        report.read_bytes()
    )
    by_new = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    signed_after = bob.exchange.fetch(by_new, tmp_path / "c.txt")
    assert (signed_after.signer.index, signed_after.signer.current) == (rotation.index, True)


def _publish_behind_the_owner(ctx, account_id: str, statement_for=None) -> None:
    """What a hostile server does: an entry of its own keys under the account, with no
    statement or one of its making."""
    intruder = UserKeys.generate()
    with ctx.sessions.begin() as db:
        account = db.get(Account, uuid.UUID(account_id))
        directory = KeyDirectory(db, ctx)
        directory.log.lock()
        current = directory.current_version(account.id)
        entry = DirectoryEntry(
            account.id,
            current.key_version + 1,
            DirectoryEntry.decode(current.entry).kind,
            account.email,
            intruder.public().encode(),
        )
        statement = None
        if statement_for is not None:
            statement = statement_for(DirectoryEntry.decode(current.entry), entry, intruder)
        directory._append(entry, statement)


@pytest.mark.parametrize(
    "statement_for",
    [
        None,
        # Signed by the intruder's keys in place of the account's current ones.
        lambda previous, entry, intruder: key_rotation.sign_rotation(
            previous, entry, b"keystore", intruder.signing, intruder.signing
        ).encode(),
    ],
    ids=["no statement", "signed by another key"],
)
def test_keys_published_without_their_owner_are_refused(
    practice: Practice, report, tmp_path, ctx, statement_for
):
    alice, bob = practice.alice, practice.bob
    by_alice = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    _publish_behind_the_owner(ctx, alice.user.account_id, statement_for)

    _fresh_view(bob)
    with pytest.raises(DirectoryRefused, match="without the chain of rotations"):
        bob.exchange.directory.lookup(alice.email)
    with pytest.raises(DirectoryRefused):
        bob.exchange.directory.lookup_many([alice.email])
    # Nothing of the account is taken, not even its first keys for a signature.
    with pytest.raises((DirectoryRefused, ExchangeRefused)):
        bob.exchange.fetch(by_alice, tmp_path / "x.txt")
    # The owner's own device refuses to send.
    _fresh_view(alice)
    with pytest.raises((DirectoryRefused, ExchangeRefused)):
        alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])


def test_a_chain_with_a_gap_is_refused(practice: Practice, ctx, monkeypatch):
    alice, bob = practice.alice, practice.bob
    bob.exchange.rotate_keys(PASSWORD)
    bob.exchange.rotate_keys(PASSWORD)
    _fresh_view(alice)
    assert alice.exchange.directory.lookup(bob.email).entry.key_version == 3

    served = KeyDirectory._chain_records

    def without_version_2(self, accounts, tree_size):
        chains = served(self, accounts, tree_size)
        return {a: [r for r in rs if r.key_version != 2] for a, rs in chains.items()}

    monkeypatch.setattr(KeyDirectory, "_chain_records", without_version_2)
    _fresh_view(alice)
    with pytest.raises(DirectoryRefused, match="without the chain of rotations"):
        alice.exchange.directory.lookup(bob.email)
    with pytest.raises(DirectoryRefused):
        alice.exchange.directory.lookup_many([bob.email])


def test_a_server_cannot_answer_an_address_with_its_former_keys(practice: Practice, monkeypatch):
    alice, bob = practice.alice, practice.bob
    first = bob.exchange.my_entry()
    bob.exchange.rotate_keys(PASSWORD)

    def oldest(self, viewer, email, tree_size):
        return self._proven(viewer, self.db.get(DirectoryRecord, first.index), tree_size,
                            by_index=False)  # fmt: skip

    monkeypatch.setattr(KeyDirectory, "lookup", oldest)
    _fresh_view(alice)
    with pytest.raises(DirectoryRefused, match="former keys"):
        alice.exchange.directory.lookup(bob.email)


def _rotation_body(person, *, params=None, sign_with=None) -> dict:
    """A rotation request as the SDK builds it, with one thing changed."""
    ex = person.exchange
    stored = Keystore.decode(b64u_decode_keystore(ex.call("GET", "/accounts/me/keystore").json()))
    mine = ex.my_entry().entry
    new_keys = UserKeys.generate()
    made = create_keystore(
        PASSWORD,
        keys=new_keys,
        params=params or stored.password_params,
        key_version=mine.key_version + 1,
        former=[*open_former_keys(stored, ex.keys), FormerKeys(mine.key_version, ex.keys)],
    )
    entry = DirectoryEntry(
        mine.account_id, mine.key_version + 1, mine.kind, mine.email, new_keys.public().encode()
    )
    keystore = made.keystore.encode()
    statement = key_rotation.sign_rotation(
        mine, entry, keystore, (sign_with or ex.keys).signing, new_keys.signing
    )
    return {
        "bundle": b64u_encode(entry.bundle),
        "keystore": b64u_encode(keystore),
        "statement": b64u_encode(statement.encode()),
    }


def _log_size(ctx) -> int:
    with ctx.sessions.begin() as db:
        return KeyDirectory(db, ctx).log.size()


def test_the_server_refuses_a_rotation_that_is_not_the_owners(practice: Practice, ctx):
    bob = practice.bob
    size = _log_size(ctx)
    other = Argon2Params.default().with_new_salt()
    for refused in (
        _rotation_body(bob, sign_with=UserKeys.generate()),  # not the current key
        _rotation_body(bob, params=Argon2Params(other.memory_kib // 2, 2, 1, other.salt)),
    ):
        with pytest.raises(ApiError) as answer:
            bob.exchange.call("POST", "/keys/rotations", json=refused)
        assert answer.value.status == 400
    # A statement moved onto another keystore.
    body = _rotation_body(bob)
    body["keystore"] = _rotation_body(bob)["keystore"]
    with pytest.raises(ApiError) as answer:
        bob.exchange.call("POST", "/keys/rotations", json=body)
    assert answer.value.status == 400
    assert _log_size(ctx) == size  # nothing written

    accepted = _rotation_body(bob)
    assert bob.exchange.call("POST", "/keys/rotations", json=accepted).status_code == 201
    with pytest.raises(ApiError) as replayed:
        bob.exchange.call("POST", "/keys/rotations", json=accepted)
    assert replayed.value.status == 400


def test_a_rotation_needs_a_recent_second_factor_and_has_a_daily_budget(
    practice: Practice, users, sdk, clock
):
    bob = practice.bob
    clock.advance(minutes=6)
    bob.user.tokens = sdk.refresh(bob.user.tokens)
    with pytest.raises(ApiError) as answer:
        bob.exchange.rotate_keys(PASSWORD)
    assert answer.value.status == 403
    stepped = sdk.step_up(bob.user.tokens, totp_code=users.next_totp(bob.user.totp_secret))
    bob.user.tokens = replace(bob.user.tokens, access_token=stepped)
    for _ in range(5):
        bob.exchange.rotate_keys(PASSWORD)
    with pytest.raises(ApiError) as answer:
        bob.exchange.rotate_keys(PASSWORD)
    assert answer.value.status == 429
    assert bob.exchange.my_entry().entry.key_version == 6


def test_a_wrong_password_replaces_nothing(practice: Practice, ctx):
    size = _log_size(ctx)
    with pytest.raises(ExchangeRefused, match="wrong password"):
        practice.bob.exchange.rotate_keys("not the password")
    assert _log_size(ctx) == size


def test_a_monitor_accepts_signed_rotations_and_reports_the_others(
    practice: Practice, ctx, users, client
):
    alice = practice.alice
    alice.exchange.rotate_keys(PASSWORD)
    mallory = users.signed_in("mallory@example.org")
    ctx.settings = ctx.settings.model_copy(update={"directory_monitors": [mallory.email]})
    monitor = device(client, users, mallory)
    assert audit(monitor.call, monitor.directory.refresh()).problems == []

    _publish_behind_the_owner(ctx, alice.user.account_id)
    with ctx.sessions.begin() as db:
        forged = KeyDirectory(db, ctx).current_version(uuid.UUID(alice.user.account_id))
        forged_index = forged.log_index
    problems = audit(monitor.call, monitor.directory.refresh()).problems
    assert len(problems) == 1
    assert problems[0].startswith(
        f"leaf {forged_index}: keys of version 3 for account {alice.user.account_id} "
        "(alice@example.org) not carried by a rotation its former keys signed"
    )


def test_a_password_change_after_a_rotation_keeps_the_former_keys(
    practice: Practice, report, tmp_path, client, users, sdk
):
    alice, bob = practice.alice, practice.bob
    to_bob = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.rotate_keys(PASSWORD)
    tokens = bob.user.tokens
    stored = Keystore.decode(
        b64u_decode_keystore(bob.exchange.call("GET", "/accounts/me/keystore").json())
    )
    # A re-sealing that drops the former keys, however signed, is refused: they open
    # what was sent before the rotation.
    resealed, secret = change_password(
        stored, bob.exchange.keys, "another long passphrase willow 42"
    )
    dropped = replace(resealed, former=None)
    change = KeystoreChange(
        uuid.UUID(bob.user.account_id), stored.encode(), dropped.encode(), secret
    )
    answer = client.put(
        "/accounts/me/password",
        json={
            "auth_secret": b64u_encode(secret),
            "keystore": b64u_encode(dropped.encode()),
            "signature": b64u_encode(change.sign(bob.exchange.keys.signing)),
        },
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    assert answer.status_code == 400 and "former keys" in answer.json()["detail"]

    sdk.change_password(tokens, PASSWORD, "another long passphrase willow 42")
    bob.user.password = "another long passphrase willow 42"
    bob.user.tokens = users.sign_in_again(bob.user)
    keys = unlock_with_password(sdk.keystore(bob.user.tokens), "another long passphrase willow 42")
    again = ExchangeClient(client, lambda: bob.user.tokens.access_token, keys)
    assert again.fetch(to_bob, tmp_path / "a.txt").path.read_bytes() == report.read_bytes()


def _kept_answers_of(ctx, account_id: str) -> list[bytes]:
    with ctx.sessions() as db:
        return [
            bytes(body)
            for body in db.scalars(
                select(KeptAnswer.body).where(KeptAnswer.account_id == uuid.UUID(account_id))
            )
            if body is not None
        ]


def _wrapped_keys_of(ctx, account_id: str) -> list[tuple[bytes, bytes]]:
    """Every wrapped key the server holds for the account, with the envelope header it
    is bound to: its documents' versions and its messages."""
    account = uuid.UUID(account_id)
    with ctx.sessions.begin() as db:
        versions = db.execute(
            select(Share.wrapped_key, DocumentVersion.envelope_header)
            .join(DocumentVersion, DocumentVersion.id == Share.version_id)
            .where(Share.recipient_id == account, Share.wrapped_key.is_not(None))
        ).all()
        messages = db.execute(
            select(MessageKey.wrapped_key, Message.body_envelope)
            .join(Message, Message.id == MessageKey.message_id)
            .where(MessageKey.recipient_id == account)
        ).all()
    return [(k, h) for k, h in versions] + [(k, b[: envelope.HEADER_SIZE]) for k, b in messages]


def test_after_a_compromise_the_server_keeps_no_key_the_former_keys_open(
    practice: Practice, report, tmp_path, ctx, client, users, clock
):
    """PROTOCOL 10.6: a rotation for a suspected compromise, then every wrapped key of
    the account (documents' versions, messages) wrapped again to the new keys; the
    server's copies the stolen keys open are gone, and everything still reads."""
    alice, bob = practice.alice, practice.bob
    sent = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    report.write_bytes(b"Version 2: traitement adapte.\n")
    alice.exchange.new_version(sent, report)
    thread = MessagingClient(alice.exchange).start_thread([bob.email])
    MessagingClient(alice.exchange).send(thread["id"], "Le bilan est arrive, je vous l'envoie.")
    # A share that expired: served to no one, so no client can wrap it again.
    expiring = alice.exchange.send(
        report,
        patient_file_id=practice.patient_file,
        to=[bob.email],
        expires_at=clock.now + timedelta(days=1),
    )
    # Bob's own message: the answer kept for its retry holds his wrapped key.
    MessagingClient(bob.exchange).send(thread["id"], "Merci.")
    assert any(b'"wrapped_key"' in body for body in _kept_answers_of(ctx, bob.user.account_id))
    clock.advance(days=2)
    bob.user.tokens = users.sign_in_again(bob.user)
    alice.user.tokens = users.sign_in_again(alice.user)
    stolen = bob.exchange.keys
    bob.exchange.rotate_keys(PASSWORD)
    held = _wrapped_keys_of(ctx, bob.user.account_id)
    assert len(held) == 4 and all(unwrap_document_key(k, stolen, h) for k, h in held)
    # The rotation erased the expired share's key and the kept answers.
    assert not any(b'"wrapped_key"' in body for body in _kept_answers_of(ctx, bob.user.account_id))
    with ctx.sessions() as db:
        assert (
            db.scalar(
                select(Share.wrapped_key).where(
                    Share.document_id == uuid.UUID(str(expiring)),
                    Share.recipient_id == uuid.UUID(bob.user.account_id),
                )
            )
            is None
        )

    done = bob.exchange.rewrap_to_current_keys()

    assert (done.versions, done.messages, done.unopened) == (2, 2, 0)
    for wrapped, header in _wrapped_keys_of(ctx, bob.user.account_id):
        with pytest.raises(DecryptionFailed):
            unwrap_document_key(wrapped, stolen, header)
        unwrap_document_key(wrapped, bob.exchange.keys, header)
    # Everything reads on a new device; Alice's own copies were not touched.
    other_device = device(client, users, bob.user)
    assert other_device.fetch(sent, tmp_path / "b.txt").path.read_bytes() == report.read_bytes()
    first, _ = MessagingClient(other_device).read(thread["id"])
    assert first.text.startswith("Le bilan")
    assert alice.exchange.fetch(sent, tmp_path / "a.txt").path.read_bytes() == report.read_bytes()
    # Run again (after an interruption): nothing left to do.
    again = bob.exchange.rewrap_to_current_keys()
    assert (again.versions, again.messages, again.unopened) == (0, 0, 0)


def test_only_your_own_keys_are_wrapped_again_with_a_recent_second_factor_all_or_none(
    practice: Practice, report, ctx, sdk, clock, users
):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    # Not the patient's (R28's default): she has nothing to wrap again below.
    to_bob = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email], to_patient=False
    )
    only_alice = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[], to_patient=False
    )
    thread = MessagingClient(alice.exchange).start_thread([bob.email])
    MessagingClient(alice.exchange).send(thread["id"], "Bonjour")
    mine = bob.exchange.document_view(to_bob).versions[0]
    fresh = wrap_document_key(
        bob.exchange.unwrap(mine.wrapped_key, mine.envelope_header),
        bob.exchange.keys.public(),
        mine.envelope_header,
    )
    before = _wrapped_keys_of(ctx, bob.user.account_id) + _wrapped_keys_of(
        ctx, alice.user.account_id
    )

    def rewrap(person, *keys) -> ApiError:
        request = {
            "keys": [
                {"document_id": str(d), "version": v, "wrapped_key": b64u_encode(k)}
                for d, v, k in keys
            ]
        }
        with pytest.raises(ApiError) as refused:
            person.exchange.call("POST", "/documents/rewraps", json=request)
        return refused.value

    # A version of someone else's (not shared with Bob), with his own one beside it:
    # refused as a version that does not exist, and his own one not changed either.
    assert rewrap(bob, (to_bob, 1, fresh), (only_alice, 1, fresh)).status == 404
    assert rewrap(bob, (to_bob, 1, fresh), (to_bob, 1, fresh)).status == 400
    assert rewrap(bob, (to_bob, 1, b"\x02" + bytes(40))).status == 400
    assert rewrap(bob, (to_bob, 2, fresh)).status == 404
    # A patient is no reader of this document.
    assert rewrap(carol, (to_bob, 1, fresh)).status == 404
    message_id = bob.exchange.call("GET", f"/threads/{thread['id']}/messages").json()[0]["id"]
    with pytest.raises(ApiError) as outsider:
        carol.exchange.call(
            "POST",
            f"/threads/{thread['id']}/rewraps",
            json={"keys": [{"message_id": message_id, "wrapped_key": b64u_encode(fresh)}]},
        )
    assert outsider.value.status == 404
    assert (
        _wrapped_keys_of(ctx, bob.user.account_id) + _wrapped_keys_of(ctx, alice.user.account_id)
        == before
    )
    # A stolen session alone cannot overwrite the owner's keys.
    clock.advance(minutes=6)
    bob.user.tokens = sdk.refresh(bob.user.tokens)
    assert rewrap(bob, (to_bob, 1, fresh)).status == 403
    stepped = sdk.step_up(bob.user.tokens, totp_code=users.next_totp(bob.user.totp_secret))
    bob.user.tokens = replace(bob.user.tokens, access_token=stepped)
    answer = bob.exchange.call(
        "POST",
        "/documents/rewraps",
        json={
            "keys": [{"document_id": str(to_bob), "version": 1, "wrapped_key": b64u_encode(fresh)}]
        },
    )
    assert answer.json() == {"versions": 1}


def test_a_full_batch_of_real_wrapped_keys_fits_the_body_limit(practice: Practice):
    """MAX_REWRAPS hybrid wrapped keys in one request are read (and refused here only
    because they name nothing of Bob's), never refused as too large."""
    bob = practice.bob
    header = envelope.encrypt(bytes(32), b"x")[: envelope.HEADER_SIZE]
    wrapped = b64u_encode(wrap_document_key(bytes(32), bob.exchange.keys.public(), header))
    versions = [
        {"document_id": str(uuid.uuid4()), "version": 1, "wrapped_key": wrapped}
        for _ in range(MAX_REWRAPS)
    ]
    messages = [{"message_id": str(uuid.uuid4()), "wrapped_key": wrapped} for _ in versions]
    for path, keys in (
        ("/documents/rewraps", versions),
        (f"/threads/{uuid.uuid4()}/rewraps", messages),
    ):
        with pytest.raises(ApiError) as refused:
            bob.exchange.call("POST", path, json={"keys": keys})
        assert refused.value.status == 404
