"""The directory's reach rule asks what relates a viewer to an entry's owner of the
implementation provided for ``keys.interfaces.Acquaintances`` (server/wiring.py): in a
context where nothing answers, or what answers fails, a patient's entry is shown to
no one, rather than read under a default (docs/PROTOCOL.md, section 10.1)."""

from __future__ import annotations

import pytest

from tests.server.accounts.cabinet import Cabinet, make_cabinet
from tests.server.keys.test_directory_access import lookup
from uhealthsec.server.keys.interfaces import Acquaintances


@pytest.fixture
def cabinet(client, users) -> Cabinet:
    return make_cabinet(client, users)


def test_without_acquaintances_no_patient_entry_is_read(client, ctx, cabinet):
    carol = cabinet.carol.email
    assert lookup(client, cabinet, cabinet.mallory, carol) == 404
    provided = ctx.providers.pop(Acquaintances)
    for viewer in (cabinet.mallory, cabinet.alice):
        with pytest.raises(KeyError):
            lookup(client, cabinet, viewer, carol)
    ctx.provide(Acquaintances, provided)
    assert lookup(client, cabinet, cabinet.alice, carol) == 200


def test_acquaintances_that_fail_show_no_patient_entry(client, ctx, cabinet):
    class Failing:
        def reads_files_of(self, viewer_id, patient_id, at):
            raise RuntimeError("records are unavailable")

        shares_a_thread = received_signed_with = reads_files_of

    ctx.provide(Acquaintances, lambda db, ctx: Failing())
    with pytest.raises(RuntimeError, match="records are unavailable"):
        lookup(client, cabinet, cabinet.mallory, cabinet.carol.email)
