"""Attacks on the lying-server defences of issue 15 item 2 (whom a client encrypts to).

Each test asserts the SECURE behaviour: it fails while the attack works.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select

from tests.server.records.conftest import Practice, device
from uhealthsec.client.exchange import ExchangeRefused, MessagingClient
from uhealthsec.crypto.manifest import (
    NO_PREVIOUS,
    Reader,
    ThreadMembership,
    VersionManifest,
    encode_readers,
)
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.messaging.models import ThreadMembershipRecord, ThreadParticipant
from uhealthsec.server.records.models import Blob, Document, DocumentVersion, Share


class _Stop(Exception):
    """Raised from before_encrypting: the test has seen whom the client would encrypt to."""


def _would_encrypt_to(action) -> list[str] | None:
    """Run ``action(before_encrypting=...)``; the addresses the client was about to
    wrap a key for, or None when the client refused (ExchangeRefused)."""
    shown: list[list[str]] = []

    def stop(entries) -> None:
        shown.append(sorted(e.entry.email for e in entries))
        raise _Stop

    try:
        action(before_encrypting=stop)
    except _Stop:
        return shown[0]
    except ExchangeRefused:
        return None
    raise AssertionError("the action neither encrypted nor was refused")


def _index_of(db, ctx, account_id: str) -> int:
    return KeyDirectory(db, ctx).current_version(uuid.UUID(account_id)).log_index


def test_a_version_forged_by_a_server_made_account_does_not_add_readers(
    practice: Practice,
    ctx,
    users,
    client,
    report,
):
    """The server (which can create accounts and publish their keys) appends to Alice's
    document a "version 2" signed by its own practitioner account Mallory, whose
    manifest lists Mallory among the readers. Nothing links version 2 to version 1:
    the client takes the latest version's signer as the root of trust, so Alice's
    next version is encrypted to Mallory."""
    mallory = users.signed_in("mallory@example.org", "practitioner")
    mallory_keys = device(client, users, mallory).keys
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, carol.email]
    )
    with ctx.sessions.begin() as db:
        first = db.scalar(select(DocumentVersion).where(DocumentVersion.document_id == document_id))
        blob = db.get(Blob, first.blob_id)
        index = _index_of(db, ctx, mallory.account_id)
        readers = tuple(
            sorted(
                Reader(uuid.UUID(u.account_id), u.email)
                for u in (alice.user, bob.user, carol.user, mallory)
            )
        )
        manifest = VersionManifest(
            document_id=document_id,
            version=2,
            patient_file_id=uuid.UUID(practice.patient_file),
            author_id=uuid.UUID(mallory.account_id),
            signer_key_index=index,
            content_digest=blob.sha256,
            metadata_digest=hashlib.sha256(first.metadata_envelope).digest(),
            readers=readers,
        )
        copy = Blob(
            owner_id=uuid.UUID(mallory.account_id),
            size=blob.size,
            sha256=blob.sha256,
            created_at=blob.created_at,
            attached_at=blob.created_at,
        )
        db.add(copy)
        db.flush()
        forged = DocumentVersion(
            document_id=document_id,
            number=2,
            author_id=uuid.UUID(mallory.account_id),
            blob_id=copy.id,
            envelope_header=first.envelope_header,
            metadata_envelope=first.metadata_envelope,
            signature=manifest.sign(mallory_keys.signing),
            signer_key_index=index,
            created_at=first.created_at,
            readers=encode_readers(readers),
        )
        db.add(forged)
        db.flush()
        for share in db.scalars(select(Share).where(Share.version_id == first.id)).all():
            db.add(
                Share(
                    document_id=document_id,
                    version_id=forged.id,
                    recipient_id=share.recipient_id,
                    wrapped_key=share.wrapped_key,
                    granted_by=forged.author_id,
                    created_at=share.created_at,
                )
            )
        db.add(
            Share(
                document_id=document_id,
                version_id=forged.id,
                recipient_id=uuid.UUID(mallory.account_id),
                wrapped_key=share.wrapped_key,
                granted_by=forged.author_id,
                created_at=share.created_at,
            )
        )
        db.get(Document, document_id).latest_version = 2
    shown = _would_encrypt_to(lambda **kw: alice.exchange.new_version(document_id, report, **kw))
    assert shown is None or mallory.email not in shown, (
        f"Alice's client was about to encrypt version 3 to {shown}"
    )


def test_a_revoked_reader_relisted_by_the_server_gets_no_new_version(
    practice: Practice,
    ctx,
    report,
):
    """Alice revokes Bob. The server quietly gives Bob's share of the latest version
    back (its revocation is nowhere in signed state): Alice's next version is
    encrypted to Bob, although PROTOCOL 11.4 and ``new_version`` promise that "a
    revoked person never receives it"."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    alice.exchange.revoke(document_id, bob.email)
    with ctx.sessions.begin() as db:
        author_share = db.scalar(
            select(Share).where(
                Share.document_id == document_id,
                Share.recipient_id == uuid.UUID(alice.user.account_id),
            )
        )
        bobs = db.scalar(
            select(Share).where(
                Share.document_id == document_id,
                Share.recipient_id == uuid.UUID(bob.user.account_id),
            )
        )
        if bobs is None:  # revoking erased the row: the server makes a new one
            bobs = Share(
                document_id=document_id,
                version_id=author_share.version_id,
                recipient_id=uuid.UUID(bob.user.account_id),
                granted_by=author_share.recipient_id,
                created_at=author_share.created_at,
            )
            db.add(bobs)
        bobs.wrapped_key = author_share.wrapped_key
        bobs.revoked_at = None
        bobs.revoked_by = None
        bobs.end_reason = None
    shown = _would_encrypt_to(lambda **kw: alice.exchange.new_version(document_id, report, **kw))
    assert shown is None or bob.email not in shown, (
        f"Alice revoked Bob, yet her client was about to encrypt version 2 to {shown}"
    )


def test_a_thread_chain_replaced_by_one_a_server_made_account_started_is_refused(
    practice: Practice,
    ctx,
    users,
    client,
    monkeypatch,
):
    """Alice starts a thread with Bob. The server replaces its membership chain by a
    first link signed by its own account Mallory, listing Alice, Bob and Mallory (a
    creator only has to be in the list it signs). Nothing ties the thread to the chain
    Alice signed: her next message is encrypted to Mallory."""
    mallory = users.signed_in("mallory@example.org", "practitioner")
    mallory_keys = device(client, users, mallory).keys
    alice = MessagingClient(practice.alice.exchange)
    thread_id = uuid.UUID(alice.start_thread([practice.bob.email])["id"])
    alice.send(thread_id, "Bonjour")
    with ctx.sessions.begin() as db:
        index = _index_of(db, ctx, mallory.account_id)
        members = tuple(
            Reader(uuid.UUID(u.account_id), u.email)
            for u in (practice.alice.user, practice.bob.user, mallory)
        )
        genesis = ThreadMembership(
            thread_id, 1, uuid.UUID(mallory.account_id), index, NO_PREVIOUS, members
        )
        link = db.scalar(
            select(ThreadMembershipRecord).where(ThreadMembershipRecord.thread_id == thread_id)
        )
        for column, value in (
            ("actor_id", genesis.actor_id),
            ("signer_key_index", index),
            ("members", encode_readers(members)),
            ("signature", genesis.sign(mallory_keys.signing)),
        ):
            assert hasattr(link, column), column
            setattr(link, column, value)
        db.add(ThreadParticipant(thread_id=thread_id, account_id=uuid.UUID(mallory.account_id)))
    # A hostile server serves any directory entry it likes (its access rule is its own).
    monkeypatch.setattr(KeyDirectory, "_may_see", lambda *a, **k: True)
    shown = _would_encrypt_to(lambda **kw: alice.send(thread_id, "Le bilan est joint.", **kw))
    assert shown is None or mallory.email not in shown, (
        f"Alice's client was about to encrypt her message to {shown}"
    )


def test_a_signed_reader_list_stripped_by_the_server_is_not_read_as_version_1(
    practice: Practice,
    ctx,
    users,
    report,
):
    """The server serves Alice's version 2 manifest without its reader list (as if it
    were a version 1 manifest) and lists Mallory as a reader. The version 1 path
    verifies no signature at all: the client asks the user to confirm the server's
    list (Bob and Mallory) instead of refusing a manifest that does not verify."""
    mallory = users.signed_in("mallory@example.org", "practitioner")
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    with ctx.sessions.begin() as db:
        version = db.scalar(
            select(DocumentVersion).where(DocumentVersion.document_id == document_id)
        )
        version.readers = None  # the downgrade
        author_share = db.scalar(
            select(Share).where(
                Share.version_id == version.id, Share.recipient_id == version.author_id
            )
        )
        db.add(
            Share(
                document_id=document_id,
                version_id=version.id,
                recipient_id=uuid.UUID(mallory.account_id),
                wrapped_key=author_share.wrapped_key,
                granted_by=version.author_id,
                created_at=author_share.created_at,
            )
        )
    asked = ""

    def stop(entries) -> None:
        raise _Stop

    try:
        alice.exchange.new_version(document_id, report, before_encrypting=stop)
    except ExchangeRefused as refused:
        asked = str(refused)
    except _Stop:
        pass
    # The user does what the client asks: confirm the addresses it named.
    shown = _would_encrypt_to(
        lambda **kw: alice.exchange.new_version(
            document_id, report, confirm=[bob.email, mallory.email], **kw
        )
    )
    assert shown is None or mallory.email not in shown, (
        f"a version 2 manifest stripped to version 1 led the client to encrypt to {shown}; "
        f"it had asked: {asked!r}"
    )
