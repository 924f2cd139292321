"""Registrations that could be taken before their owner registers, and the RPPS
oracle of registration (issue 15, items 7 and 16)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.server_fixtures import FAST_ARGON2, PASSWORD
from uhealthsec.client.api import ApiError
from uhealthsec.crypto.keystore import create_keystore
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.accounts.service import AccountService

INTRUDER_PASSWORD = "intruder picked this one quietly"
RPPS = "79927398713"


def register(sdk, address, password, **extra):
    sdk.register(
        address, password, "Dr Owner", "practitioner", params=FAST_ARGON2.with_new_salt(), **extra
    )


def body(message) -> str:
    return message.get_payload(decode=True).decode()


def test_a_registration_made_before_the_owner_is_replaced_by_the_owners(sdk, outbox):
    register(sdk, "owner@example.org", INTRUDER_PASSWORD)  # the intruder, first
    intruder_code = outbox.last_code("owner@example.org")
    register(sdk, "owner@example.org", PASSWORD)  # then the owner of the mailbox
    mails = outbox.messages("owner@example.org")
    assert len(mails) == 2
    assert "replaces an earlier registration" in body(mails[-1])
    assert "together with the password" in body(mails[-1])

    # The code the owner reads confirms the owner's registration, not the intruder's.
    with pytest.raises(ApiError) as refused:
        sdk.verify_email(intruder_code, "owner@example.org", INTRUDER_PASSWORD)
    assert refused.value.status == 400
    sdk.verify_email(outbox.last_code("owner@example.org"), "owner@example.org", PASSWORD)
    with pytest.raises(ApiError) as refused:
        sdk.start_login("owner@example.org", INTRUDER_PASSWORD)
    assert refused.value.status == 401
    assert sdk.start_login("owner@example.org", PASSWORD).enrolment_required


def test_a_registration_made_after_the_owners_cannot_use_the_owners_mailbox(sdk, outbox):
    register(sdk, "raced@example.org", PASSWORD)  # the owner...
    register(sdk, "raced@example.org", INTRUDER_PASSWORD)  # ...then an intruder, quickly
    newest = outbox.last_code("raced@example.org")
    # The owner reads the newest mail, but that code confirms the intruder's
    # registration: with the owner's password it is refused, and says what to do.
    with pytest.raises(ApiError) as refused:
        sdk.verify_email(newest, "raced@example.org", PASSWORD)
    assert refused.value.status == 400 and "register again" in refused.value.detail
    register(sdk, "raced@example.org", PASSWORD)
    sdk.verify_email(outbox.last_code("raced@example.org"), "raced@example.org", PASSWORD)
    assert sdk.start_login("raced@example.org", PASSWORD).enrolment_required
    with pytest.raises(ApiError):
        sdk.start_login("raced@example.org", INTRUDER_PASSWORD)


def test_a_pending_registration_expires_and_frees_its_rpps(sdk, outbox, clock):
    register(sdk, "squat@example.org", INTRUDER_PASSWORD, rpps=RPPS)
    code = outbox.last_code("squat@example.org")
    clock.advance(hours=24, seconds=1)
    with pytest.raises(ApiError) as refused:
        sdk.verify_email(code, "squat@example.org", INTRUDER_PASSWORD)
    assert refused.value.status == 400
    # The RPPS number is no longer held by the expired registration.
    register(sdk, "real@example.org", PASSWORD, rpps=RPPS)
    sdk.verify_email(outbox.last_code("real@example.org"), "real@example.org", PASSWORD)
    assert sdk.start_login("real@example.org", PASSWORD).enrolment_required


def test_a_taken_rpps_gets_the_same_answer_as_any_registration(sdk, outbox, client, ctx):
    register(sdk, "holder@example.org", PASSWORD, rpps=RPPS)
    sdk.verify_email(outbox.last_code("holder@example.org"), "holder@example.org", PASSWORD)
    with ctx.sessions.begin() as db:  # as linking e-CPS does: only a proven number is held
        holder = db.scalar(select(Account).where(Account.email == "holder@example.org"))
        AccountService(db, ctx).prove_rpps(holder, RPPS)
    answers = []
    for address, rpps in (("probe@example.org", RPPS), ("fresh@example.org", "12345678903")):
        new = create_keystore(PASSWORD, params=FAST_ARGON2.with_new_salt())
        reply = client.post(
            "/accounts/registrations",
            json={
                "email": address,
                "display_name": "Dr Probe",
                "kind": "practitioner",
                "rpps": rpps,
                "auth_secret": b64u_encode(new.auth_secret),
                "keystore": b64u_encode(new.keystore.encode()),
            },
        )
        answers.append((reply.status_code, reply.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 202
    # Only the mailbox learns why; no account was made for the probe.
    assert "already linked" in body(outbox.messages("probe@example.org")[-1])
    with pytest.raises(ApiError):
        sdk.start_login("probe@example.org", PASSWORD)
