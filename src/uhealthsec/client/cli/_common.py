"""What the commands share: the two streams (results on stdout, everything else on
stderr), the refusal and its exit status, the connection and the signed-in SDK client,
progress bars, ids given by prefix, JSON output, and the choice of a practice."""

from __future__ import annotations

import functools
import json
import sys
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

from uhealthsec.client.cli import exit_codes
from uhealthsec.client.cli.passwords import read_password
from uhealthsec.terminal import Refused


def shown(text: str, *, lines: bool = False) -> str:
    """What someone else wrote (a title, a name, a message), made safe to print with
    rich: its markup escaped, so ``[/]`` neither breaks the command nor dresses up
    text as ours, and every control character (terminal escapes; newlines too, unless
    ``lines``) replaced by a space, so it cannot fake a line of the command's own."""
    from rich.markup import escape

    kept = "\n" if lines else ""
    plain = "".join(c if c in kept or unicodedata.category(c)[0] != "C" else " " for c in text)
    return escape(plain)


# The SDK, rich and httpx2 are imported where they are used, never at the top of a
# command module: `uhs --help` loads none of them (benchmarks/cli_help.py).
if TYPE_CHECKING:
    import httpx2
    from rich.console import Console

    from uhealthsec.client.directory import VerifiedEntry
    from uhealthsec.client.exchange import DocumentSummary, ExchangeClient
    from uhealthsec.client.profile import Profile, ProfileStore
    from uhealthsec.crypto.keys import PublicKeys, UserKeys
    from uhealthsec.crypto.keystore import Keystore


class _Console:
    """rich's console, made at its first use."""

    def __init__(self, *, stderr: bool) -> None:
        self.stderr = stderr

    @functools.cached_property
    def real(self) -> Console:
        from rich.console import Console

        return Console(highlight=False, stderr=self.stderr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


#: Results: what a script reads (a listing, an id, a safety number).
console: Any = _Console(stderr=False)
#: Everything else: progress, "working…" spinners, notices and questions.
notices: Any = _Console(stderr=True)

#: ``--json``, on every command that prints a result.
JsonOutput = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout, and nothing else there.")
]
#: ``--yes``, on every command that encrypts for people.
Yes = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Encrypt without asking to confirm the recipients (scripts)."),
]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def print_json(value: Any, *, ascii_only: bool = False) -> None:
    """Stable JSON on stdout: keys sorted, dates in ISO 8601, ids as strings. With
    ``ascii_only``, every other character escaped: for text others wrote (bidi
    overrides and other format characters must not reach the terminal)."""
    sys.stdout.write(
        json.dumps(value, ensure_ascii=ascii_only, indent=2, sort_keys=True, default=_json_value)
        + "\n"
    )
    sys.stdout.flush()


def print_result(as_json: bool, value: Any, sentence: str) -> None:
    """A command's result: ``value`` as JSON, or the sentence that says it."""
    if as_json:
        print_json(value)
    else:
        console.print(sentence, soft_wrap=True)


#: What this run changed on the server, for the message of a cancellation.
changes_made: list[str] = []


def cancellation_message() -> str:
    if not changes_made:
        return "Cancelled: nothing was sent."
    return "Cancelled, after: " + "; ".join(changes_made) + "."


def usage_error(message: str) -> Refused:
    """A command line that cannot be right (exit status 2, as Click's own)."""
    return Refused(message, exit_codes.USAGE)


#: Refresh the access token when it has less than this many seconds left.
_REFRESH_MARGIN = 30


@contextmanager
def connection(server: str) -> Iterator[httpx2.Client]:
    import httpx2

    from uhealthsec.client.api import ApiError, http_client
    from uhealthsec.client.exchange import ExchangeRefused
    from uhealthsec.client.logs import LogRefused
    from uhealthsec.client.proof_of_work import UnsolvableChallenge
    from uhealthsec.crypto.errors import ParametersAboveBudget

    try:
        with http_client(server, timeout=30.0) as http:
            yield http
    except httpx2.ConnectError as exc:
        raise Refused(f"cannot reach the server at {server}: is it running?") from exc
    except httpx2.TransportError as exc:
        # Timed out, or the connection closed mid-answer: what was sent may or may not
        # have been carried out, and `uhs` says so rather than show a traceback.
        raise Refused(
            f"the server at {server} stopped answering ({type(exc).__name__}); a change "
            "asked for may or may not have been made"
        ) from exc
    except ApiError as exc:
        # 401: the server does not know who this is (signed out, expired, second factor).
        code = exit_codes.AUTHENTICATION if exc.status == 401 else exit_codes.REFUSED
        raise Refused(exc.detail, code) from exc
    except (LogRefused, ExchangeRefused) as exc:
        raise Refused(str(exc)) from exc
    except ParametersAboveBudget as exc:
        # The server chose what deriving from the password would cost: not paid.
        raise Refused(f"the server's sign-in parameters were refused: {exc}") from exc
    except UnsolvableChallenge as exc:
        # The server chose what its proof of work would cost: not paid above our bounds.
        raise Refused(f"the server's proof of work was refused: {exc}") from exc


def open_store() -> ProfileStore:
    from uhealthsec.client.profile import ProfileStore

    return ProfileStore()


class SignedIn:
    """Calls made with the profile's tokens: the access token is refreshed before it
    expires, and the rotated tokens are saved at once (an old refresh token presented
    again would end the session)."""

    def __init__(self, http: httpx2.Client, profile: Profile, store: ProfileStore) -> None:
        from uhealthsec.client.api import AuthClient

        if not profile.signed_in:
            raise Refused("you are not signed in: run `uhs login`", exit_codes.AUTHENTICATION)
        self.auth = AuthClient(http)
        self.profile = profile
        self.store = store

    def token(self) -> str:
        from uhealthsec.client.api import ApiError

        if self.profile.expires_at - time.time() < _REFRESH_MARGIN:
            try:
                tokens = self.auth.refresh(self.profile.tokens)
            except ApiError as exc:
                self.profile.forget_tokens()
                self.store.save(self.profile)
                raise Refused(
                    "your session has ended: run `uhs login` again", exit_codes.AUTHENTICATION
                ) from exc
            self.profile.store_tokens(tokens)
            self.store.save(self.profile)
        return self.profile.access_token

    def call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        from uhealthsec.client.api import AuthClient, check_response

        headers = AuthClient.bearer(self.token())
        return check_response(self.auth.http.request(method, path, headers=headers, **kwargs))


def show_recovery_key(recovery_key: bytes) -> None:
    """The 24 recovery words, shown once, and the user's word that they wrote them down."""
    from rich.panel import Panel

    from uhealthsec.client.recovery import to_words

    words = to_words(recovery_key)
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
    typer.confirm("Have you written them down?", default=False, abort=True, err=True)


def unlock_keys(keystore: Keystore) -> UserKeys:
    """The keys of ``keystore``, opened with the password asked now."""
    from uhealthsec.crypto.errors import WrongPassword
    from uhealthsec.crypto.keystore import unlock_with_password

    password = read_password("Password (unlocks your keys)")
    with notices.status("Unlocking your keys…"):
        try:
            return unlock_with_password(keystore, password)
        except WrongPassword as exc:
            raise Refused("wrong password", exit_codes.WRONG_PASSWORD) from exc


def agent_keys(store: ProfileStore, public_keys: PublicKeys) -> UserKeys | None:
    """The keys `uhs unlock` left with the key agent, if they are this account's."""
    from uhealthsec.client import agent

    try:
        path = agent.existing_socket_path(store.path)
        keys = agent.fetch_keys(path) if path is not None else None
    except agent.AgentError as exc:
        notices.print(f"[yellow]{exc}[/]")
        return None
    if keys is not None and keys.public() != public_keys:
        notices.print("[yellow]The key agent holds another account's keys: not used.[/]")
        return None
    return keys


def stepped_up_token(signed_in: SignedIn) -> str:
    """An access token with a second factor proven now (changes of credentials and of
    keys ask for one), from the code the user types."""
    code = typer.prompt("6-digit code from your app, or a recovery code", err=True).strip()
    proof = {"totp_code" if code.isdigit() else "recovery_code": code}
    return signed_in.auth.step_up(signed_in.token(), **proof)


@contextmanager
def signed_in_client(unlock: bool = True, stepped_up: bool = False) -> Iterator[ExchangeClient]:
    """A signed-in SDK client with the keys unlocked by the password (never stored),
    or, without ``unlock``, unlocked only when a change must be signed;
    ``stepped_up``: its requests carry a second factor proven now."""
    from uhealthsec.client.exchange import ExchangeClient, RevokedReader
    from uhealthsec.client.logs import LogPin

    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        keystore = signed_in.auth.keystore(signed_in.token())
        keys = agent_keys(store, keystore.public_keys) if unlock else None
        if unlock and keys is None:
            keys = unlock_keys(keystore)

        def remember(pin: LogPin) -> None:
            profile.directory = pin.to_dict()
            store.save(profile)

        def remember_revocation(revoked: RevokedReader) -> None:
            profile.revoked = [*profile.revoked, revoked.to_dict()]
            store.save(profile)

        token = signed_in.token
        if stepped_up:
            recent = stepped_up_token(signed_in)
            token = lambda: recent  # noqa: E731
        yield ExchangeClient(
            http,
            token,
            keys,
            LogPin(**profile.directory),
            remember,
            public_keys=keystore.public_keys,
            revoked=[RevokedReader.from_dict(r) for r in profile.revoked],
            on_revoke=remember_revocation,
            # A change is signed (R3): the keys are opened for it, as ``unlock`` would.
            unlock=lambda: agent_keys(store, keystore.public_keys) or unlock_keys(keystore),
        )


@contextmanager
def progress_bar(label: str, *, counting: str = "bytes") -> Iterator[Callable[[int, int], None]]:
    """A progress bar: of bytes (uploads, downloads) or of items (``counting="entries"``)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    amount = (
        (DownloadColumn(), TransferSpeedColumn())
        if counting == "bytes"
        else (MofNCompleteColumn(), TextColumn(counting))
    )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *amount,
        TimeRemainingColumn(),
        console=notices.real,
        transient=False,
    )
    task = progress.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        # Drawn from the first progress on: a question asked before (the recipients'
        # confirmation) is not overdrawn by the bar.
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if progress.live.is_started:
            progress.stop()


class Caller(Protocol):
    """What calls the API signed in: the SDK client, or ``SignedIn`` without keys."""

    def call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response: ...


#: The roles that handle patients' files.
CARE_ROLES = ("admin", "practitioner")


def practice_for(client: Caller, practice: str | None, roles: Sequence[str] = CARE_ROLES) -> str:
    """The practice given (an id or its prefix), else the only one where the user has
    one of ``roles``."""
    if practice:
        return resolve_id(practice, lambda: _practice_ids(client), "practice")
    mine = [p for p in client.call("GET", "/practices").json() if p["role"] in roles]
    if len(mine) != 1:
        raise usage_error(
            "say which practice with --practice (ids in `uhs practice list`)"
            if mine
            else f"you are not {' or '.join(roles)} of any practice"
        )
    return str(mine[0]["id"])


def expiry(days: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(days=days) if days else None


def _practice_ids(client: Caller) -> list[str]:
    return [str(p["id"]) for p in client.call("GET", "/practices").json()]


#: The shortest prefix taken for an id: shorter ones match too much by chance.
SHORTEST_PREFIX = 4


def resolve_id(given: str, listing: Callable[[], Iterable[str]], what: str) -> str:
    """The id that ``given`` begins, among those the user can list; a whole id is taken
    as it is, without asking the server for the list."""
    try:
        return str(uuid.UUID(given))
    except ValueError:
        pass
    prefix = given.lower()
    if len(prefix) < SHORTEST_PREFIX:
        raise usage_error(f"give at least {SHORTEST_PREFIX} characters of the {what} id")
    matches = sorted({i for i in map(_listed_id, listing()) if i.startswith(prefix)})
    if not matches:
        raise Refused(f"no {what} of yours has an id beginning with {given}")
    if len(matches) > 1:
        raise usage_error(f"{given} begins several {what} ids: {', '.join(matches)}")
    return matches[0]


def _listed_id(listed: object) -> str:
    """An id as the server listed it, taken only as the uuid it spells: it goes into
    paths and is shown as an id."""
    try:
        return str(uuid.UUID(str(listed)))
    except ValueError:
        raise Refused(f"the server listed {str(listed)!r} as an id: it is none") from None


def document_id_of(client: ExchangeClient, given: str, *, show: bool = True) -> str:
    """A document's id from its first characters, among those ``uhs inbox`` lists;
    with ``show``, the document a prefix named is shown (a command that changes it
    passes ``show_document`` to the SDK instead, which shows it from the answers the
    change is made from)."""
    from uhealthsec.client.exchange.receiving import inbox_pages

    def listed() -> Iterator[str]:
        for answer in inbox_pages(client.call):  # the ids only: no title is decrypted
            yield from (str(d["id"]) for d in answer.json())

    chosen = resolve_id(given, listed, "document")
    if show and chosen != given.lower():
        _show_document(client, given, chosen)
    return chosen


def show_document(summary: DocumentSummary) -> None:
    """The document a change is about, as the SDK verified it, before any encryption."""
    notices.print(
        f"Document {summary.id}: {summary.title!r} (version {summary.version}, "
        f"by {summary.author_email}).",
        soft_wrap=True,
        markup=False,
    )


def _show_document(client: ExchangeClient, given: str, chosen: str) -> None:
    """Which document a prefix named, by the server's listing: its whole id and its
    title, decrypted here, shown before anything is encrypted or sent for it."""
    from uhealthsec.client.api import ApiError
    from uhealthsec.client.exchange import ExchangeRefused

    try:
        summary = client.document(chosen)
    except (ApiError, ExchangeRefused):  # one you cannot read (an admin revoking)
        notices.print(f"{given} is document {chosen}.", soft_wrap=True, markup=False)
        return
    show_document(summary)


def show_recipients(entries: Sequence[VerifiedEntry]) -> None:
    """Who a key is about to be wrapped for, each proven in the key directory, shown
    before anything is encrypted."""
    names = ", ".join(sorted(e.entry.email for e in entries))
    notices.print(f"Encrypting for (keys proven in the key directory): {names}")


def confirm_recipients(yes: bool) -> Callable[[Sequence[VerifiedEntry]], None]:
    """Show the recipients, then ask before encrypting for them (unless ``--yes``): the
    list comes from the key directory, and the user must see whom it names."""
    if not yes and not sys.stdin.isatty():
        raise usage_error(
            "the recipients cannot be confirmed without a terminal: add --yes to encrypt "
            "for them without the question"
        )

    def confirm(entries: Sequence[VerifiedEntry]) -> None:
        show_recipients(entries)
        if not yes:
            typer.confirm("Encrypt for them?", default=False, abort=True, err=True)

    return confirm


def my_practice(client: ExchangeClient, practice: str | None) -> str:
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
