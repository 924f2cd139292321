"""Commands about the key directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from uhealthsec.client.cli import exit_codes
from uhealthsec.client.cli._common import (
    JsonOutput,
    Refused,
    SignedIn,
    connection,
    console,
    notices,
    open_store,
    print_json,
    progress_bar,
    show_recovery_key,
    signed_in_client,
    stepped_up_token,
)
from uhealthsec.client.cli.passwords import read_password
from uhealthsec.client.cli.unlock import lock_agent
from uhealthsec.terminal import command_line

if TYPE_CHECKING:
    from uhealthsec.client.exchange import ExchangeClient
    from uhealthsec.client.exchange.rotation import Rewrapped

keys_app = command_line(help="The key directory: check the keys you use.")


@keys_app.command("verify")
def keys_verify(
    email: str | None = typer.Argument(None, help="Someone's address (default: yours)."),
    as_json: JsonOutput = False,
) -> None:
    """Check the directory against what this device saw, and show the safety number
    you and that person compare, in person or by phone: both screens show the same
    twelve groups of digits (without an address: your own key's number)."""
    from uhealthsec.crypto.directory import pair_safety_number

    with signed_in_client(unlock=False) as client:
        head = client.directory.refresh()
        mine = client.my_entry()
        entry = client.directory.lookup(email) if email else mine
    with_someone = entry.entry.email != mine.entry.email
    number = (
        pair_safety_number(mine.entry, entry.entry) if with_someone else entry.entry.safety_number()
    )
    if as_json:
        print_json(
            {
                "email": entry.entry.email,
                "entry": entry.index,
                "key_version": entry.entry.key_version,
                "safety_number": number,
                "between": sorted({mine.entry.email, entry.entry.email}),
                "directory_size": head.size,
            }
        )
        return
    console.print(
        f"Key directory verified: {head.size} entries, consistent with what this device saw before."
    )
    console.print(
        f"{entry.entry.email} (entry {entry.index}, key version {entry.entry.key_version})"
    )
    groups = number.split(" ")
    if not with_someone:
        console.print(f"Your key's safety number: [bold]{number}[/bold]")
        return
    console.print(f"Safety number of {mine.entry.email} and {entry.entry.email}:")
    console.print(f"  [bold]{' '.join(groups[:6])}[/bold]")
    console.print(f"  [bold]{' '.join(groups[6:])}[/bold]")
    console.print(
        f"{entry.entry.email} sees the same digits with `uhs keys verify {mine.entry.email}`. "
        "Compare them in person or by phone: if one differs, send nothing to this "
        "address and tell your practice's admin.",
        soft_wrap=True,
    )


@keys_app.command("rotate")
def keys_rotate(
    compromised: bool = typer.Option(
        False,
        "--compromised",
        help="You think someone got your keys (a lost or infected device): also wrap "
        "every document's and message's key the server holds for you again, to the new "
        "keys (as `uhs keys rewrap`).",
    ),
) -> None:
    """Replace your keys with new ones made on this device. The directory publishes
    them with a statement your current keys sign, so your correspondents' devices take
    them; documents wrapped to your former keys stay readable (they are kept, sealed in
    your keystore). You get new recovery words; your other devices are signed out and
    your safety numbers change: compare them again with the people you check keys with."""
    from uhealthsec.client.exchange import ExchangeClient
    from uhealthsec.client.logs import LogPin
    from uhealthsec.crypto.errors import WrongPassword
    from uhealthsec.crypto.keystore import unlock_with_password

    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        keystore = signed_in.auth.keystore(signed_in.token())
        password = read_password("Password (unlocks your keys)")
        with notices.status("Unlocking your keys…"):
            try:
                keys = unlock_with_password(keystore, password)
            except WrongPassword as exc:
                raise Refused("wrong password", exit_codes.WRONG_PASSWORD) from exc
        recent = stepped_up_token(signed_in)

        def remember(pin: LogPin) -> None:
            profile.directory = pin.to_dict()
            store.save(profile)

        client = ExchangeClient(http, lambda: recent, keys, LogPin(**profile.directory), remember)
        with notices.status("Making and publishing your new keys…"):
            rotation = client.rotate_keys(password)
        number = client.my_entry().entry.safety_number()
        rewrapped = _rewrap(client) if compromised else None
    lock_agent()  # it holds the former keys: `uhs unlock` again keeps the new ones
    show_recovery_key(rotation.recovery_key)
    console.print(
        f"[green]Keys replaced:[/green] key version {rotation.key_version} "
        f"(directory entry {rotation.index}). Your other devices are signed out."
    )
    console.print(f"Your new key's safety number: [bold]{number}[/bold]")
    if rewrapped is not None:
        _say_rewrapped(rewrapped)


@keys_app.command("rewrap")
def keys_rewrap() -> None:
    """After replacing your keys because someone may have got the former ones: wrap
    again to your new keys every document's and message's key the server holds for you
    wrapped to the former ones, so that the server's copies no longer open with the
    stolen keys. Asks for a second factor. Safe to run again: it goes on where it
    stopped. It cannot take back what a thief already downloaded: ask the authors of
    sensitive documents for a new version (`uhs update`)."""
    with signed_in_client(stepped_up=True) as client:
        rewrapped = _rewrap(client)
    _say_rewrapped(rewrapped)


def _rewrap(client: ExchangeClient) -> Rewrapped:
    with notices.status("Wrapping your documents' and messages' keys again…"):
        return client.rewrap_to_current_keys()


def _say_rewrapped(rewrapped: Rewrapped) -> None:
    console.print(
        f"[green]Wrapped again to your new keys:[/green] {rewrapped.versions} document "
        f"version(s), {rewrapped.messages} message(s). The server no longer holds a copy "
        "your former keys open."
    )
    if rewrapped.unopened:
        console.print(
            f"[yellow]{rewrapped.unopened} key(s) opened with none of your keys[/yellow] "
            "(not for you, or changed on the server): left as they are."
        )


@keys_app.command("audit")
def keys_audit(as_json: JsonOutput = False) -> None:
    """Replay the whole key directory as a monitor: every entry proven, one set of keys
    per account and per address, every map the server committed to recomputed. Only
    the accounts the operator lists as monitors (UHS_DIRECTORY_MONITORS) may read every
    entry."""
    from uhealthsec.client.directory import audit

    with signed_in_client(unlock=False) as client:
        head = client.directory.refresh()
        with progress_bar("Checking the key directory", counting="entries") as progress:
            result = audit(client.call, head, progress)
    if as_json:  # the problems too: a monitor's script reports them
        print_json(
            {
                "size": result.size,
                "accounts": result.accounts,
                "commitments": result.commitments,
                "problems": result.problems,
            }
        )
    for problem in result.problems:
        notices.print(f"[red]{problem}[/red]", soft_wrap=True)
    if result.problems:
        raise Refused(
            f"the key directory is not consistent ({len(result.problems)} problems): "
            "tell the server's operator and your security contact"
        )
    if as_json:
        return
    console.print(
        f"[green]Key directory audited:[/green] {result.size} entries, "
        f"{result.accounts} accounts, {result.commitments} maps, all consistent."
    )
