"""Records share only to whom the patient's directives allow (CSP L1110-4), asked of
consent through ``records.interfaces.SharingRules``: whatever the provided rules answer,
a recipient they give no verdict on is not shared to, and rules that fail share to
nobody (both databases)."""

from __future__ import annotations

import pytest

from tests.server.records.conftest import Person, Practice, device, refused
from uhealthsec.server.records.interfaces import SharingRules


def _outsider(client, users, email: str) -> Person:
    user = users.signed_in(email)
    return Person(user, device(client, users, user))


def test_a_recipient_the_rules_give_no_verdict_on_is_refused(
    practice: Practice, ctx, client, users, report
):
    """Erin works outside Carol's care team and Carol never consented to her. Rules that
    answer only for some of the recipients asked about (here: none) must not leave the
    others allowed by default."""
    erin = _outsider(client, users, "erin@example.org")

    class Silent:
        def __init__(self, db, ctx):
            pass

        def rulings(self, patient_file, recipient_ids):
            return {}

    ctx.provide(SharingRules, Silent)
    alice = practice.alice.exchange
    refused(403, alice.send, report, patient_file_id=practice.patient_file, to=[erin.email])
    assert erin.exchange.documents() == []


def test_rules_that_fail_share_to_nobody(practice: Practice, ctx, client, users, report):
    """An error of the rules is the request's error (a 500 once served; the test client
    raises it), never a permission: nothing of the request stays."""
    erin = _outsider(client, users, "erin@example.org")

    class Failing:
        def __init__(self, db, ctx):
            pass

        def rulings(self, patient_file, recipient_ids):
            raise RuntimeError("consent is unavailable")

    provided = ctx.providers[SharingRules]
    ctx.provide(SharingRules, Failing)
    alice = practice.alice.exchange
    with pytest.raises(RuntimeError, match="consent is unavailable"):
        alice.send(report, patient_file_id=practice.patient_file, to=[erin.email])
    ctx.provide(SharingRules, provided)
    assert alice.documents() == [] and erin.exchange.documents() == []
