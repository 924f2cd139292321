"""The web application's client (web/src/client/, in Node) and accounts that replaced
their keys (docs/PROTOCOL.md, 10.6): it reads with the former keys its own version 2
keystore holds, takes a rotated colleague's keys only through the signed chain, says
when a signature was made with former keys, and refuses a chain the server altered."""

from __future__ import annotations

from pathlib import Path

from tests.server_fixtures import PASSWORD
from tests.web.test_web_client import World, ok, refused, run, send_step, sign_in, world
from uhealthsec.client.api import AuthClient
from uhealthsec.crypto import key_rotation
from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode

__all__ = ["run", "world"]  # the module's server and Node runner, as test_web_client's


def test_the_browser_reads_sends_and_checks_after_rotations(
    world: World, run, tmp_path: Path
) -> None:
    martin, durand = world.martin, world.durand
    before = tmp_path / "before.txt"
    before.write_bytes(b"bilan avant les nouvelles cles " * 100)
    sent_before = str(
        world.sdk(martin).send(
            before, patient_file_id=world.patient_file_id, to=[durand.email], title="Avant"
        )
    )
    # Both replace their keys: what Durand reads was wrapped to his former keys and
    # signed with Martin's former ones.
    world.sdk(durand).rotate_keys(PASSWORD)
    martin_rotation = world.sdk(martin).rotate_keys(PASSWORD)

    content = b"apres la rotation " * 300
    # What a hostile server could put in place of Martin's first rotation: a statement
    # its own key signed twice over his two entries.
    sdk = world.sdk(durand)
    head = sdk.directory.refresh()
    served = sdk.call(
        "GET", "/keys/entries", params={"email": martin.email, "tree_size": head.size}
    ).json()
    first, second = (DirectoryEntry.decode(b64u_decode(link["entry"])) for link in served["chain"])
    intruder = UserKeys.generate()
    forged = key_rotation.sign_rotation(
        first, second, b"keystore", intruder.signing, intruder.signing
    )

    def altered(value: object) -> dict:
        field = {"field": "entries.0.chain.1.rotation", "value": value}
        return {
            "as": "durand",
            "op": "previewRecipients",
            "args": {"emails": [martin.email]},
            "tamper": [{"path": "^/keys/lookups$", "set_json": field}],
        }

    results = run(
        *sign_in("durand", durand, totp=world.totp(durand)),
        # Before an honest answer is proven and kept: Martin's first rotation taken out
        # of the chain the server serves, then replaced by one the server signed.
        altered(None),
        altered(b64u_encode(forged.encode())),
        {"as": "durand", "op": "openDocument", "args": {"id": sent_before}},
        {"as": "durand", "op": "previewRecipients", "args": {"emails": [martin.email]}},
        send_step("durand", world, [martin.email], content, "Apres"),
    )
    ok(results[0]), ok(results[1])
    unsigned, forged_by_server, opened, preview, sent = results[2:]
    opened = ok(opened)
    assert opened["signer"] == martin.email and opened["signerFormerKeyVersion"] == 1
    assert bytes.fromhex(results[4]["sink"]["written"]) == before.read_bytes()
    # Martin's newest keys, proven through his chain (the page is shown their fingerprint).
    shown = {r["email"]: r["fingerprint"] for r in ok(preview)["recipients"]}
    newest = world.sdk(martin).my_entry().entry
    assert (newest.key_version, shown[martin.email]) == (2, newest.public_keys.fingerprint().hex())
    document = ok(sent)["document"]
    received = world.sdk(martin).fetch(document["id"], tmp_path / "received.pdf")
    assert received.path.read_bytes() == content
    assert received.signer.entry.key_version == 2  # Durand's new keys signed it
    assert martin_rotation.key_version == 2
    assert refused(unsigned) == "invalid_proof"
    assert refused(forged_by_server) == "invalid_signature"


def test_the_browser_replaces_its_keys_and_keeps_reading(world: World, run, tmp_path: Path) -> None:
    from uhealthsec.client.recovery import from_words
    from uhealthsec.crypto.keystore import unlock_with_recovery_key

    martin, camille = world.martin, world.camille
    first = tmp_path / "first.txt"
    first.write_bytes(b"ordonnance " * 200)
    python = world.sdk(martin)
    before = str(
        python.send(first, patient_file_id=world.patient_file_id, to=[camille.email], title="Un")
    )
    results = run(
        *sign_in("camille", camille, totp=world.totp(camille)),
        {"as": "camille", "op": "rotateKeys", "args": {"password": "not the password"}},
        {"as": "camille", "op": "rotateKeys", "args": {"password": PASSWORD}},
        {"as": "camille", "op": "openDocument", "args": {"id": before}},
    )
    ok(results[0]), ok(results[1])
    wrong, rotated, opened = results[2:]
    assert refused(wrong) == "wrong_password"
    rotated = ok(rotated)
    assert rotated["keyVersion"] == 2 and len(rotated["recoveryWords"]) == 24
    assert ok(opened)["signer"] == martin.email
    assert bytes.fromhex(results[4]["sink"]["written"]) == first.read_bytes()

    # Martin's device takes her new keys through the chain and sends to them.
    python.directory.refresh()
    python.directory.forget()
    newest = python.directory.lookup(camille.email)
    assert newest.entry.key_version == 2
    second = tmp_path / "second.txt"
    second.write_bytes(b"compte rendu " * 300)
    after = str(
        python.send(second, patient_file_id=world.patient_file_id, to=[camille.email], title="Deux")
    )
    # A new sign-in (another Node process): the version 2 keystore unlocks.
    *signed, reopened = run(
        *sign_in("camille", camille, totp=world.totp(camille)),
        {"as": "camille", "op": "openDocument", "args": {"id": after}},
    )
    [ok(step) for step in signed]
    assert ok(reopened)["signer"] == martin.email
    assert bytes.fromhex(reopened["sink"]["written"]) == second.read_bytes()
    # The words shown open the new keystore: the new keys and the former ones.
    tokens = world.users.sign_in_again(camille)
    stored = AuthClient(world.http).keystore(tokens)
    keys = unlock_with_recovery_key(stored, from_words(" ".join(rotated["recoveryWords"])))
    assert keys.public().encode() == newest.entry.bundle
