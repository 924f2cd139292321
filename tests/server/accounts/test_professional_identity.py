"""A practitioner acts on health data only once their professional identity is verified:
by e-CPS (tests/server/federation), by a verified admin of their practice, or by the
operator where no e-CPS provider is configured."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.server.accounts.cabinet import make_cabinet
from uhealthsec.server.accounts.models import Account, AccountKind, IdentityProof
from uhealthsec.server.accounts.service import AccountService, check_may_act_on_health_data
from uhealthsec.server.cli import app
from uhealthsec.server.errors import Forbidden, NotFound


def test_an_unverified_practitioner_cannot_act_on_health_data(client, users, outbox):
    cabinet = make_cabinet(client, users)
    alice = cabinet.headers(cabinet.alice)
    client.post(
        f"/practices/{cabinet.id}/invitations",
        json={"email": "self.declared@example.org", "role": "practitioner"},
        headers=alice,
    )
    # Registered as a practitioner with an RPPS number: both only declared.
    impostor = users.signed_in(
        "self.declared@example.org",
        verified=False,
        rpps="79927398713",
        invitation=outbox.last_code("self.declared@example.org", "Invitation code"),
    )
    headers = cabinet.headers(impostor)
    attempts = [
        (
            "POST",
            "/patient-files",
            {"practice_id": cabinet.id, "patient_email": "carol@example.org"},
        ),
        ("GET", f"/patient-files?practice_id={cabinet.id}", None),
        ("GET", "/documents", None),
        ("POST", "/threads", {"participant_ids": [cabinet.carol.account_id]}),
        ("GET", "/threads", None),
        ("GET", f"/practices/{cabinet.id}/rights-requests", None),
        ("GET", f"/practices/{cabinet.id}/journal", None),  # names its patients
    ]
    for method, path, body in attempts:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "not verified" in response.json()["detail"]
    # Nor learn who the practice's patients are.
    members = client.get(f"/practices/{cabinet.id}/members", headers=headers).json()
    assert cabinet.carol.account_id not in {m["account_id"] for m in members}
    assert cabinet.alice.account_id in {m["account_id"] for m in members}

    # Once a verified admin of the practice vouches, the same account may.
    vouched = client.post(
        f"/practices/{cabinet.id}/members/{impostor.account_id}/identity-verification",
        headers=alice,
    )
    assert vouched.status_code == 200 and vouched.json()["identity_verified"] is True
    opened = cabinet.send(client, impostor, "POST", "/patient-files", attempts[0][2])
    assert opened.status_code == 200, opened.text


def test_an_admin_cannot_verify_a_patient_nor_vouch_unverified(client, users, outbox):
    cabinet = make_cabinet(client, users)
    refused = client.post(
        f"/practices/{cabinet.id}/members/{cabinet.carol.account_id}/identity-verification",
        headers=cabinet.headers(cabinet.alice),
    )
    assert refused.status_code == 403
    assert "professional identity" in refused.json()["detail"]

    # An unverified founder's word is worth nothing, and it cannot invite patients.
    founder = users.signed_in("founder@example.org", verified=False)
    headers = cabinet.headers(founder)
    own = client.post("/practices", json={"name": "Unverified"}, headers=headers).json()["id"]
    client.post(
        f"/practices/{own}/invitations",
        json={"email": "naturo@example.org", "role": "practitioner"},
        headers=headers,
    )
    naturo = users.signed_in(
        "naturo@example.org",
        verified=False,
        invitation=outbox.last_code("naturo@example.org", "Invitation code"),
    )
    vouched = client.post(
        f"/practices/{own}/members/{naturo.account_id}/identity-verification", headers=headers
    )
    assert vouched.status_code == 403
    invited = client.post(
        f"/practices/{own}/invitations",
        json={"email": "patient@example.org", "role": "patient"},
        headers=headers,
    )
    assert invited.status_code == 403


def test_the_operator_verifies_only_practitioners_and_only_without_e_cps(users, ctx):
    users.signed_in("doc@example.org", verified=False)
    users.signed_in("pat@example.org", "patient")
    with ctx.sessions.begin() as db:
        service = AccountService(db, ctx)
        doc = db.scalar(select(Account).where(Account.email == "doc@example.org"))
        assert doc is not None
        with pytest.raises(Forbidden):
            check_may_act_on_health_data(doc)
        for address in ("pat@example.org", "nobody@example.org"):
            with pytest.raises(NotFound):
                service.verify_practitioner_by_operator(address)
        service.verify_practitioner_by_operator(" Doc@Example.org ")
        assert doc.identity_proof == IdentityProof.OPERATOR and doc.identity_verified_at
        check_may_act_on_health_data(doc)
        patient = db.scalar(select(Account).where(Account.kind == AccountKind.PATIENT))
        assert patient is not None
        check_may_act_on_health_data(patient)  # patients act on their own data

    with_e_cps = ctx.settings.model_copy(update={"oidc_issuer": "https://e-cps.example"})
    ctx.settings = with_e_cps
    with ctx.sessions.begin() as db, pytest.raises(Forbidden):
        AccountService(db, ctx).verify_practitioner_by_operator("doc@example.org")


def test_uhs_server_verify_practitioner_is_the_operator_s_command(users, ctx, settings):
    users.signed_in("doc@example.org", verified=False)
    users.signed_in("pat@example.org", "patient")
    env = {
        "UHS_DATABASE_URL": settings.database_url.get_secret_value(),
        "UHS_DATA_DIR": str(settings.data_dir),
    }
    refused = CliRunner().invoke(app, ["verify-practitioner", "pat@example.org"], env=env)
    assert refused.exit_code == 1 and "Refused" in refused.output
    done = CliRunner().invoke(app, ["verify-practitioner", "doc@example.org"], env=env)
    assert done.exit_code == 0, done.output
    with ctx.sessions() as db:
        doc = db.scalar(select(Account).where(Account.email == "doc@example.org"))
        assert doc is not None and doc.identity_proof == IdentityProof.OPERATOR
