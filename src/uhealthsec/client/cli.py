"""The ``uhs`` command line."""

from __future__ import annotations

import http.server
import platform
import re
import threading
import time
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import segno
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from uhealthsec import __version__
from uhealthsec.client.api import ApiError, AuthClient, LoginState, WeakPassword, check_response
from uhealthsec.client.passwords import check_new_password
from uhealthsec.client.profile import DEFAULT_SERVER, Profile, ProfileStore
from uhealthsec.client.recovery import to_words
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
def _connection(server: str) -> Iterator[httpx.Client]:
    try:
        with httpx.Client(base_url=server, timeout=30.0) as http:
            yield http
    except httpx.ConnectError as exc:
        raise Refused(f"cannot reach the server at {server}: is it running?") from exc
    except ApiError as exc:
        raise Refused(exc.detail) from exc


def _store() -> ProfileStore:
    return ProfileStore()


class SignedIn:
    """Calls made with the profile's tokens: the access token is refreshed before it
    expires, and the rotated tokens are saved at once (an old refresh token presented
    again would end the session)."""

    def __init__(self, http: httpx.Client, profile: Profile, store: ProfileStore) -> None:
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

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
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


@app.command("verify-email")
def verify_email(
    code: str = typer.Argument(..., help="The code from the e-mail we sent you."),
    server: str | None = typer.Option(None, envvar="UHS_SERVER", help="Server address."),
) -> None:
    """Confirm your e-mail address."""
    with _connection(server or _store().load().server) as http:
        AuthClient(http).verify_email(code.strip())
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
    profile.server = server or profile.server
    device = f"uhs on {platform.node() or 'this computer'}"
    with _connection(profile.server) as http:
        if professional:
            tokens = _professional_login(http, device)
        else:
            profile.email = email or typer.prompt("E-mail", default=profile.email or None)
            password: str = typer.prompt("Password", hide_input=True)
            auth = AuthClient(http)
            with console.status("Checking your password…"):
                state = auth.start_login(profile.email, password)
            if state.enrolment_required:
                _enrol_first_factor(auth, state)
            else:
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


def _professional_login(http: httpx.Client, device: str) -> Any:
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


# -- server -------------------------------------------------------------------------------


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Start the API server."""
    import uvicorn

    from uhealthsec.server.app import create_app
    from uhealthsec.server.logs import redact_access_log

    console.print(f"U-HealthSec {__version__} listening on http://{host}:{port}")
    config = uvicorn.Config(create_app(), host=host, port=port, log_level="info")
    redact_access_log()  # after uvicorn configured its loggers
    uvicorn.Server(config).run()


def main() -> None:
    app()
