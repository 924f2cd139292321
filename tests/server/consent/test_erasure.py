"""R17: erasure answered per category (erased, or kept with its legal ground and last
day), and a patient's deletion of their own account (both databases)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from tests.server.records.conftest import Practice
from tests.server_fixtures import FAST_ARGON2, PASSWORD
from uhealthsec.client.api import ApiError
from uhealthsec.client.exchange.messaging import MessagingClient
from uhealthsec.client.journal import JournalClient
from uhealthsec.client.rights import RightsClient
from uhealthsec.server.accounts.models import Account, AccountStatus, Invitation, Membership
from uhealthsec.server.auth.models import Session, TotpCredential
from uhealthsec.server.consent.models import ConsentDirective, RightsRequest
from uhealthsec.server.idempotency.models import KeptAnswer
from uhealthsec.server.keys.models import DirectoryRecord, KeyRevocation
from uhealthsec.server.messaging.models import Message, MessageKey, ThreadParticipant
from uhealthsec.server.records.models import Document, Share
from uhealthsec.server.retention.models import FileRetention
from uhealthsec.server.retention.rules import add_years
from uhealthsec.server.retention.service import purge


def refused(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def facts(practice: Practice, **dates: str) -> dict:
    return practice.alice.exchange.call(
        "PUT", f"/patient-files/{practice.patient_file}/retention", json=dates
    ).json()


def lines(items: list[dict]) -> dict[tuple[str, str | None], dict]:
    """The answer's lines by (category, practice)."""
    return {(i["category"], i["practice_id"]): i for i in items}


def outcomes(items: list[dict]) -> dict[tuple[str, str | None], str]:
    return {key: item["outcome"] for key, item in lines(items).items()}


def count(ctx, *where, of=None) -> int:
    with ctx.sessions.begin() as db:
        return int(db.scalar(select(func.count()).select_from(of).where(*where)) or 0)


def test_r17_a_file_without_documents_erases_what_it_can_and_says_so(practice: Practice, ctx):
    """R17: a file holding nothing to keep still has its retention dates erased, and the
    answer lists each category instead of "Nothing to erase"."""
    facts(practice, born_on="1980-06-15")
    carol, alice = RightsClient(practice.carol.exchange), RightsClient(practice.alice.exchange)
    done = alice.complete(carol.ask(practice.id, "erasure")["id"])
    assert done["status"] == "done" and "Nothing to erase" not in done["reason"]
    here = practice.id
    assert outcomes(done["erasure"]) == {
        ("documents", here): "erased",
        ("conversations", here): "erased",
        ("retention-facts", here): "erased",
        ("consents", here): "kept",
        ("rights-requests", here): "kept",
        ("identity", None): "kept",
        ("journal", None): "kept",
    }
    assert lines(done["erasure"])[("documents", here)]["count"] == 0
    assert lines(done["erasure"])[("consents", here)]["basis"] == "account-in-use"
    with ctx.sessions.begin() as db:
        record = db.get(FileRetention, uuid.UUID(practice.patient_file))
        assert record is not None and record.born_on is None
    # Kept with it, and listed again when the patient reads her requests.
    assert carol.mine()[0]["erasure"] == done["erasure"]


def test_r17_a_refused_erasure_lists_what_is_kept_and_until_when(practice: Practice, report, clock):
    """R17: inside retention each kept category names art. 17(3)(b)/(c) and its last day."""
    practice.alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    facts(practice, born_on="1980-06-15")
    carol, alice = RightsClient(practice.carol.exchange), RightsClient(practice.alice.exchange)
    answer = alice.complete(carol.ask(practice.id, "erasure")["id"])
    keep_until = add_years(clock.now.date(), 20)
    kept = lines(answer["erasure"])
    for category in ("documents", "retention-facts"):
        line = kept[(category, practice.id)]
        assert (line["outcome"], line["basis"]) == ("kept", "medical-file-retention")
        assert line["kept_until"] == keep_until.isoformat()
        assert "17(3)(b) and (c)" in line["reason"] and "CSP R1112-7" in line["reason"]
    assert kept[("documents", practice.id)]["count"] == 1
    assert kept[("journal", None)]["kept_until"] == keep_until.isoformat()


def _ending_file(practice: Practice, report, clock, ctx) -> datetime:
    """Carol's file holds one document and ends 10 years after her death, recorded
    today; returns the last day it is kept (grace period long over by then)."""
    practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.carol.email]
    )
    today = clock.now.date()
    facts(practice, born_on="1950-01-01", died_on=str(today))
    with ctx.sessions.begin() as db:
        db.execute(update(FileRetention).values(facts_recorded_at=datetime(2020, 1, 1, tzinfo=UTC)))
    return add_years(today, 10)


@pytest.mark.parametrize("days_after_last", [0, 1], ids=["last-day-kept", "day-of-its-end"])
def test_r17_account_deletion_keeps_a_file_until_its_end_and_no_longer(
    practice: Practice, report, clock, ctx, users, days_after_last
):
    """R17: deleting the account on the last day of the file's retention keeps the file
    (listed with that day, then destroyed by the retention purge the next day); on the
    day its retention ends, it is erased at once."""
    last_day = _ending_file(practice, report, clock, ctx)
    clock.advance(days=(last_day - clock.now.date()).days + days_after_last)
    carol = practice.carol
    carol.user.tokens = users.sign_in_again(carol.user)
    practice.alice.user.tokens = users.sign_in_again(practice.alice.user)
    rights = RightsClient(carol.exchange)

    preview = rights.deletion_preview()
    assert preview["deleted_at"] is None
    done = rights.delete_account()
    assert done["deleted_at"] is not None
    assert outcomes(done["items"]) == outcomes(preview["items"])  # as shown before
    documents = lines(done["items"])[("documents", practice.id)]
    assert documents["count"] == 1
    if days_after_last == 0:
        assert (documents["outcome"], documents["kept_until"]) == ("kept", last_day.isoformat())
        for category in ("retention-facts", "consents", "rights-requests"):
            assert lines(done["items"])[(category, practice.id)]["kept_until"] == str(last_day)
        assert len(practice.alice.exchange.documents()) == 1
        assert (
            count(
                ctx,
                ConsentDirective.patient_id == uuid.UUID(carol.user.account_id),
                of=ConsentDirective,
            )
            == 1
        )
        # The retention purge destroys it, and what was kept with it, when its day comes.
        [destroyed] = purge(ctx, last_day + timedelta(days=1))
        assert str(destroyed.patient_file_id) == practice.patient_file
    else:
        assert (documents["outcome"], documents["kept_until"]) == ("erased", None)
    assert practice.alice.exchange.documents() == []
    assert (
        count(
            ctx,
            ConsentDirective.patient_id == uuid.UUID(carol.user.account_id),
            of=ConsentDirective,
        )
        == 0
    )
    with ctx.sessions.begin() as db:
        record = db.get(FileRetention, uuid.UUID(practice.patient_file))
        assert record is not None and (record.born_on, record.died_on) == (None, None)


def test_r17_account_deletion_leaves_no_name_address_messages_or_consents(
    practice: Practice, report, clock, ctx, users
):
    """R17: where nothing must be kept, deletion leaves no name, address, message,
    consent, request, key or way to sign in; the key directory keeps its entries,
    revoked, and the journal still verifies."""
    alice, carol = practice.alice, practice.carol
    carol_id = uuid.UUID(carol.user.account_id)
    thread = MessagingClient(alice.exchange).start_thread([carol.email])["id"]
    MessagingClient(carol.exchange).send(thread, "Bonjour docteur")
    RightsClient(carol.exchange).ask(practice.id, "access")
    last_day = _ending_file(practice, report, clock, ctx)
    clock.advance(days=(last_day - clock.now.date()).days + 1)
    for person in (alice, carol):
        person.user.tokens = users.sign_in_again(person.user)
    journal = JournalClient(alice.exchange.call)
    journal.verify()
    entries_before = count(ctx, DirectoryRecord.account_id == carol_id, of=DirectoryRecord)

    done = RightsClient(carol.exchange).delete_account()
    kept = {key for key, outcome in outcomes(done["items"]).items() if outcome == "kept"}
    assert kept == {("key-directory", None), ("journal", None)}
    answer = lines(done["items"])
    assert answer[("key-directory", None)]["count"] == entries_before
    assert answer[("conversations", practice.id)]["count"] == 1  # no other file holds it
    assert answer[("identity", None)]["outcome"] == "erased"

    with ctx.sessions.begin() as db:
        account = db.get(Account, carol_id)
        assert account is not None and account.status == AccountStatus.DELETED
        assert "carol" not in (account.email + account.display_name).lower()
        assert (account.password_hash, account.keystore, account.public_keys) == ("", b"", b"")
        for model, column in (
            (ConsentDirective, ConsentDirective.patient_id),
            (RightsRequest, RightsRequest.patient_id),
            (Message, Message.sender_id),
            (MessageKey, MessageKey.recipient_id),
            (ThreadParticipant, ThreadParticipant.account_id),
            (Share, Share.recipient_id),
            (Session, Session.account_id),
            (TotpCredential, TotpCredential.account_id),
            (Membership, Membership.account_id),
        ):
            assert db.scalar(select(func.count()).select_from(model).where(column == carol_id)) == 0
        assert db.scalar(select(func.count()).select_from(Document)) == 0
        # The answers kept for retries of others' writes about her file named her.
        kept_bodies = db.scalars(select(KeptAnswer.body).where(KeptAnswer.patient_id == carol_id))
        assert not [b for b in kept_bodies if b and b"carol" in b.lower()]
        assert db.get(KeyRevocation, carol_id) is not None
        # Append-only: the directory's entries are all still there.
        assert entries_before == db.scalar(
            select(func.count()).where(DirectoryRecord.account_id == carol_id)
        )
    # The journal, never rewritten, still verifies, extending what was verified before.
    journal.verify()


def test_r17_deleting_an_account_whose_file_is_empty_forgets_the_answers_naming_her(
    practice: Practice, ctx
):
    """R17: a file without documents is erased without a purge; the answers kept for
    retries of the practitioner's writes about it (opening the file answers the
    patient's name and address) go with it, not a day later."""
    carol_id = uuid.UUID(practice.carol.user.account_id)
    done = RightsClient(practice.carol.exchange).delete_account()
    assert lines(done["items"])[("identity", None)]["outcome"] == "erased"
    with ctx.sessions.begin() as db:
        kept_bodies = db.scalars(select(KeptAnswer.body).where(KeptAnswer.patient_id == carol_id))
        assert not [b for b in kept_bodies if b and b"carol" in b.lower()]


def test_r17_a_deleted_account_cannot_sign_in_nor_be_reached(
    practice: Practice, report, users, outbox, ctx
):
    """R17: after deletion the account's tokens, password and address are dead: the
    address is retired (the key directory binds it for good) and looks up no keys;
    a share and a file it held (kept: retention) stay with the practice."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[carol.email])
    alice.exchange.share(document, [bob.email])  # an open share during the deletion
    old = carol.exchange
    answer = RightsClient(old).delete_account()
    documents = lines(answer["items"])[("documents", practice.id)]
    assert documents["outcome"] == "kept" and documents["kept_until"] is None
    assert "birth date" in documents["reason"]  # why the end is not known yet

    assert refused(old.call, "GET", "/accounts/me").status == 401  # its session ended
    # A replayed deletion finds no session to act with.
    assert refused(RightsClient(old).delete_account).status == 401
    with pytest.raises(ApiError) as sign_in:
        users.sign_in_again(carol.user)
    assert sign_in.value.status == 401
    # The address cannot hold a new account: its owner is told by mail.
    users.sdk.register(
        carol.email, PASSWORD, "Carol", "patient", params=FAST_ARGON2.with_new_salt()
    )
    assert "was deleted" in outbox.messages(carol.email)[-1].get_payload()
    assert count(ctx, Account.email == carol.email, of=Account) == 0
    # Nobody finds keys for it; the practice keeps the file and Bob his share.
    assert refused(alice.exchange.share, document, [carol.email]).status in (404, 422)
    assert [d.id for d in alice.exchange.documents()] == [document]
    assert [d.id for d in bob.exchange.documents()] == [document]
    # Inviting the address again is answered as for any address, but stores and mails
    # nothing, and opening a file for it is refused as for an address never used: no
    # practice learns that someone deleted an account here.
    mails = len(outbox.messages(carol.email))
    for address in (carol.email, "never.used@example.org"):
        invited = alice.exchange.call(
            "POST",
            f"/practices/{practice.id}/invitations",
            json={"email": address.upper(), "role": "patient"},
        )
        assert invited.status_code == 201 and invited.json()["email"] == address
    assert len(outbox.messages(carol.email)) == mails
    assert count(ctx, Invitation.email == carol.email, of=Invitation) == 0
    retired = refused(alice.exchange.patient_file, practice.id, carol.email)
    assert retired.status == 404 and "deleted" not in retired.detail


def test_r17_only_its_patient_deletes_an_account_after_a_step_up(
    practice: Practice, clock, users, sdk, ctx
):
    """R17: no one deletes another's account (the route has no account to name), a
    professional's account is not deleted here, the words are required, and an old
    sign-in needs a second factor again."""
    alice, carol = practice.alice, practice.carol
    assert refused(RightsClient(alice.exchange).delete_account).status == 403
    assert (
        refused(
            alice.exchange.call, "POST", "/accounts/me/deletion", json={"confirm": "yes"}
        ).status
        == 422
    )
    clock.advance(minutes=30)
    carol.user.tokens = sdk.refresh(carol.user.tokens)
    stale = refused(RightsClient(carol.exchange).delete_account)
    assert stale.status == 403 and "step-up" in stale.detail
    assert count(ctx, Account.status == AccountStatus.DELETED, of=Account) == 0
    # The preview changes nothing and needs no step-up.
    assert RightsClient(carol.exchange).deletion_preview()["deleted_at"] is None
