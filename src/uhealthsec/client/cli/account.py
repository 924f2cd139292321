"""Commands of the account: register, password, e-mail, sign-in and its sessions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from uhealthsec.client import DEFAULT_SERVER
from uhealthsec.client.cli import exit_codes
from uhealthsec.client.cli._common import (
    JsonOutput,
    Refused,
    SignedIn,
    changes_made,
    connection,
    console,
    notices,
    open_store,
    print_json,
    resolve_id,
    show_recovery_key,
    stepped_up_token,
    usage_error,
)
from uhealthsec.client.cli.passwords import ask_code, ask_hidden, from_script, read_password
from uhealthsec.client.cli.unlock import lock_agent
from uhealthsec.terminal import command_line

if TYPE_CHECKING:
    from uhealthsec.client.api import AuthClient, LoginState


sessions_app = command_line(help="Devices signed in to your account.", invoke_without_command=True)
account_app = command_line(help="Your account, when you cannot sign in.")

#: What a person who lost the recovery words is told (issue 21: no one can open the
#: keys without the password or the words, and the server never could).
WITHOUT_WORDS = (
    "Without your 24 recovery words, your documents cannot be recovered: they are "
    "encrypted to keys that only your password or your recovery words open, and "
    "nobody, not even U-HealthSec or your practice, holds a copy. Create a new account "
    "with uhs register, and ask the practitioners who shared documents with you to "
    "share them again with your new account."
)


def register(
    email: str | None = typer.Option(
        None, help="Your e-mail address (asked if missing).", metavar="EMAIL"
    ),
    name: str | None = typer.Option(
        None, help="Name shown to your contacts (asked if missing).", metavar="NAME"
    ),
    kind: str = typer.Option(
        "practitioner", help="practitioner or patient.", metavar="practitioner|patient"
    ),
    rpps: str | None = typer.Option(
        None, help="Your RPPS number (11 digits), if you have one.", metavar="RPPS"
    ),
    invitation: str | None = typer.Option(
        None, help="The code of a practice's invitation.", metavar="CODE"
    ),
    server: str | None = typer.Option(
        None,
        envvar="UHS_SERVER",
        help=f"Server address [default: {DEFAULT_SERVER}].",
        metavar="URL",
    ),
) -> None:
    """Create an account. Your keys are made here, on this device."""
    server = server or DEFAULT_SERVER
    from uhealthsec.client.api import AuthClient, WeakPassword
    from uhealthsec.client.cli.practice import show_notice
    from uhealthsec.client.profile import Profile

    if kind not in ("practitioner", "patient"):
        raise usage_error("--kind is practitioner or patient")
    # Asked on stderr: stdout is for results.
    email = email or typer.prompt("Email", err=True)
    name = name or typer.prompt("Your name", err=True)
    password = _new_password(email, name)
    notice_version = None
    with connection(server) as http:
        if invitation and kind == "patient":
            # The practice's notice, read before joining it (R11).
            notice = AuthClient(http).invitation_notice(invitation)
            if notice.for_patient:
                show_notice(notice)
                notice_version = notice.version
    with connection(server) as http, notices.status("Making your keys…"):
        try:
            new = AuthClient(http).register(
                email,
                password,
                name,
                kind,
                rpps=rpps,
                invitation=invitation,
                notice_version=notice_version,
            )
        except WeakPassword as exc:  # checked above; kept for a changed rule
            raise Refused(str(exc)) from exc
    # A "no" below cancels only this device's part: the server has the account.
    changes_made.append(f"the account {email} was created on the server")
    show_recovery_key(new.recovery_key)
    store = open_store()
    store.save(Profile(server=server, email=email))
    if invitation:
        console.print("Account created. Sign in with [bold]uhs login[/bold].")
    else:
        console.print(
            f"Account created. We sent a code to {email}: run "
            "[bold]uhs verify-email[/bold] (it asks for the code), then [bold]uhs login[/bold]."
        )


def _new_password(email: str, name: str, *, scripted: bool = True) -> str:
    """A new password, checked here; from the script's source if ``scripted`` and it
    has one (`uhs register`), else asked twice."""
    from uhealthsec.client.passwords import check_new_password

    if scripted and from_script():  # no one to ask it twice
        password = read_password("Password")
        verdict = check_new_password(password, (email, name))
        if not verdict.acceptable:
            raise Refused(f"the password given is refused: {verdict.reason}")
        return password
    notices.print("Choose a password of at least 12 characters, for example five unrelated words.")
    for _ in range(3):
        password = ask_hidden("Password")
        verdict = check_new_password(password, (email, name))
        if not verdict.acceptable:
            notices.print(f"[yellow]{verdict.reason}[/yellow]")
            continue
        if ask_hidden("Password again") != password:
            notices.print("[yellow]The two passwords differ.[/yellow]")
            continue
        return password
    raise Refused("no acceptable password chosen")


def password_change() -> None:
    """Change your password: your keys are re-sealed on this device; other devices are
    signed out."""
    from uhealthsec.crypto.errors import WrongPassword

    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        me = signed_in.call("GET", "/accounts/me").json()
        current = read_password("Current password")
        # The script's source gives the current password; the new one is asked.
        new = _new_password(me["email"], me["display_name"], scripted=False)
        auth = signed_in.auth
        try:
            recent = stepped_up_token(signed_in)
            with notices.status("Re-sealing your keys…"):
                auth.change_password(recent, current, new, (me["email"], me["display_name"]))
        except WrongPassword as exc:
            raise Refused(
                "the current password is not the right one", exit_codes.WRONG_PASSWORD
            ) from exc
    console.print("[green]Password changed.[/green] Your other devices are signed out.")


@account_app.command("recover")
def recover(
    email: str | None = typer.Option(None, help="Your e-mail address.", metavar="EMAIL"),
    server: str | None = typer.Option(
        None, envvar="UHS_SERVER", help="Server address.", metavar="URL"
    ),
) -> None:
    """Replace a forgotten password with your 24 recovery words, a code we mail you and
    your second factor. Your keys are re-sealed on this device; every device is signed
    out."""
    from uhealthsec.client.api import ApiError, AuthClient
    from uhealthsec.crypto.keystore import unlock_with_recovery_key

    store = open_store()
    profile = store.load()
    address = email or typer.prompt("E-mail", default=profile.email or None, err=True)
    with connection(server or profile.server) as http:
        auth = AuthClient(http)
        auth.start_password_recovery(address)
        notices.print(
            f"If an account uses {address}, we mailed it a recovery code (valid 15 minutes)."
        )
        code = ask_code("Recovery code from the e-mail", "the recovery code from the e-mail")
        proof = _ask_second_factor("6-digit code from your authenticator app, or a recovery code")
        recovery = auth.prove_password_recovery(address, code.strip(), proof)
        recovery_key = _recovery_words(lambda key: unlock_with_recovery_key(recovery.keystore, key))
        new = _new_password(address, "", scripted=False)
        try:
            with notices.status("Re-sealing your keys…"):
                auth.finish_password_recovery(recovery, recovery_key, new, (address,))
        except ApiError as exc:
            raise Refused(f"the password was not replaced: {exc.detail}") from exc
    if profile.email == address:
        profile.forget_tokens()
        store.save(profile)
        lock_agent()
    console.print(
        "[green]Password replaced.[/green] Every device was signed out: sign in with "
        "[bold]uhs login[/bold] and your new password."
    )


def _recovery_words(opens: Callable[[bytes], object]) -> bytes:
    """The recovery key, from its 24 words asked without echo; checked here against
    the keystore (``opens``), so wrong words never reach the server."""
    from uhealthsec.client.recovery import from_words
    from uhealthsec.crypto.errors import MalformedInput, WrongPassword

    for _ in range(3):
        text = ask_hidden("Your 24 recovery words (empty if you no longer have them)")
        if not text.strip():
            break
        try:
            key = from_words(text)
            opens(key)
            return key
        except MalformedInput as exc:
            notices.print(f"[yellow]{exc}[/yellow]")
        except WrongPassword:
            notices.print("[yellow]These words are not the recovery key of this account.[/yellow]")
    raise Refused(WITHOUT_WORDS, exit_codes.WRONG_PASSWORD)


def verify_email(
    code: str | None = typer.Argument(
        None,
        help=(
            "The code from the e-mail we sent you; without it, it is asked (or read from "
            "stdin), out of the arguments other users see and of the shell's history."
        ),
    ),
    email: str | None = typer.Option(None, help="Your e-mail address.", metavar="EMAIL"),
    server: str | None = typer.Option(
        None, envvar="UHS_SERVER", help="Server address.", metavar="URL"
    ),
) -> None:
    """Confirm your e-mail address (with the password you registered with)."""
    from uhealthsec.client.api import AuthClient

    profile = open_store().load()
    address = email or profile.email or typer.prompt("E-mail address", err=True)
    if code is None:
        code = ask_code("Code from the e-mail", "the code from the e-mail")
    password = read_password("Password")
    with connection(server or profile.server) as http:
        AuthClient(http).verify_email(code.strip(), address, password)
    notices.print("Address confirmed. Sign in with [bold]uhs login[/bold].")


# -- sign-in ------------------------------------------------------------------------------


def login(
    email: str | None = typer.Option(None, help="Your e-mail address.", metavar="EMAIL"),
    professional: bool = typer.Option(
        False, "--professional", help="Sign in with your e-CPS (Pro Santé Connect) in a browser."
    ),
    server: str | None = typer.Option(
        None, envvar="UHS_SERVER", help="Server address.", metavar="URL"
    ),
) -> None:
    """Sign in on this device: password and a second factor, or your e-CPS."""
    import platform

    from uhealthsec.client.api import AuthClient, SecondFactorRequired

    store = open_store()
    profile = store.load()
    # A new session replaces this profile's: the keys the one before unlocked go with it.
    lock_agent()
    if server and server != profile.server:
        profile.directory = profile.journal = {}  # another server: other logs
    profile.server = server or profile.server
    device = f"uhs on {platform.node() or 'this computer'}"
    with connection(profile.server) as http:
        if professional:
            from uhealthsec.client.cli._browser_login import professional_login

            tokens = professional_login(http, device)
        else:
            profile.email = email or typer.prompt("E-mail", default=profile.email or None, err=True)
            password = read_password("Password")
            auth = AuthClient(http)
            try:
                with notices.status("Checking your password…"):
                    state = auth.start_login(profile.email, password)
            except SecondFactorRequired as exc:
                notices.print(f"[yellow]{exc.detail}[/yellow]")
                code = typer.prompt(
                    "6-digit code from your app, or a recovery code", err=True
                ).strip()
                proof = {"totp_code" if code.isdigit() else "recovery_code": code}
                with notices.status("Checking your password…"):
                    state = auth.start_login(profile.email, password, second_factor=proof)
            if state.enrolment_required:
                _enrol_first_factor(auth, state)
            elif not state.complete:
                _prove_second_factor(auth, state)
            tokens = auth.authorize(state, device_name=device)
    profile.store_tokens(tokens)
    store.save(profile)
    notices.print("[green]Signed in.[/green]")


def _enrol_first_factor(auth: AuthClient, state: LoginState) -> None:
    import segno
    from rich.panel import Panel

    from uhealthsec.client.api import ApiError

    enrolment = auth.enrol_totp(state)
    console.print(
        "Your account needs a second factor. Scan this QR code with an authenticator app "
        "(Aegis, FreeOTP, Google Authenticator, …):"
    )
    segno.make(enrolment["otpauth_uri"], error="m").terminal(compact=True)
    console.print(f"Or type this key into the app: [bold]{enrolment['secret']}[/bold]")
    for attempt in range(3):
        code = typer.prompt("6-digit code shown by the app", err=True).strip().replace(" ", "")
        try:
            codes = auth.confirm_totp(state, code)
            break
        except ApiError as exc:
            if exc.status != 401 or attempt == 2:
                raise
            notices.print(f"[yellow]{exc.detail}[/yellow]")
    console.print(
        Panel(
            "\n".join(codes),
            title="Recovery codes",
            subtitle="each works once, if you lose your phone",
        )
    )
    console.print("Keep them somewhere safe, away from this computer.")


def _ask_second_factor(question: str) -> dict[str, str]:
    """The second factor typed at ``question``, as the server's field for it: six
    digits (perhaps spaced) are a code of the authenticator app, anything else a
    recovery code."""
    answer = typer.prompt(question, err=True).strip()
    if re.fullmatch(r"[0-9 ]{6,7}", answer):
        return {"totp_code": answer.replace(" ", "")}
    return {"recovery_code": answer}


def _prove_second_factor(auth: AuthClient, state: LoginState) -> None:
    from uhealthsec.client.api import ApiError

    if "totp" not in state.methods:
        console.print(
            "This account signs in with a passkey, which needs the web client; "
            "a recovery code works here too."
        )
    for attempt in range(3):
        proof = _ask_second_factor("Code from your authenticator app (or a recovery code)")
        try:
            auth.second_factor(state, **proof)
            return
        except ApiError as exc:
            if exc.status != 401 or attempt == 2:
                raise
            notices.print(f"[yellow]{exc.detail}[/yellow]")


def logout() -> None:
    """Sign this device out; its tokens stop working at once."""
    from uhealthsec.client.api import AuthClient

    store = open_store()
    profile = store.load()
    # Unlocked keys do not outlive the session that unlocked them.
    lock_agent()
    if not profile.signed_in:
        console.print("Not signed in.")
        return
    try:
        with connection(profile.server) as http:
            AuthClient(http).revoke(profile.tokens)
    finally:
        profile.forget_tokens()
        store.save(profile)
    console.print("Signed out.")


def whoami(as_json: JsonOutput = False) -> None:
    """Show the account signed in on this device."""
    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        me = SignedIn(http, profile, store).call("GET", "/accounts/me").json()
    if as_json:
        print_json(me)
        return
    console.print(f"{me['display_name']} <{me['email']}> ({me['kind']})")
    if me.get("rpps"):
        console.print(f"RPPS {me['rpps']}")


# -- sessions -----------------------------------------------------------------------------


@sessions_app.callback()
def sessions(ctx: typer.Context, as_json: JsonOutput = False) -> None:
    """List the devices signed in to your account."""
    from rich.table import Table

    if ctx.invoked_subcommand is not None:
        return
    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        rows = SignedIn(http, profile, store).call("GET", "/auth/sessions").json()
    if as_json:
        print_json(rows)
        return
    table = Table(caption="* this device")
    table.add_column("Id", no_wrap=True, min_width=37)
    table.add_column("Device")
    table.add_column("Last used", no_wrap=True)
    for row in rows:
        table.add_row(
            row["id"] + ("*" if row["current"] else ""),
            row["device_name"] or row["client_id"],
            row["last_used_at"][:16].replace("T", " "),
        )
    console.print(table)


@sessions_app.command("revoke")
def revoke_session(
    session_id: str = typer.Argument(..., help="Id from `uhs sessions`, or its first characters."),
) -> None:
    """Sign another device out."""
    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        chosen = resolve_id(
            session_id,
            lambda: (str(s["id"]) for s in signed_in.call("GET", "/auth/sessions").json()),
            "session",
        )
        signed_in.call("DELETE", f"/auth/sessions/{chosen}")
    console.print("That device is signed out.")


# -- documents ----------------------------------------------------------------------------
