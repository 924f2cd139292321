"""Who signed a version, as the SDK and ``uhs get`` report it.

``ExchangeClient.fetch`` verifies a version with the key of the directory entry its
``signer_key_index`` names (the version's author), but reports as
``ReceivedDocument.author_email`` the *document's* author from the server's view;
``uhs get`` prints "signed by <that address>, signature verified". Any practitioner
reader may write a new version: a colleague's words are then shown as signed by the
document's author.
"""

from __future__ import annotations

from tests.server.records.conftest import Practice


def test_the_reported_signer_is_the_key_that_verified(
    practice: Practice,
    report,
    tmp_path,
):
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    rewritten = tmp_path / "compte-rendu.txt"
    rewritten.write_bytes(b"Compte rendu: arret de tous les traitements.\n")
    assert bob.exchange.new_version(document_id, rewritten) == 2

    # Alice opens her document's latest version.
    (tmp_path / "alice").mkdir()
    received = alice.exchange.fetch(document_id, tmp_path / "alice")
    assert received.path.read_bytes() == rewritten.read_bytes()
    assert received.signer.entry.email == bob.email
    # What `uhs get` prints as "signed by ..., signature verified":
    assert received.author_email == received.signer.entry.email, (
        f"version 2 was signed by {received.signer.entry.email}, "
        f"but the client reports it as signed by {received.author_email}"
    )
