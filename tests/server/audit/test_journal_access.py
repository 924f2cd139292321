"""Who may read the practice's journal: its entries name the practice's patients, so
only an admin who may act on health data reads them (docs/PROTOCOL.md, section 10.3)."""

from __future__ import annotations

from tests.conftest import served_checkpoint
from tests.server.accounts.cabinet import join_unverified, make_cabinet


def test_an_unverified_admin_cannot_read_the_practice_journal_about_patients(client, users, outbox):
    """An unverified practitioner invited as admin has the role, not the right to read
    health data: the practice's activity, its export, and each of its entries are
    refused to them, by the rule the services share (AccountService.require)."""
    cabinet = make_cabinet(client, users)
    opened = cabinet.send(  # activity about Carol: her file is opened
        client,
        cabinet.alice,
        "POST",
        "/patient-files",
        {"practice_id": cabinet.id, "patient_email": cabinet.carol.email},
    )
    assert opened.status_code == 200, opened.text
    index = opened.headers["uhs-journal-proof"].split(";")[0]
    impostor = join_unverified(client, users, outbox, cabinet, "admin")
    size = served_checkpoint(
        client.get("/journal/head", headers=cabinet.headers(impostor)).json()
    ).size

    def read(user, path: str, **params: object):
        return client.get(path, params=params, headers=cabinet.headers(user))

    activity, export = f"/practices/{cabinet.id}/journal", f"/practices/{cabinet.id}/journal/export"
    entry = f"/journal/entries/{index}"
    for path in (activity, export):
        refused = read(impostor, path)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"] == "application/problem+json"
        assert "not verified" in refused.json()["detail"]
        assert cabinet.carol.account_id not in refused.text
    assert read(impostor, entry, tree_size=size).status_code == 404
    # A verified admin reads them all.
    assert cabinet.carol.account_id in read(cabinet.alice, activity).text
    assert cabinet.carol.account_id in read(cabinet.alice, export).text
    assert read(cabinet.alice, entry, tree_size=size).status_code == 200
