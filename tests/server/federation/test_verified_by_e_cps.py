"""e-CPS is the proof of a practitioner's professional identity: a declared RPPS number
is not, and where a provider is configured the operator does not vouch instead."""

from __future__ import annotations

from tests.server.federation.test_federated_login import link, professional, rpps


def test_linking_e_cps_verifies_the_practitioner(sdk, users, browser, provider, client):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    headers = sdk.bearer(user.tokens)
    opened = client.post("/practices", json={"name": "Cabinet"}, headers=headers).json()["id"]
    # The declared number alone does not let the account near health data.
    listed = client.get("/patient-files", params={"practice_id": opened}, headers=headers)
    assert listed.status_code == 403

    link(sdk, browser, provider, user, professional("3"))
    listed = client.get("/patient-files", params={"practice_id": opened}, headers=headers)
    assert listed.status_code == 200, listed.text
    members = client.get(f"/practices/{opened}/members", headers=headers).json()
    assert members[0]["identity_verified"] is True
