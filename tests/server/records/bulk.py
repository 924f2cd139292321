"""Rows written straight to the database, for tests and benchmarks about many of them:
active practitioners with real keys published in the key directory (many readers),
documents shared with one reader (a long inbox)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from uhealthsec.crypto.keys import UserKeys
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus, Practice
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.records.models import Blob, Document, DocumentVersion, PatientFile, Share
from uhealthsec.server.storage.db import insert_rows


def add_practitioners(ctx, count: int) -> list[str]:
    emails = []
    with ctx.sessions.begin() as db:
        for i in range(count):
            public = UserKeys.generate().public()
            account = Account(
                email=f"reader{i:03d}@example.org",
                display_name=f"Reader {i}",
                kind=AccountKind.PRACTITIONER,
                status=AccountStatus.ACTIVE,
                password_hash="unused",
                keystore=b"unused",
                public_keys=public.encode(),
                key_fingerprint=public.fingerprint(),
                created_at=ctx.now(),
            )
            db.add(account)
            db.flush()
            KeyDirectory(db, ctx).publish(account)
            emails.append(account.email)
    return emails


def share_documents(
    ctx, reader_id: uuid.UUID, count: int, *, per_instant: int = 1, start: datetime | None = None
) -> uuid.UUID:
    """``count`` documents of one version each, from a new author in a new patient file
    (whose id is returned), shared with the reader; ``per_instant`` of them at each
    second from ``start`` (so that a listing's order must break ties). Rows only: no
    content, no real keys."""
    author = _account_row(f"author-{uuid.uuid4().hex}@example.org", AccountKind.PRACTITIONER)
    patient = _account_row(f"patient-{uuid.uuid4().hex}@example.org", AccountKind.PATIENT)
    practice = {"id": uuid.uuid4(), "name": "Cabinet", "created_at": ctx.now()}
    patient_file = {
        "id": uuid.uuid4(),
        "practice_id": practice["id"],
        "patient_id": patient["id"],
        "created_by": author["id"],
        "created_at": ctx.now(),
    }
    with ctx.sessions.begin() as db:
        insert_rows(db, Account.__table__, [author, patient])
        insert_rows(db, Practice.__table__, [practice])
        insert_rows(db, PatientFile.__table__, [patient_file])
    begin = (start or ctx.now()).replace(microsecond=0)
    for first in range(0, count, _BATCH):
        blobs, documents, versions, shares = [], [], [], []
        for i in range(first, min(count, first + _BATCH)):
            at = begin + timedelta(seconds=i // per_instant)
            blob, document, version = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            blobs.append(
                {
                    "id": blob,
                    "owner_id": author["id"],
                    "size": 1000,
                    "sha256": bytes(32),
                    "created_at": at,
                    "attached_at": at,
                }
            )
            documents.append(
                {
                    "id": document,
                    "patient_file_id": patient_file["id"],
                    "author_id": author["id"],
                    "created_at": at,
                    "latest_version": 1,
                }
            )
            versions.append(
                {
                    "id": version,
                    "document_id": document,
                    "number": 1,
                    "author_id": author["id"],
                    "blob_id": blob,
                    "envelope_header": bytes(78),
                    "metadata_envelope": bytes(200),
                    "signature": bytes(64),
                    "signer_key_index": 0,
                    "created_at": at,
                    "readers": None,
                }
            )
            shares += [
                {
                    "id": uuid.uuid4(),
                    "document_id": document,
                    "version_id": version,
                    "recipient_id": recipient,
                    "wrapped_key": bytes(120),
                    "granted_by": author["id"],
                    "created_at": at,
                    "expires_at": None,
                    "revoked_at": None,
                    "revoked_by": None,
                    "end_reason": None,
                    "version_created_at": at,
                }
                for recipient in (author["id"], reader_id)
            ]
        with ctx.sessions.begin() as db:
            insert_rows(db, Blob.__table__, blobs)
            insert_rows(db, Document.__table__, documents)
            insert_rows(db, DocumentVersion.__table__, versions)
            insert_rows(db, Share.__table__, shares)
    return patient_file["id"]


#: Rows written per transaction.
_BATCH = 20_000


def _account_row(email: str, kind: str) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "email": email,
        "display_name": email,
        "kind": kind,
        "status": AccountStatus.ACTIVE,
        "password_hash": "unused",
        "keystore": b"unused",
        "public_keys": b"unused",
        "key_fingerprint": bytes(32),
        "created_at": datetime.now(UTC),
    }
