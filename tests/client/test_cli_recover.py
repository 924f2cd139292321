"""`uhs account recover` in a terminal: a forgotten password replaced with the 24
recovery words, the mailed code and the authenticator app, then the old documents
opened with the new password (issue 21, item 7)."""

from __future__ import annotations

from sqlalchemy import select

from tests.client.demo import send
from tests.client.terminal import finished, spawn_uhs
from tests.server_fixtures import FAST_ARGON2, oathtool
from uhealthsec.client.cli.account import WITHOUT_WORDS
from uhealthsec.client.recovery import to_words
from uhealthsec.crypto.keystore import Keystore, create_keystore, unlock_with_password
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.demo import DEMO_PASSWORD

NEW_PASSWORD = "saffron glacier pewter meadow lantern"


def _recovery_sheet(ctx, email: str) -> bytes:
    """The demo does not show its people's recovery words: the account's keystore is
    sealed again, with the same keys, under a recovery key the test then holds (as
    the person's printed sheet would)."""
    with ctx.sessions.begin() as db:
        account = db.scalar(select(Account).where(Account.email == email))
        keys = unlock_with_password(Keystore.decode(account.keystore), DEMO_PASSWORD)
        new = create_keystore(DEMO_PASSWORD, keys=keys, params=FAST_ARGON2.with_new_salt())
        account.keystore = new.keystore.encode()
        account.password_hash = ctx.hasher.hash(new.auth_secret)
    return new.recovery_key


def _recover(config, server, email, outbox, factor_code, words: str):
    uhs = spawn_uhs(["account", "recover", "--email", email], config, server)
    uhs.expect("Recovery code from the e-mail: ")
    code = outbox.last_code(email, "recovery code")
    uhs.sendline(code)
    uhs.expect("authenticator app")
    assert code not in uhs.before  # not echoed
    uhs.sendline(factor_code)
    uhs.expect("recovery words")
    uhs.sendline(words)
    return uhs


def test_recovered_with_the_words_the_old_documents_open_with_the_new_password(
    demo, signed_in, live_server, ctx, clock, outbox, tmp_path
):
    martin, durand = signed_in
    paul = demo["kine.durand"]
    recovery_key = _recovery_sheet(ctx, paul.email)
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan kinesitherapique: amplitude du genou 110 degres.\n")
    document_id = send(report, martin, live_server, "--title", "Bilan")

    clock.advance(seconds=30)
    words = " ".join(to_words(recovery_key))
    uhs = _recover(
        durand, live_server, paul.email, outbox, oathtool(paul.totp_secret, clock.now), words
    )
    assert words not in uhs.before  # not echoed
    uhs.expect("Password")
    uhs.sendline(NEW_PASSWORD)
    uhs.expect("Password again")
    uhs.sendline(NEW_PASSWORD)
    status, output = finished(uhs)
    assert status == 0, output
    assert "Password replaced" in output

    # The old password signs in no more; the new one does, and opens the old document.
    clock.advance(seconds=30)
    old = spawn_uhs(["login", "--email", paul.email], durand, live_server)
    old.expect("Password")
    old.sendline(DEMO_PASSWORD)
    status, output = finished(old)
    assert status == 4, output
    clock.advance(seconds=30)
    login = spawn_uhs(["login", "--email", paul.email], durand, live_server)
    login.expect("Password")
    login.sendline(NEW_PASSWORD)
    login.expect("authenticator app")
    login.sendline(oathtool(paul.totp_secret, clock.now))
    status, output = finished(login)
    assert status == 0, output
    received = tmp_path / "received"
    received.mkdir()
    get = spawn_uhs(["get", document_id, "-o", str(received)], durand, live_server)
    get.expect("Password")
    get.sendline(NEW_PASSWORD)
    status, output = finished(get)
    assert status == 0, output
    assert (received / "bilan.txt").read_text() == report.read_text()


def test_without_the_words_the_person_is_told_what_is_lost_and_what_to_do(
    demo, live_server, ctx, clock, outbox, tmp_path
):
    paul = demo["kine.durand"]
    other_key = create_keystore("someone else entirely", params=FAST_ARGON2.with_new_salt())
    clock.advance(seconds=30)
    uhs = _recover(
        tmp_path / "config",
        live_server,
        paul.email,
        outbox,
        oathtool(paul.totp_secret, clock.now),
        " ".join(to_words(other_key.recovery_key)),  # real words, another account's
    )
    uhs.expect("not the recovery key of this account")
    uhs.expect("recovery words")
    uhs.sendline("")  # no longer has them
    status, output = finished(uhs)
    assert status == 12, output  # exit_codes.WRONG_PASSWORD
    flat = " ".join(output.split())
    assert " ".join(WITHOUT_WORDS.split()[:8]) in flat
    assert "share them again" in flat
    # Nothing changed: the demo password still opens the account.
    with ctx.sessions() as db:
        account = db.scalar(select(Account).where(Account.email == paul.email))
        unlock_with_password(Keystore.decode(account.keystore), DEMO_PASSWORD)
