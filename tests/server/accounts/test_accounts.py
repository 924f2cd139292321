"""Registration, e-mail confirmation, practices, roles and invitations."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.server_fixtures import FAST_ARGON2, PASSWORD
from uhealthsec.client.api import ApiError
from uhealthsec.client.errors import WeakPassword
from uhealthsec.crypto.keystore import Keystore
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.accounts.service import AccountService


def auth(sdk, user):
    return sdk.bearer(user.tokens)


def test_registration_stores_keystore_and_public_keys_but_no_secret(users, sdk, ctx):
    new = sdk.register(
        "reg@example.org", PASSWORD, "Dr Reg", "practitioner", params=FAST_ARGON2.with_new_salt()
    )
    with ctx.sessions() as db:
        row = db.query(Account).filter_by(email="reg@example.org").one()
        assert row.status == "pending"
        assert Keystore.decode(row.keystore).public_keys.same_as(new.keys.public())
        assert row.key_fingerprint == new.keys.public().fingerprint()
        assert row.password_hash.startswith("$argon2id$")
        stored = b"".join(
            v if isinstance(v, bytes) else str(v).encode() for v in vars(row).values()
        )
        assert new.auth_secret not in stored
        assert PASSWORD.encode() not in stored
        assert new.recovery_key not in stored


def test_registration_does_not_reveal_a_taken_address(users, sdk, client, outbox):
    users.register("taken@example.org")
    first_mails = len(outbox.messages("taken@example.org"))
    new = sdk.register  # same call, same answer
    new(
        "taken@example.org", PASSWORD, "Someone Else", "patient", params=FAST_ARGON2.with_new_salt()
    )
    mails = outbox.messages("taken@example.org")
    assert len(mails) == first_mails + 1
    assert "already has one" in mails[-1].get_payload(decode=True).decode()
    # The original account still signs in with its own password.
    assert sdk.start_login("taken@example.org", PASSWORD).methods == []


def test_weak_passwords_are_refused_on_the_device():
    from uhealthsec.client.passwords import check_new_password

    for weak in ("password1234", "azertyuiop123", "Tr0ub4dor&3", "alice.martin@example.org"):
        assert not check_new_password(weak, ("alice.martin@example.org", "Alice Martin")).acceptable
    assert check_new_password(PASSWORD).acceptable
    assert not check_new_password("short words").acceptable


def test_weak_password_never_leaves_the_device(sdk, outbox):
    with pytest.raises(WeakPassword):
        sdk.register("weak@example.org", "password1234", "Weak", "patient")
    assert outbox.messages("weak@example.org") == []


@pytest.mark.parametrize(
    ("rpps", "kind", "status"),
    [
        ("79927398713", "practitioner", 202),
        ("79927398710", "practitioner", 400),
        ("79927398713", "patient", 400),
    ],
)
def test_rpps_checked_at_registration(sdk, rpps, kind, status):
    """R8: an RPPS whose Luhn check digit is wrong is refused at registration."""
    try:
        sdk.register(
            f"{kind}{rpps}@example.org",
            PASSWORD,
            "Dr X",
            kind,
            rpps=rpps,
            params=FAST_ARGON2.with_new_salt(),
        )
        got = 202
    except ApiError as error:
        got = error.status
    assert got == status


def test_a_declared_rpps_holds_nothing_and_a_proven_one_belongs_to_one_account(sdk, outbox, ctx):
    def register(address: str) -> str:
        sdk.register(
            address,
            PASSWORD,
            "Dr " + address,
            "practitioner",
            rpps="79927398713",
            params=FAST_ARGON2.with_new_salt(),
        )
        return outbox.messages(address)[-1].get_payload(decode=True).decode()

    assert "confirmation code" in register("one@example.org")
    # Only declared by one: another declares it too (RPPS numbers are public).
    assert "confirmation code" in register("two@example.org")
    with ctx.sessions.begin() as db:  # as linking e-CPS does
        one = db.scalar(select(Account).where(Account.email == "one@example.org"))
        AccountService(db, ctx).prove_rpps(one, "79927398713")
        two = db.scalar(select(Account).where(Account.email == "two@example.org"))
        assert two.declared_rpps is None  # taken by the proof, and told by mail
    # Proven: accepted as any registration (no oracle); only the mailbox learns why not.
    assert "already linked" in register("three@example.org")


def test_email_code_single_use(users, sdk, outbox):
    sdk.register("code@example.org", PASSWORD, "C", "patient", params=FAST_ARGON2.with_new_salt())
    code = outbox.last_code("code@example.org")
    sdk.verify_email(code, "code@example.org", PASSWORD)
    with pytest.raises(ApiError):
        sdk.verify_email(code, "code@example.org", PASSWORD)


def test_practice_roles_and_invitations(users, sdk, client, outbox):
    """R10: roles in a practice; only the admin invites, a patient sees no members."""
    admin = users.signed_in("admin@example.org", rpps="79927398713")
    created = client.post(
        "/practices", json={"name": "Cabinet des Lilas"}, headers=auth(sdk, admin)
    )
    assert created.status_code == 201 and created.json()["role"] == "admin"
    practice = created.json()["id"]

    # A naturopath without RPPS, a secretary, and a patient join by invitation.
    for address, role in (
        ("naturo@example.org", "practitioner"),
        ("sec@example.org", "secretary"),
        ("pat@example.org", "patient"),
    ):
        sent = client.post(
            f"/practices/{practice}/invitations",
            json={"email": address, "role": role},
            headers=auth(sdk, admin),
        )
        assert sent.status_code == 201
        assert "code" not in sent.json()  # the code travels only by mail
    naturo = users.signed_in(
        "naturo@example.org",
        verified=False,
        invitation=outbox.last_code("naturo@example.org", "Invitation code"),
    )
    secretary = users.signed_in(
        "sec@example.org",
        verified=False,
        invitation=outbox.last_code("sec@example.org", "Invitation code"),
    )
    patient = users.signed_in(
        "pat@example.org",
        kind="patient",
        invitation=outbox.last_code("pat@example.org", "Invitation code"),
    )

    members = client.get(f"/practices/{practice}/members", headers=auth(sdk, admin)).json()
    by_role = {m["role"]: m for m in members}
    assert set(by_role) == {"admin", "practitioner", "secretary", "patient"}
    # Each with the address a colleague sends to.
    assert by_role["secretary"]["email"] == "sec@example.org"
    assert by_role["patient"]["email"] == "pat@example.org"
    assert by_role["admin"]["identity_verified"] is True  # by the operator
    assert by_role["practitioner"]["identity_verified"] is False  # nobody vouched yet

    # Least privilege: only the admin invites or verifies; a patient sees no member list.
    for user in (naturo, secretary, patient):
        response = client.post(
            f"/practices/{practice}/invitations",
            json={"email": "x@example.org", "role": "admin"},
            headers=auth(sdk, user),
        )
        assert response.status_code == 403
    assert (
        client.get(f"/practices/{practice}/members", headers=auth(sdk, patient)).status_code == 403
    )
    assert (
        client.get(f"/practices/{practice}/members", headers=auth(sdk, secretary)).status_code
        == 200
    )

    verified = client.post(
        f"/practices/{practice}/members/{naturo.account_id}/identity-verification",
        headers=auth(sdk, admin),
    )
    assert verified.status_code == 200 and verified.json()["identity_verified"] is True

    # Outsiders learn nothing about the practice.
    outsider = users.signed_in("out@example.org")
    assert (
        client.get(f"/practices/{practice}/members", headers=auth(sdk, outsider)).status_code == 404
    )


def test_invitation_is_bound_to_its_address_and_used_once(users, sdk, client, outbox):
    admin = users.signed_in("adm2@example.org")
    practice = client.post(
        "/practices", json={"name": "Kiné Sud"}, headers=auth(sdk, admin)
    ).json()["id"]
    client.post(
        f"/practices/{practice}/invitations",
        json={"email": "inv@example.org", "role": "practitioner"},
        headers=auth(sdk, admin),
    )
    code = outbox.last_code("inv@example.org", "Invitation code")
    with pytest.raises(ApiError) as refused:
        sdk.register(
            "other@example.org",
            PASSWORD,
            "Other",
            "practitioner",
            invitation=code,
            params=FAST_ARGON2.with_new_salt(),
        )
    assert refused.value.status == 403
    users.signed_in("inv@example.org", invitation=code)
    with pytest.raises(ApiError):
        sdk.register(
            "inv2@example.org",
            PASSWORD,
            "Other",
            "practitioner",
            invitation=code,
            params=FAST_ARGON2.with_new_salt(),
        )
