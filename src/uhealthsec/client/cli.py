"""The ``uhs`` command line."""

from __future__ import annotations

import http.server
import json
import platform
import re
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx2
import segno
import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from uhealthsec import __version__
from uhealthsec.client.api import (
    ApiError,
    AuthClient,
    LoginState,
    SecondFactorRequired,
    WeakPassword,
    check_response,
    http_client,
)
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.directory import VerifiedEntry, audit
from uhealthsec.client.exchange import (
    ExchangeClient,
    ExchangeRefused,
    MessagingClient,
    RevokedReader,
)
from uhealthsec.client.journal import (
    ChainPin,
    JournalClient,
    Witness,
    load_or_create_witness_key,
)
from uhealthsec.client.logs import LogPin, LogRefused
from uhealthsec.client.passwords import check_new_password
from uhealthsec.client.portability import export_bundle
from uhealthsec.client.profile import DEFAULT_SERVER, Profile, ProfileStore
from uhealthsec.client.proof_of_work import UnsolvableChallenge
from uhealthsec.client.recovery import to_words
from uhealthsec.client.rights import RightsClient
from uhealthsec.client.state_files import write_atomically
from uhealthsec.crypto.errors import ParametersAboveBudget, WrongPassword
from uhealthsec.crypto.keystore import unlock_with_password
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.protocol.oauth import CLI_REDIRECT_URI

app = typer.Typer(help="U-HealthSec: secure exchange of patient documents.", no_args_is_help=True)
sessions_app = typer.Typer(help="Devices signed in to your account.", invoke_without_command=True)
app.add_typer(sessions_app, name="sessions")
console = Console(highlight=False)

#: Refresh the access token when it has less than this many seconds left.
_REFRESH_MARGIN = 30
_BROWSER_WAIT_SECONDS = 300


class Refused(typer.Exit):
    """Print why, then leave with status 1."""

    def __init__(self, message: str) -> None:
        console.print(f"[red]Refused:[/red] {message}")
        super().__init__(code=1)


@contextmanager
def _connection(server: str) -> Iterator[httpx2.Client]:
    try:
        with http_client(server, timeout=30.0) as http:
            yield http
    except httpx2.ConnectError as exc:
        raise Refused(f"cannot reach the server at {server}: is it running?") from exc
    except ApiError as exc:
        raise Refused(exc.detail) from exc
    except (LogRefused, ExchangeRefused) as exc:
        raise Refused(str(exc)) from exc
    except ParametersAboveBudget as exc:
        # The server chose what deriving from the password would cost: not paid.
        raise Refused(f"the server's sign-in parameters were refused: {exc}") from exc
    except UnsolvableChallenge as exc:
        # The server chose what its proof of work would cost: not paid above our bounds.
        raise Refused(f"the server's proof of work was refused: {exc}") from exc


def _store() -> ProfileStore:
    return ProfileStore()


class SignedIn:
    """Calls made with the profile's tokens: the access token is refreshed before it
    expires, and the rotated tokens are saved at once (an old refresh token presented
    again would end the session)."""

    def __init__(self, http: httpx2.Client, profile: Profile, store: ProfileStore) -> None:
        if not profile.signed_in:
            raise Refused("you are not signed in: run `uhs login`")
        self.auth = AuthClient(http)
        self.profile = profile
        self.store = store

    def token(self) -> str:
        if self.profile.expires_at - time.time() < _REFRESH_MARGIN:
            try:
                tokens = self.auth.refresh(self.profile.tokens)
            except ApiError as exc:
                self.profile.forget_tokens()
                self.store.save(self.profile)
                raise Refused("your session has ended: run `uhs login` again") from exc
            self.profile.store_tokens(tokens)
            self.store.save(self.profile)
        return self.profile.access_token

    def call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        headers = AuthClient.bearer(self.token())
        return check_response(self.auth.http.request(method, path, headers=headers, **kwargs))


# -- account ------------------------------------------------------------------------------


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"uhealthsec {__version__}")


@app.command()
def register(
    email: str = typer.Option(..., prompt=True, help="Your e-mail address."),
    name: str = typer.Option(..., prompt="Your name", help="Name shown to your contacts."),
    kind: str = typer.Option("practitioner", help="practitioner or patient."),
    rpps: str | None = typer.Option(None, help="Your RPPS number (11 digits), if you have one."),
    invitation: str | None = typer.Option(None, help="The code of a practice's invitation."),
    server: str = typer.Option(DEFAULT_SERVER, envvar="UHS_SERVER", help="Server address."),
) -> None:
    """Create an account. Your keys are made here, on this device."""
    if kind not in ("practitioner", "patient"):
        raise Refused("--kind is practitioner or patient")
    password = _new_password(email, name)
    with _connection(server) as http, console.status("Making your keys…"):
        try:
            new = AuthClient(http).register(
                email, password, name, kind, rpps=rpps, invitation=invitation
            )
        except WeakPassword as exc:  # checked above; kept for a changed rule
            raise Refused(str(exc)) from exc
    words = to_words(new.recovery_key)
    lines = "\n".join(
        "  ".join(f"{i + 1:>2}. {w:<10}" for i, w in enumerate(words) if i // 6 == row)
        for row in range(4)
    )
    console.print(
        Panel(
            lines,
            title="Your recovery key",
            subtitle="write it down and keep it safe",
        )
    )
    console.print(
        "These 24 words are the only way back to your documents if you forget your password."
        " Nobody, not even U-HealthSec, can recover them for you."
    )
    typer.confirm("Have you written them down?", default=False, abort=True)
    store = _store()
    store.save(Profile(server=server, email=email))
    if invitation:
        console.print("Account created. Sign in with [bold]uhs login[/bold].")
    else:
        console.print(
            f"Account created. We sent a code to {email}: run "
            "[bold]uhs verify-email CODE[/bold], then [bold]uhs login[/bold]."
        )


def _new_password(email: str, name: str) -> str:
    console.print("Choose a password of at least 12 characters, for example four unrelated words.")
    for _ in range(3):
        password: str = typer.prompt("Password", hide_input=True)
        verdict = check_new_password(password, (email, name))
        if not verdict.acceptable:
            console.print(f"[yellow]{verdict.reason}[/yellow]")
            continue
        if typer.prompt("Password again", hide_input=True) != password:
            console.print("[yellow]The two passwords differ.[/yellow]")
            continue
        return password
    raise Refused("no acceptable password chosen")


@app.command("password")
def password_change() -> None:
    """Change your password: your keys are re-sealed on this device; other devices are
    signed out."""
    store = _store()
    profile = store.load()
    with _connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        me = signed_in.call("GET", "/accounts/me").json()
        current: str = typer.prompt("Current password", hide_input=True)
        new = _new_password(me["email"], me["display_name"])
        code = typer.prompt("6-digit code from your app, or a recovery code").strip()
        proof = {"totp_code" if code.isdigit() else "recovery_code": code}
        auth = signed_in.auth
        try:
            recent = auth.step_up(signed_in.token(), **proof)
            with console.status("Re-sealing your keys…"):
                auth.change_password(recent, current, new, (me["email"], me["display_name"]))
        except WrongPassword as exc:
            raise Refused("the current password is not the right one") from exc
    console.print("[green]Password changed.[/green] Your other devices are signed out.")


@app.command("verify-email")
def verify_email(
    code: str = typer.Argument(..., help="The code from the e-mail we sent you."),
    email: str | None = typer.Option(None, help="Your e-mail address."),
    server: str | None = typer.Option(None, envvar="UHS_SERVER", help="Server address."),
) -> None:
    """Confirm your e-mail address (with the password you registered with)."""
    profile = _store().load()
    address = email or profile.email or typer.prompt("E-mail address")
    password: str = typer.prompt("Password", hide_input=True)
    with _connection(server or profile.server) as http:
        AuthClient(http).verify_email(code.strip(), address, password)
    console.print("Address confirmed. Sign in with [bold]uhs login[/bold].")


# -- sign-in ------------------------------------------------------------------------------


@app.command()
def login(
    email: str | None = typer.Option(None, help="Your e-mail address."),
    professional: bool = typer.Option(
        False, "--professional", help="Sign in with your e-CPS (Pro Santé Connect) in a browser."
    ),
    server: str | None = typer.Option(None, envvar="UHS_SERVER", help="Server address."),
) -> None:
    """Sign in on this device: password and a second factor, or your e-CPS."""
    store = _store()
    profile = store.load()
    if server and server != profile.server:
        profile.directory = profile.journal = {}  # another server: other logs
    profile.server = server or profile.server
    device = f"uhs on {platform.node() or 'this computer'}"
    with _connection(profile.server) as http:
        if professional:
            tokens = _professional_login(http, device)
        else:
            profile.email = email or typer.prompt("E-mail", default=profile.email or None)
            password: str = typer.prompt("Password", hide_input=True)
            auth = AuthClient(http)
            try:
                with console.status("Checking your password…"):
                    state = auth.start_login(profile.email, password)
            except SecondFactorRequired as exc:
                console.print(f"[yellow]{exc.detail}[/yellow]")
                code = typer.prompt("6-digit code from your app, or a recovery code").strip()
                proof = {"totp_code" if code.isdigit() else "recovery_code": code}
                with console.status("Checking your password…"):
                    state = auth.start_login(profile.email, password, second_factor=proof)
            if state.enrolment_required:
                _enrol_first_factor(auth, state)
            elif not state.complete:
                _prove_second_factor(auth, state)
            tokens = auth.authorize(state, device_name=device)
    profile.store_tokens(tokens)
    store.save(profile)
    console.print("[green]Signed in.[/green]")


def _enrol_first_factor(auth: AuthClient, state: LoginState) -> None:
    enrolment = auth.enrol_totp(state)
    console.print(
        "Your account needs a second factor. Scan this QR code with an authenticator app "
        "(Aegis, FreeOTP, Google Authenticator, …):"
    )
    segno.make(enrolment["otpauth_uri"], error="m").terminal(compact=True)
    console.print(f"Or type this key into the app: [bold]{enrolment['secret']}[/bold]")
    for attempt in range(3):
        code = typer.prompt("6-digit code shown by the app").strip().replace(" ", "")
        try:
            codes = auth.confirm_totp(state, code)
            break
        except ApiError as exc:
            if exc.status != 401 or attempt == 2:
                raise
            console.print(f"[yellow]{exc.detail}[/yellow]")
    console.print(
        Panel(
            "\n".join(codes),
            title="Recovery codes",
            subtitle="each works once, if you lose your phone",
        )
    )
    console.print("Keep them somewhere safe, away from this computer.")


def _prove_second_factor(auth: AuthClient, state: LoginState) -> None:
    if "totp" not in state.methods:
        console.print(
            "This account signs in with a passkey, which needs the web client; "
            "a recovery code works here too."
        )
    for attempt in range(3):
        answer = typer.prompt("Code from your authenticator app (or a recovery code)").strip()
        proof = (
            {"totp_code": answer.replace(" ", "")}
            if re.fullmatch(r"[0-9 ]{6,7}", answer)
            else {"recovery_code": answer}
        )
        try:
            auth.second_factor(state, **proof)
            return
        except ApiError as exc:
            if exc.status != 401 or attempt == 2:
                raise
            console.print(f"[yellow]{exc.detail}[/yellow]")


class _LoopbackCallback(http.server.BaseHTTPRequestHandler):
    """Receives the browser at http://127.0.0.1:PORT/callback (RFC 8252 §7.3)."""

    landed: str | None = None

    def do_GET(self) -> None:
        if not self.path.startswith("/callback?"):
            self.send_error(404)
            return
        type(self).landed = self.path
        page = b"<!doctype html><title>U-HealthSec</title><p>Done: return to your terminal."
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the URL carries a one-time code: keep it out of the terminal


def _professional_login(http: httpx2.Client, device: str) -> Any:
    handler = type("Callback", (_LoopbackCallback,), {"landed": None})
    with http_server(handler) as port:
        redirect_uri = CLI_REDIRECT_URI.replace("127.0.0.1", f"127.0.0.1:{port}", 1)
        auth = AuthClient(http, redirect_uri=redirect_uri)
        step = auth.federated_login_url(device_name=device)
        console.print("Sign in with your e-CPS in the browser. If it does not open, visit:")
        console.print(step.url, soft_wrap=True)
        webbrowser.open(step.url)
        deadline = time.monotonic() + _BROWSER_WAIT_SECONDS
        with console.status("Waiting for the browser…"):
            while handler.landed is None:
                if time.monotonic() > deadline:
                    raise Refused("no answer from the browser in 5 minutes")
                time.sleep(0.1)
    return auth.finish_federated_login(step, f"{redirect_uri}?{handler.landed.split('?', 1)[1]}")


@contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@app.command()
def logout() -> None:
    """Sign this device out; its tokens stop working at once."""
    store = _store()
    profile = store.load()
    if not profile.signed_in:
        console.print("Not signed in.")
        return
    try:
        with _connection(profile.server) as http:
            AuthClient(http).revoke(profile.tokens)
    finally:
        profile.forget_tokens()
        store.save(profile)
    console.print("Signed out.")


@app.command()
def whoami() -> None:
    """Show the account signed in on this device."""
    store = _store()
    profile = store.load()
    with _connection(profile.server) as http:
        me = SignedIn(http, profile, store).call("GET", "/accounts/me").json()
    console.print(f"{me['display_name']} <{me['email']}> ({me['kind']})")
    if me.get("rpps"):
        console.print(f"RPPS {me['rpps']}")


# -- sessions -----------------------------------------------------------------------------


@sessions_app.callback()
def sessions(ctx: typer.Context) -> None:
    """List the devices signed in to your account."""
    if ctx.invoked_subcommand is not None:
        return
    store = _store()
    profile = store.load()
    with _connection(profile.server) as http:
        rows = SignedIn(http, profile, store).call("GET", "/auth/sessions").json()
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
def revoke_session(session_id: str = typer.Argument(..., help="Id from `uhs sessions`.")) -> None:
    """Sign another device out."""
    store = _store()
    profile = store.load()
    with _connection(profile.server) as http:
        SignedIn(http, profile, store).call("DELETE", f"/auth/sessions/{session_id}")
    console.print("That device is signed out.")


# -- documents ----------------------------------------------------------------------------


@contextmanager
def _exchange(unlock: bool = True) -> Iterator[ExchangeClient]:
    """A signed-in SDK client with the keys unlocked by the password (never stored)."""
    store = _store()
    profile = store.load()
    with _connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        keystore = signed_in.auth.keystore(signed_in.token())
        keys = None
        if unlock:
            password: str = typer.prompt("Password (unlocks your keys)", hide_input=True)
            with console.status("Unlocking your keys…"):
                try:
                    keys = unlock_with_password(keystore, password)
                except WrongPassword as exc:
                    raise Refused("wrong password") from exc

        def remember(pin: LogPin) -> None:
            profile.directory = pin.to_dict()
            store.save(profile)

        def remember_revocation(revoked: RevokedReader) -> None:
            profile.revoked = [*profile.revoked, revoked.to_dict()]
            store.save(profile)

        yield ExchangeClient(
            http,
            signed_in.token,
            keys,
            LogPin(**profile.directory),
            remember,
            public_keys=keystore.public_keys,
            revoked=[RevokedReader.from_dict(r) for r in profile.revoked],
            on_revoke=remember_revocation,
        )


@contextmanager
def _transfer(label: str, *, counting: str = "bytes") -> Iterator[Callable[[int, int], None]]:
    """A progress bar: of bytes (uploads, downloads) or of items (``counting="entries"``)."""
    amount = (
        (DownloadColumn(), TransferSpeedColumn())
        if counting == "bytes"
        else (MofNCompleteColumn(), TextColumn(counting))
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *amount,
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _practice_for(client: ExchangeClient, practice: str | None) -> str:
    if practice:
        return practice
    mine = [
        p for p in client.call("GET", "/practices").json() if p["role"] in ("admin", "practitioner")
    ]
    if len(mine) != 1:
        raise Refused(
            "say which practice with --practice (ids in `uhs practices`)"
            if mine
            else "you are not a practitioner of any practice"
        )
    return str(mine[0]["id"])


_HERE = Path(".")


def _expiry(days: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(days=days) if days else None


@app.command()
def practices() -> None:
    """List your practices."""
    store = _store()
    profile = store.load()
    with _connection(profile.server) as http:
        rows = SignedIn(http, profile, store).call("GET", "/practices").json()
    table = Table()
    table.add_column("Id", no_wrap=True)
    table.add_column("Practice")
    table.add_column("Role")
    for row in rows:
        table.add_row(row["id"], row["name"], row["role"])
    console.print(table)


def _show_recipients(entries: Sequence[VerifiedEntry]) -> None:
    """Who a key is about to be wrapped for, each proven in the key directory, shown
    before anything is encrypted."""
    names = ", ".join(sorted(e.entry.email for e in entries))
    console.print(f"Encrypting for (keys proven in the key directory): {names}")


@app.command()
def send(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    to: Annotated[list[str] | None, typer.Option("--to", help="Recipient (repeatable).")] = None,
    patient: str = typer.Option(..., help="The patient's address: the file it belongs to."),
    title: str | None = typer.Option(None, help="Title shown to recipients (encrypted)."),
    practice: str | None = typer.Option(None, help="Practice id, if you have several."),
    expires_days: int | None = typer.Option(None, "--expires-days", min=1, max=3650),
    share_with_patient: bool = typer.Option(
        False, "--share-with-patient", help="Let the patient read it too."
    ),
) -> None:
    """Encrypt a document on this device, sign it, and send it."""
    with _exchange() as client:
        patient_file = client.patient_file(_practice_for(client, practice), patient)
        recipients = [*(to or []), *([patient] if share_with_patient else [])]
        with _transfer(f"Sending {file.name}") as progress:
            document_id = client.send(
                file,
                patient_file_id=patient_file["id"],
                to=recipients,
                title=title,
                expires_at=_expiry(expires_days),
                progress=progress,
                before_encrypting=_show_recipients,
            )
    readers = ", ".join(recipients) or "you only"
    console.print(f"[green]Sent[/green] {document_id} to {readers}.")


@app.command()
def inbox(limit: int = typer.Option(50, min=1, max=200)) -> None:
    """Documents you can read (titles are decrypted here)."""
    with _exchange() as client:
        documents = client.documents(limit=limit)
        me = client.me["email"]
    if not documents:
        console.print("No documents.")
        return
    for d in documents:
        author = "you" if d.author_email == me else f"{d.author_name} <{d.author_email}>"
        console.print(f"[bold]{d.title}[/bold]  (version {d.version}, {d.created_at:%Y-%m-%d})")
        console.print(f"  from {author}, {_size(d.size)}")
        console.print(f"  id {d.id}", soft_wrap=True)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024**2:.1f} MiB"


@app.command()
def get(
    document_id: str = typer.Argument(..., help="Id from `uhs inbox`."),
    output: Annotated[Path, typer.Option("-o", "--output", help="File or directory.")] = _HERE,
    version: int | None = typer.Option(None, help="A former version (default: the latest)."),
) -> None:
    """Download, verify the author's signature, and decrypt a document."""
    with _exchange() as client, _transfer("Receiving") as progress:
        received = client.fetch(document_id, output, version=version, progress=progress)
    # The proven signer of this version, who may not be the document's first author.
    started = (
        ""
        if received.document_author_email == received.author_email
        else f"; the document was started by {received.document_author_email}"
    )
    console.print(
        f"[green]Saved[/green] {received.path} (version {received.version}, "
        f"signed by {received.author_email}, signature verified{started})."
    )


@app.command()
def share(
    document_id: Annotated[str, typer.Argument(help="Id from `uhs inbox`.")],
    to: Annotated[list[str], typer.Option("--to", help="Address (repeatable).")],
    expires_days: int | None = typer.Option(None, "--expires-days", min=1, max=3650),
) -> None:
    """Let more people read a document (its key is re-wrapped here for them)."""
    with _exchange() as client:
        client.share(
            document_id, to, expires_at=_expiry(expires_days), before_encrypting=_show_recipients
        )
    console.print(f"[green]Shared[/green] with {', '.join(to)}.")


@app.command()
def revoke(
    document_id: str = typer.Argument(...),
    person: str = typer.Option(..., "--from", help="Whose access to end."),
) -> None:
    """End someone's access to a document, at once, with your signed statement that
    you did (the next version's author leaves them out)."""
    with _exchange() as client:
        versions = client.revoke(document_id, person)
    console.print(
        f"[green]Revoked[/green]: {person} can no longer read it ({versions} version(s)). "
        "Send a new version with `uhs update` if they kept a copy of the old key."
    )


@app.command()
def update(
    document_id: Annotated[str, typer.Argument(help="Id from `uhs inbox`.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    title: str | None = typer.Option(None),
    confirm: Annotated[
        list[str] | None,
        typer.Option(
            "--confirm",
            help="A reader of a version signed before readers were signed (repeatable).",
        ),
    ] = None,
) -> None:
    """Send a new version of a document, under a new key, to its current readers (those
    its author or a reader signed for)."""
    with _exchange() as client, _transfer(f"Sending {file.name}") as progress:
        number = client.new_version(
            document_id,
            file,
            title=title,
            progress=progress,
            confirm=confirm or (),
            before_encrypting=_show_recipients,
        )
    console.print(f"[green]Version {number}[/green] sent.")


@app.command()
def threads() -> None:
    """Your conversations, most recent first."""
    with _exchange(unlock=False) as client:
        rows = MessagingClient(client).threads()
        me = client.me["email"]
    if not rows:
        console.print("No conversations.")
    for row in rows:
        others = ", ".join(p["display_name"] for p in row["participants"] if p["email"] != me)
        unread = f", [bold]{row['unread']} unread[/bold]" if row["unread"] else ""
        console.print(f"[bold]{others}[/bold]  ({row['last_seq']} messages{unread})")
        console.print(f"  id {row['id']}", soft_wrap=True)


@app.command()
def write(
    text: Annotated[str, typer.Argument(help="The message.")],
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Start a conversation with (repeatable).")
    ] = None,
    thread: Annotated[str | None, typer.Option(help="Or answer in this conversation.")] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option(exists=True, dir_okay=False, readable=True, help="File to attach."),
    ] = None,
    patient: Annotated[
        str | None, typer.Option(help="The patient whose file attachments belong to.")
    ] = None,
    practice: str | None = typer.Option(None, help="Practice id, if you have several."),
) -> None:
    """Send an end-to-end encrypted message."""
    if bool(to) == bool(thread):
        raise Refused("give either --to (a new conversation) or --thread")
    if attach and not patient:
        raise Refused("attachments are documents of a patient file: add --patient")
    with _exchange() as client:
        messaging = MessagingClient(client)
        thread_id = thread or messaging.start_thread(to or [])["id"]
        patient_file = (
            client.patient_file(_practice_for(client, practice), patient)["id"] if patient else None
        )
        messaging.send(
            thread_id,
            text,
            attachments=attach or [],
            patient_file_id=patient_file,
            before_encrypting=_show_recipients,
        )
    console.print(f"[green]Sent[/green] in conversation {thread_id}.")


@app.command("read")
def read_thread(
    thread: Annotated[str, typer.Argument(help="Id from `uhs threads`.")],
) -> None:
    """Show a conversation (decrypted and checked here) and mark it read."""
    with _exchange() as client:
        messages = MessagingClient(client).read(thread)
        me = client.me["email"]
    for m in messages:
        who = "you" if m.sender_email == me else m.sender_name
        seen = [e for e in m.read_by if e not in (me, m.sender_email)]
        receipt = f"  [dim]read by {', '.join(seen)}[/dim]" if seen else ""
        console.print(f"[bold]{who}[/bold] {m.created_at:%Y-%m-%d %H:%M}{receipt}")
        console.print(f"  {m.text}")
        for a in m.attachments:
            console.print(f"  attachment {a.filename}: uhs get {a.document_id}", soft_wrap=True)


keys_app = typer.Typer(help="The key directory: check the keys you use.")
app.add_typer(keys_app, name="keys")


@keys_app.command("verify")
def keys_verify(
    email: str | None = typer.Argument(None, help="Someone's address (default: yours)."),
) -> None:
    """Check the directory against what this device saw, and show a safety number to
    compare with the person in person or by phone."""
    with _exchange(unlock=False) as client:
        head = client.directory.refresh()
        mine = client.my_entry()
        entry = client.directory.lookup(email) if email else mine
    console.print(
        f"Key directory verified: {head.size} entries, consistent with what this device saw before."
    )
    console.print(
        f"{entry.entry.email} (entry {entry.index}, key version {entry.entry.key_version})"
    )
    console.print(f"Safety number: [bold]{entry.entry.safety_number()}[/bold]")


@keys_app.command("audit")
def keys_audit() -> None:
    """Replay the whole key directory as a monitor: every entry proven, one set of keys
    per account and per address, every map the server committed to recomputed. Only
    the accounts the operator lists as monitors (UHS_DIRECTORY_MONITORS) may read every
    entry."""
    with _exchange(unlock=False) as client:
        head = client.directory.refresh()
        with _transfer("Checking the key directory", counting="entries") as progress:
            result = audit(client.call, head, progress)
    for problem in result.problems:
        console.print(f"[red]{problem}[/red]", soft_wrap=True)
    if result.problems:
        raise Refused(
            f"the key directory is not consistent ({len(result.problems)} problems): "
            "tell the server's operator and your security contact"
        )
    console.print(
        f"[green]Key directory audited:[/green] {result.size} entries, "
        f"{result.accounts} accounts, {result.commitments} maps, all consistent."
    )


journal_app = typer.Typer(help="The journal: a verifiable record of every action.")
app.add_typer(journal_app, name="journal")


@journal_app.command("verify")
def journal_verify(
    all_heads: Annotated[
        bool,
        typer.Option(
            "--all-heads", help="Check every signed head (one per batch), not only checkpoints."
        ),
    ] = False,
) -> None:
    """Recompute the whole journal and check it against the heads the server signed and
    against what this device verified before."""
    store = _store()
    profile = store.load()
    with _connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)

        def remember(pin: LogPin) -> None:
            profile.journal = pin.to_dict()
            store.save(profile)

        journal = JournalClient(
            signed_in.call,
            LogPin(**profile.journal),
            remember,
            leaf_cache=store.directory / f"{store.path.stem}-journal.leaves",
        )
        with _transfer("Checking the journal", counting="entries") as progress:
            result = journal.verify(progress, all_heads=all_heads)
    console.print(
        f"[green]Journal verified[/green]: {result.size} entries match the {result.heads} "
        f"heads the server signed, and extend the {result.previous_size} entries this "
        "device verified before."
    )


@journal_app.command("witness")
def journal_witness(
    key: Annotated[Path, typer.Option(help="The witness's key file (created if missing).")],
) -> None:
    """Act as a witness: verify the journal and every patient's and practice's chain,
    keep what was verified next to the key, and cosign the checkpoint. The server's
    operator lists the witness's key with this account first (`uhs witnesses add`)."""
    witness_key = load_or_create_witness_key(key)
    store = _store()
    profile = store.load()
    with _connection(profile.server) as http:
        witness = Witness(SignedIn(http, profile, store).call, witness_key, key.parent)
        with _transfer("Checking the journal", counting="entries") as progress:
            result = witness.cosign(progress)
    console.print(
        f"[green]Cosigned[/green] the journal's checkpoint of {result.size} entries as witness "
        f"{b64u_encode(witness.public_key)}."
    )


@journal_app.command("export")
def journal_export(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    format: str = typer.Option("fhir", help="fhir (a FHIR R4 Bundle of AuditEvent) or jsonl."),
    practice: str | None = typer.Option(None, help="Your practice's activity (admins)."),
    limit: int = typer.Option(1000, min=1, max=10_000),
) -> None:
    """Export your access history, or your practice's activity."""
    if format not in ("fhir", "jsonl"):
        raise Refused("--format is fhir or jsonl")
    store = _store()
    profile = store.load()
    path = f"/practices/{practice}/journal/export" if practice else "/journal/history/export"
    with _connection(profile.server) as http:
        response = SignedIn(http, profile, store).call(
            "GET", path, params={"format": format, "limit": limit}
        )
    output.write_bytes(response.content)
    console.print(f"[green]Exported[/green] to {output}.")


#: What journal actions mean to a patient reading their access history.
_ACTION_WORDS = {
    "records.open_patient_file": "opened your file",
    "records.create_document": "added a document to your file",
    "records.add_version": "added a new version of a document",
    "records.document": "looked at a document's details",
    "records.content": "downloaded a document",
    "records.inbox": "listed documents",
    "records.share": "shared a document",
    "records.revoke": "ended someone's access to a document",
    "messaging.create_thread": "started a conversation with you",
    "messaging.post_message": "wrote a message",
    "messaging.messages": "read messages",
    "messaging.thread": "opened a conversation",
    "messaging.mark_read": "marked messages read",
    "consent.record_directive": "changed a consent",
    "consent.ask": "made a request about your rights",
    "consent.withdraw": "withdrew a request",
    "consent.lift": "lifted a restriction",
    "consent.extend": "extended the deadline of your request",
    "consent.complete": "answered your request",
    "consent.refuse": "refused your request",
    "consent.practice_requests": "listed the practice's rights requests",
    "consent.patient_directives": "looked at your consents",
    "retention.file_retention": "looked at your file's retention",
    "retention.record_facts": "recorded dates that set your file's retention",
    "retention.open_claim": "recorded a claim about your care",
    "retention.close_claim": "closed a claim about your care",
    "retention.purge": "destroyed a file at the end of its legal retention",
    "audit.history": "read your access history",
    "audit.export_history": "exported your access history",
}
#: Actions of the server itself, not of a person.
_SERVER_ACTIONS = frozenset({"retention.purge"})


@journal_app.command("history")
def journal_history(
    limit: int = typer.Option(50, min=1, max=10_000, help="How many to show, newest first."),
    practice: str | None = typer.Option(None, help="Your practice's activity (admins)."),
) -> None:
    """(Patients) Who read or changed what about you, and when; every entry proven in
    the journal, and the history proven complete (docs/PROTOCOL.md, 13)."""
    store = _store()
    profile = store.load()
    # Where each chain stood when this device last proved it complete.
    pins_file = store.directory / f"{store.path.stem}-history.json"
    pins = json.loads(pins_file.read_text()) if pins_file.exists() else {}
    with _connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        me = signed_in.call("GET", "/accounts/me").json()["id"]
        subject = practice or me
        known = ChainPin(**pins[subject]) if subject in pins else None

        def remember(pin: LogPin) -> None:
            profile.journal = pin.to_dict()
            store.save(profile)

        # The anchor's head must extend the journal head this device pinned.
        journal = JournalClient(signed_in.call, LogPin(**profile.journal), remember)
        checked = journal.check_history(me, practice, known)
    if checked.pin is not None:
        pins[subject] = asdict(checked.pin)
        write_atomically(pins_file, json.dumps(pins).encode())
    if not checked.items:
        console.print("Nothing yet.")
    for item in checked.items[:limit]:
        who = item["actor_name"] or (
            "U-HealthSec" if item["action"] in _SERVER_ACTIONS else "someone not signed in"
        )
        outcome = "" if item["outcome"] == "done" else f" [red]({item['outcome']})[/red]"
        action = _ACTION_WORDS.get(item["action"], item["action"])
        console.print(f"{item['at'][:16].replace('T', ' ')}  {who} {action}{outcome}")
    older = (
        f"; {checked.unchained} older entries predate the chains and are proven one by one"
        if checked.unchained
        else ""
    )
    console.print(
        f"[green]Complete[/green]: {checked.chained} entries, chained back to the first and "
        f"proven in the journal's signed head of {checked.tree_size} entries{older}."
    )


# -- consent and retention ----------------------------------------------------------------

consent_app = typer.Typer(
    help="(Patients) Who may receive your documents: your care team, others, research."
)
app.add_typer(consent_app, name="consent")

_PURPOSES = {"team": "care_team", "outside": "outside_team", "research": "research"}
_PURPOSE_WORDS = {
    "care_team": "your care team in this practice",
    "outside_team": "professionals outside the practice",
    "research": "research",
}


def _my_practice(client: ExchangeClient, practice: str | None) -> str:
    files = client.call("GET", "/patient-files/mine").json()
    if practice:
        for f in files:
            if practice in (f["practice_id"], f["practice_name"]):
                return str(f["practice_id"])
        raise Refused("no practice of that name or id holds a file about you")
    if len(files) != 1:
        raise Refused(
            "say which practice with --practice (name or id)"
            if files
            else "no practice holds a file about you yet"
        )
    return str(files[0]["practice_id"])


def _decide(purpose: str, decision: str, practice: str | None, to: str | None) -> None:
    if purpose not in _PURPOSES:
        raise Refused("say team, outside or research")
    with _exchange(unlock=False) as client:
        practice_id = _my_practice(client, practice)
        recorded = ConsentClient(client).decide(practice_id, _PURPOSES[purpose], decision, to)
    whom = to or _PURPOSE_WORDS[_PURPOSES[purpose]]
    verb = "may now receive" if decision == "permit" else "may no longer receive"
    console.print(f"{whom} {verb} your documents (version {recorded['directive']['version']}).")
    if recorded["shares_ended"]:
        console.print(f"{recorded['shares_ended']} access(es) to your documents ended now.")


@consent_app.command("allow")
def consent_allow(
    purpose: Annotated[str, typer.Argument(help="team, outside or research")],
    to: Annotated[str | None, typer.Option("--to", help="One professional only.")] = None,
    practice: Annotated[str | None, typer.Option(help="Practice name or id.")] = None,
) -> None:
    """Consent (outside, research), or lift an objection (team)."""
    _decide(purpose, "permit", practice, to)


@consent_app.command("deny")
def consent_deny(
    purpose: Annotated[str, typer.Argument(help="team, outside or research")],
    to: Annotated[str | None, typer.Option("--to", help="One professional only.")] = None,
    practice: Annotated[str | None, typer.Option(help="Practice name or id.")] = None,
) -> None:
    """Object (team) or withdraw consent (outside, research): takes effect at once."""
    _decide(purpose, "deny", practice, to)


@consent_app.command("list")
def consent_list(
    history: bool = typer.Option(False, "--history", help="Every version, not only current."),
) -> None:
    """Your directives."""
    with _exchange(unlock=False) as client:
        names = {
            f["practice_id"]: f["practice_name"]
            for f in client.call("GET", "/patient-files/mine").json()
        }
        rows = ConsentClient(client).directives(history=history)
    if not rows:
        console.print(
            "No directive: your care team may share your file; nobody else may, and nothing "
            "goes to research."
        )
        return
    table = Table()
    for column in ("Version", "Practice", "About", "Whom", "Decision", "Since"):
        table.add_column(column, no_wrap=column in ("Whom", "Since"))
    for row in rows:
        decision = "allowed" if row["decision"] == "permit" else "refused"
        if row["superseded_at"]:
            decision += " (replaced)"
        table.add_row(
            str(row["version"]),
            names.get(row["practice_id"], row["practice_id"]),
            row["purpose"].replace("_", " "),
            row["recipient_email"] or "everyone",
            decision,
            row["created_at"][:10],
        )
    console.print(table)


patient_app = typer.Typer(help="(Practitioners) A patient's file: consents and retention.")
app.add_typer(patient_app, name="patient")


def _file_of(client: ExchangeClient, practice: str | None, email: str) -> str:
    return str(client.patient_file(_practice_for(client, practice), email)["id"])


@patient_app.command("show")
def patient_show(
    email: Annotated[str, typer.Argument(help="The patient's address.")],
    practice: Annotated[str | None, typer.Option(help="Practice id.")] = None,
) -> None:
    """The patient's consents and the end of their file's retention."""
    with _exchange(unlock=False) as client:
        practice_id = _practice_for(client, practice)
        file_id = str(client.patient_file(practice_id, email)["id"])
        directives = ConsentClient(client).of_patient_file(file_id)
        retention = client.call("GET", f"/patient-files/{file_id}/retention").json()
        requests = [
            r
            for r in RightsClient(client).of_practice(practice_id)
            if r["patient_file_id"] == file_id
        ]
    _print_retention(retention)
    for r in requests:
        late = " — late" if r["overdue"] else ""
        console.print(
            f"Request: {r['right'].replace('_', ' ')} ({r['citation']}), due {r['due_at'][:10]}"
            f"{late} — {r['id']}"
        )
    if not directives:
        console.print("Consents: none recorded (care team may share; nobody else).")
    for d in directives:
        decision = "allowed" if d["decision"] == "permit" else "refused"
        whom = d["recipient_email"] or "everyone"
        console.print(f"Consent: {_PURPOSE_WORDS[d['purpose']]}, {whom}: {decision}")


def _print_retention(retention: dict[str, Any]) -> None:
    until = retention["keep_until"] or "unknown"
    console.print(f"Kept until: {until} — {retention['explanation']}")
    console.print(f"Last care: {retention['last_care_on']}")
    keep_until, destroyable_from = retention["keep_until"], retention.get("destroyable_from")
    if (
        keep_until
        and destroyable_from
        and date.fromisoformat(destroyable_from) > date.fromisoformat(keep_until) + timedelta(1)
    ):
        # A date recorded recently: the destruction waits so that it can be corrected.
        console.print(f"Destroyed from: {destroyable_from} (a recent date may be corrected)")
    if retention["archived"]:
        console.print("Archived: out of the daily list (no care for several years).")


@patient_app.command("dates")
def patient_dates(
    email: Annotated[str, typer.Argument(help="The patient's address.")],
    born: Annotated[str | None, typer.Option(help="Birth date, YYYY-MM-DD.")] = None,
    died: Annotated[str | None, typer.Option(help="Date of death, YYYY-MM-DD.")] = None,
    last_care: Annotated[str | None, typer.Option(help="Last consultation, YYYY-MM-DD.")] = None,
    practice: Annotated[str | None, typer.Option(help="Practice id.")] = None,
) -> None:
    """Record the dates the end of retention depends on."""
    facts = {"born_on": born, "died_on": died, "last_care_on": last_care}
    with _exchange(unlock=False) as client:
        file_id = _file_of(client, practice, email)
        retention = client.call(
            "PUT",
            f"/patient-files/{file_id}/retention",
            json={k: v for k, v in facts.items() if v},
        ).json()
    _print_retention(retention)


@patient_app.command("claim")
def patient_claim(
    email: Annotated[str, typer.Argument(help="The patient's address.")],
    opened: Annotated[str | None, typer.Option(help="Opened on, YYYY-MM-DD.")] = None,
    closed: Annotated[str | None, typer.Option(help="Closed on, YYYY-MM-DD.")] = None,
    practice: Annotated[str | None, typer.Option(help="Practice id.")] = None,
) -> None:
    """A claim about medical liability: retention stops while it is open."""
    if (opened is None) == (closed is None):
        raise Refused("say --opened DATE or --closed DATE")
    with _exchange(unlock=False) as client:
        path = f"/patient-files/{_file_of(client, practice, email)}/retention/claim"
        retention = client.call(
            "POST", path if opened else path + "/close", json={"on": opened or closed}
        ).json()
    _print_retention(retention)


@app.command("retention-policy")
def retention_policy(
    years: Annotated[int | None, typer.Option(help="Keep files this many years.")] = None,
    archive_after: Annotated[
        int | None, typer.Option(help="Out of the daily list after this many years.")
    ] = None,
    practice: Annotated[str | None, typer.Option(help="Practice id.")] = None,
) -> None:
    """Your practice's retention (20 years unless it decides otherwise); admins change it."""
    with _exchange(unlock=False) as client:
        path = f"/practices/{_practice_for(client, practice)}/retention-policy"
        policy = client.call("GET", path).json()
        if years is not None or archive_after is not None:
            body = {
                "years": years or policy["years"],
                "archive_after_years": archive_after or policy["archive_after_years"],
            }
            policy = client.call("PUT", path, json=body).json()
    console.print(
        f"Files are kept {policy['years']} years after the last care (longer for minors, "
        f"less after a death: CSP R1112-7) and leave the daily list after "
        f"{policy['archive_after_years']}."
    )


rights_app = typer.Typer(help="Patients' rights: copies, corrections, erasure, restriction.")
app.add_typer(rights_app, name="rights")

_RIGHTS = (
    "access",
    "portability",
    "medical_file",
    "rectification",
    "erasure",
    "restriction",
    "objection",
)


def _print_requests(rows: list[dict[str, Any]], *, with_patient: bool) -> None:
    if not rows:
        console.print("No request.")
    for row in rows:
        due = row["due_at"][:10] + (" [red](late)[/red]" if row["overdue"] else "")
        who = f"{row['patient_email']}: " if with_patient else ""
        console.print(
            f"{row['id']}  {who}{row['right'].replace('_', ' ')} ({row['citation']}), "
            f"{row['status']}, due {due}"
        )
        if row["reason"] and not with_patient:
            console.print(f"    {row['reason']}")


@rights_app.command("ask")
def rights_ask(
    right: Annotated[str, typer.Argument(help=", ".join(_RIGHTS))],
    practice: Annotated[str | None, typer.Option(help="Practice name or id.")] = None,
) -> None:
    """(Patients) Ask a practice to act on your file."""
    if right not in _RIGHTS:
        raise Refused(f"say one of: {', '.join(_RIGHTS)}")
    with _exchange(unlock=False) as client:
        request = RightsClient(client).ask(_my_practice(client, practice), right)
    console.print(
        f"Asked ({request['citation']}); the practice answers by {request['due_at'][:10]}. "
        f"Request {request['id']}."
    )


@rights_app.command("list")
def rights_list(
    handled: bool = typer.Option(False, "--handled", help="(Practitioners) Handled ones too."),
    practice: Annotated[str | None, typer.Option(help="(Practitioners) Practice id.")] = None,
) -> None:
    """Your requests (patients), or your practice's open requests (practitioners)."""
    with _exchange(unlock=False) as client:
        rights = RightsClient(client)
        if client.me["kind"] == "patient":
            _print_requests(rights.mine(), with_patient=False)
            return
        rows = rights.of_practice(_practice_for(client, practice), handled=handled)
    _print_requests(rows, with_patient=True)


@rights_app.command("fulfil")
def rights_fulfil(
    request_id: Annotated[str, typer.Argument(help="Id from `uhs rights list`.")],
) -> None:
    """(Practitioners) Serve a copy: share every document of the file with the patient
    (keys re-wrapped on this device), then close the request."""
    with _exchange() as client:
        rights = RightsClient(client)
        request = next(
            (r for r in rights.of_practice(_practice_for(client, None)) if r["id"] == request_id),
            None,
        )
        if request is None:
            raise Refused("no open request of your practice has this id")
        with console.status("Sharing the file's documents with the patient…"):
            shared = rights.fulfil(request)
        done = rights.complete(request_id)
    console.print(
        f"{shared} document(s) shared with {done['patient_email']}; request {done['status']}."
    )


@rights_app.command("complete")
def rights_complete(
    request_id: Annotated[str, typer.Argument(help="Id from `uhs rights list`.")],
    note: Annotated[str | None, typer.Option(help="What was done, for the patient.")] = None,
) -> None:
    """(Practitioners) Close a request; an erasure is carried out or refused as the law
    decides."""
    with _exchange(unlock=False) as client:
        done = RightsClient(client).complete(request_id, note)
    console.print(f"Request {done['status']}." + (f" {done['reason']}" if done["reason"] else ""))


@rights_app.command("extend")
def rights_extend(
    request_id: Annotated[str, typer.Argument(help="Id from `uhs rights list`.")],
    reason: Annotated[str, typer.Option(help="Why, for the patient.")],
) -> None:
    """(Practitioners) Two more months, once (GDPR art. 12(3))."""
    with _exchange(unlock=False) as client:
        done = RightsClient(client).extend(request_id, reason)
    console.print(f"Now due by {done['due_at'][:10]}.")


@rights_app.command("refuse")
def rights_refuse(
    request_id: Annotated[str, typer.Argument(help="Id from `uhs rights list`.")],
    reason: Annotated[str, typer.Option(help="Why, for the patient.")],
) -> None:
    """(Practitioners) Refuse, with the reasons told to the patient."""
    with _exchange(unlock=False) as client:
        RightsClient(client).refuse(request_id, reason)
    console.print("Refused; the patient sees your reasons.")


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the bundle.")],
) -> None:
    """(Patients) Everything about you — documents decrypted here, consents, access
    history — as one FHIR R4 Bundle (JSON)."""
    with _exchange() as client, _transfer("Documents", counting="documents") as progress:
        bundle = export_bundle(client, progress)
    output.write_text(json.dumps(bundle, ensure_ascii=False))
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    console.print(
        f"Wrote {output}: {kinds.count('DocumentReference')} document version(s), "
        f"{kinds.count('Consent')} consent(s), {kinds.count('AuditEvent')} access record(s)."
    )


@app.command()
def worker(
    once: bool = typer.Option(False, "--once", help="One round, then stop."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the files whose retention ended; destroy nothing."
    ),
    interval: int = typer.Option(3600, min=60, help="Seconds between rounds."),
    mail_interval: int = typer.Option(
        15, min=1, help="Seconds between two looks for mail to send or retry."
    ),
) -> None:
    """Server jobs: journal the changes a stopped process left staged, send the mail
    waiting in the outbox (retries included), destroy files
    at the end of their legal retention (crypto-shredding), then the maintenance of `uhs
    cleanup`. Several workers may run at once."""
    from uhealthsec.server.app import build_context
    from uhealthsec.server.retention.service import purge
    from uhealthsec.server.settings import Settings

    ctx = build_context(Settings())
    try:
        next_round = time.monotonic()
        while True:
            today = ctx.now().date()
            if dry_run:
                due = purge(ctx, today, dry_run=True)
                table = Table(title=f"Retention ended before {today.isoformat()}")
                columns = (
                    "Patient file",
                    "Practice",
                    "Kept until",
                    "Rule",
                    "Documents",
                    "Destroyed",
                )
                for column in columns:
                    table.add_column(column)
                for item in due:
                    # A date recorded recently waits its grace period: it may be corrected.
                    waits = item.destroyable_from > today
                    table.add_row(
                        str(item.patient_file_id),
                        str(item.practice_id),
                        item.keep_until.isoformat(),
                        item.basis,
                        f"{item.documents} ({_size(item.bytes)})",
                        f"waits until {item.destroyable_from.isoformat()}" if waits else "now",
                    )
                console.print(table)
                return
            staged = _sequence_journal(ctx)
            if staged:
                console.print(staged)
            mail = _deliver_mail(ctx)
            if mail or once:
                console.print(mail or "No mail waiting.")
            if time.monotonic() >= next_round:
                with console.status("Destroying files whose retention ended…"):
                    destroyed = purge(ctx, today)
                console.print(
                    f"{len(destroyed)} file(s) destroyed at the end of their retention; "
                    f"{_maintain(ctx)}"
                )
                next_round = time.monotonic() + interval
            if once:
                return
            # Mail is looked for often: a confirmation code is waited for.
            time.sleep(max(0.0, min(mail_interval, next_round - time.monotonic())))
    finally:
        ctx.close()


def _sequence_journal(ctx: Any) -> str:
    """Journal the changes whose process could not (it stopped between committing a
    change and sequencing its entry)."""
    from uhealthsec.server.audit.outbox import sequence_stale

    count = sequence_stale(ctx.journal, ctx.now())
    return f"{count} staged journal entr{'y' if count == 1 else 'ies'} sequenced." if count else ""


def _deliver_mail(ctx: Any) -> str:
    """Send the mail due now; what happened, or nothing if there was none."""
    done = ctx.mail.deliver_due()
    if not (done.sent or done.deferred or done.given_up):
        return ""
    return (
        f"{done.sent} mail(s) sent, {done.deferred} to be retried, "
        f"{done.given_up} given up (see the log)."
    )


def _maintain(ctx: Any) -> str:
    from uhealthsec.server.audit.service import JournalService
    from uhealthsec.server.mail.outbox import MailOutbox
    from uhealthsec.server.records.service import RecordsService
    from uhealthsec.server.shield.service import Shield

    with ctx.sessions.begin() as db:
        removed = RecordsService(db, ctx).collect_unfinished_uploads()
        purged = JournalService(db, ctx).purge_network_data(ctx.now())
        forgotten = Shield(db, ctx).purge()
        mails = MailOutbox(db, ctx).purge()
    return (
        f"removed {removed} unfinished upload(s), {purged} expired connection record(s), "
        f"{forgotten} stale shield record(s) and {mails} record(s) of mail sent or given up."
    )


# -- server -------------------------------------------------------------------------------


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    demo: bool = typer.Option(
        False, "--demo", help="Create a demo practice (two practitioners, a patient)."
    ),
) -> None:
    """Start the API server."""
    import uvicorn

    from uhealthsec.server.app import build_context, create_app
    from uhealthsec.server.demo import DEMO_PASSWORD, PRACTICE_NAME, ensure_demo_practice
    from uhealthsec.server.listener import uvicorn_config
    from uhealthsec.server.logs import redact_access_log
    from uhealthsec.server.settings import Settings

    ctx = build_context(Settings())
    if demo:
        with console.status("Preparing the demo practice…"):
            people = ensure_demo_practice(ctx)
        table = Table(title=f"{PRACTICE_NAME} — password for all: {DEMO_PASSWORD!r}")
        table.add_column("Account", no_wrap=True)
        table.add_column("Name")
        table.add_column("Authenticator key (TOTP)", no_wrap=True)
        for person in people:
            table.add_row(person.email, person.name, person.totp_secret)
        console.print(table)
        console.print("A code for sign-in: oathtool --totp -b <authenticator key>")
    console.print(f"U-HealthSec {__version__} listening on http://{host}:{port}")
    config = uvicorn_config(
        create_app(ctx=ctx), host=host, port=port, settings=ctx.settings, log_level="info"
    )
    redact_access_log()  # after uvicorn configured its loggers
    uvicorn.Server(config).run()


witnesses_app = typer.Typer(
    help="(Server) The journal's witnesses: only the keys listed here may countersign."
)
app.add_typer(witnesses_app, name="witnesses")


def _server_journal(work: Callable[[Any], str]) -> None:
    """Run ``work`` on the server's journal service in one transaction; print its result."""
    from uhealthsec.server.app import build_context
    from uhealthsec.server.audit.service import JournalService
    from uhealthsec.server.settings import Settings

    ctx = build_context(Settings())
    try:
        with ctx.sessions.begin() as db:
            message = work(JournalService(db, ctx))
    finally:
        ctx.close()
    console.print(message)


def _witness_key(public_key: str) -> bytes:
    try:
        key = b64u_decode(public_key.strip())
    except ValueError as exc:
        raise Refused("the witness key is base64url") from exc
    if len(key) != 32:
        raise Refused("a witness key is an Ed25519 public key of 32 bytes")
    return key


@witnesses_app.command("add")
def witnesses_add(
    public_key: Annotated[str, typer.Argument(help="The witness's public key (base64url).")],
    name: Annotated[
        str,
        typer.Option(
            help="Who the witness is, as the key name of its cosignatures: no spaces "
            "(e.g. audit.example.org/journal-witness)."
        ),
    ],
    account: Annotated[str, typer.Option(help="The e-mail of the account the witness uses.")],
) -> None:
    """List a witness whose countersignatures the journal accepts."""
    from uhealthsec.server.errors import ServiceError

    key = _witness_key(public_key)

    def add(journal: Any) -> str:
        try:
            return f"Witness {journal.list_witness(key, name, account).name!r} listed."
        except ServiceError as exc:
            raise Refused(exc.detail) from exc

    _server_journal(add)


@witnesses_app.command("remove")
def witnesses_remove(
    public_key: Annotated[str, typer.Argument(help="The witness's public key (base64url).")],
) -> None:
    """Accept no more countersignatures from a witness (those it made stay)."""
    from uhealthsec.server.errors import ServiceError

    key = _witness_key(public_key)

    def remove(journal: Any) -> str:
        try:
            journal.unlist_witness(key)
        except ServiceError as exc:
            raise Refused(exc.detail) from exc
        return "Witness removed."

    _server_journal(remove)


@witnesses_app.command("list")
def witnesses_list() -> None:
    """The witnesses whose countersignatures the journal accepts."""

    def show(journal: Any) -> str:
        found = journal.witnesses()
        lines = [f"{b64u_encode(w.witness_key)}  {w.name}" for w in found]
        return "\n".join(lines) or "No witness is listed."

    _server_journal(show)


@app.command()
def cleanup(
    check: bool = typer.Option(
        False,
        "--check",
        help="Remove nothing: list the stored documents' contents (blobs) that the "
        "database lists but the document store no longer holds, and exit with status 1 "
        "if there is any.",
    ),
) -> None:
    """Server maintenance: remove uploads never attached to a document, connection
    data (IP addresses) older than the CNIL retention, the shield's counters that no
    decision needs any more, and what is kept of mail sent or given up (after
    UHS_MAIL_KEEP_DAYS)."""
    from uhealthsec.server.app import build_context
    from uhealthsec.server.settings import Settings

    ctx = build_context(Settings())
    try:
        if check:
            _check_content(ctx)
            return
        message = _maintain(ctx)
    finally:
        ctx.close()
    console.print(message[0].upper() + message[1:])


def _check_content(ctx: Any) -> None:
    from uhealthsec.server.records.service import missing_content

    lost = missing_content(ctx)
    for blob in lost:
        state = "attached" if blob.attached_at is not None else "unattached upload"
        console.print(
            f"missing  {blob.id}  {blob.size} bytes  {state}  created {blob.created_at:%Y-%m-%d}",
            markup=False,
            highlight=False,
        )
    if lost:
        console.print(
            f"{len(lost)} blob(s) listed by the database are missing from the document "
            "store: restore them from a backup of the store (their downloads answer 502)."
        )
        raise typer.Exit(1)
    console.print("Every blob the database lists is in the document store.")


@app.command("verify-practitioner")
def verify_practitioner(
    email: str = typer.Argument(..., help="The practitioner's address."),
) -> None:
    """Server operation: vouch for a practitioner's professional identity, where no e-CPS
    provider is configured. Until verified, a practitioner cannot act on health data."""
    from uhealthsec.server.accounts.service import AccountService
    from uhealthsec.server.app import build_context
    from uhealthsec.server.errors import ServiceError
    from uhealthsec.server.settings import Settings

    ctx = build_context(Settings())
    try:
        with ctx.sessions.begin() as db:
            account = AccountService(db, ctx).verify_practitioner_by_operator(email)
            name = account.display_name
    except ServiceError as exc:
        console.print(f"[red]Refused:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    finally:
        ctx.close()
    console.print(f"{name} ({email}) is now a verified practitioner.")


def main() -> None:
    app()
