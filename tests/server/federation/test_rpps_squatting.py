"""A declared RPPS number is not a claim: anyone may declare a practitioner's (public)
number, and the practitioner still registers with it and proves it with e-CPS, which
takes it from whoever only declared it (issue 15, items 4 and 7)."""

from __future__ import annotations

import pytest

from tests.server.federation.provider import Professional
from tests.server.federation.test_federated_login import link, professional, rpps
from uhealthsec.client.api import ApiError


def test_a_declared_rpps_does_not_keep_its_proven_owner_from_e_cps(
    sdk, users, browser, provider, client, outbox
):
    """Mallory registers (her own mailbox, confirmed) declaring Dr Victim's RPPS number.
    Dr Victim registers with it all the same, links e-CPS, which proves it, and is
    verified; the number leaves Mallory's account, and she is told by mail."""
    number = rpps("3")
    mallory = users.signed_in("mallory@example.org", rpps=number)  # only declared
    victim = users.signed_in("victim@example.org", rpps=number)
    victim_me = client.get("/accounts/me", headers=sdk.bearer(victim.tokens)).json()
    assert (victim_me["rpps"], victim_me["rpps_proven"]) == (number, False)

    linked = link(sdk, browser, provider, victim, professional("3"))
    assert linked["rpps"] == number
    headers = sdk.bearer(victim.tokens)
    victim_me = client.get("/accounts/me", headers=headers).json()
    assert (victim_me["rpps"], victim_me["rpps_proven"]) == (number, True)
    opened = client.post("/practices", json={"name": "Cabinet"}, headers=headers).json()["id"]
    listed = client.get("/patient-files", params={"practice_id": opened}, headers=headers)
    assert listed.status_code == 200, listed.text

    mallory_me = client.get("/accounts/me", headers=sdk.bearer(mallory.tokens)).json()
    assert mallory_me["rpps"] is None
    told = outbox.messages(mallory.email)[-1]
    assert told["Subject"] == "U-HealthSec: the RPPS number of your account was removed"


def test_a_proven_rpps_stays_with_its_account(sdk, users, browser, provider):
    """Once proven, a number is unique: another account's e-CPS link with the same
    number (another identity at the provider) is refused, and so is a registration."""
    first = users.signed_in("first@example.org")
    link(sdk, browser, provider, first, professional("3"))
    second = users.signed_in("second@example.org")
    other_identity = Professional(subject="psc-other", national_id="8" + rpps("3"))
    with pytest.raises(ApiError) as refused:
        link(sdk, browser, provider, second, other_identity)
    assert refused.value.status == 409
    assert "belongs to another account" in refused.value.detail
