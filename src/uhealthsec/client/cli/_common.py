"""What the commands share: the console, the refusal, the connection and the signed-in
SDK client, progress bars, and the choice of a practice."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer

from uhealthsec.terminal import Refused

# The SDK, rich and httpx2 are imported where they are used, never at the top of a
# command module: `uhs --help` loads none of them (benchmarks/cli_help.py).
if TYPE_CHECKING:
    import httpx2
    from rich.console import Console

    from uhealthsec.client.directory import VerifiedEntry
    from uhealthsec.client.exchange import ExchangeClient
    from uhealthsec.client.profile import Profile, ProfileStore


class _Console:
    """rich's console, made at its first use."""

    @functools.cached_property
    def real(self) -> Console:
        from rich.console import Console

        return Console(highlight=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


console: Any = _Console()

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
            raise Refused("you are not signed in: run `uhs login`")
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
                raise Refused("your session has ended: run `uhs login` again") from exc
            self.profile.store_tokens(tokens)
            self.store.save(self.profile)
        return self.profile.access_token

    def call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        from uhealthsec.client.api import AuthClient, check_response

        headers = AuthClient.bearer(self.token())
        return check_response(self.auth.http.request(method, path, headers=headers, **kwargs))


@contextmanager
def signed_in_client(unlock: bool = True) -> Iterator[ExchangeClient]:
    """A signed-in SDK client with the keys unlocked by the password (never stored)."""
    from uhealthsec.client.exchange import ExchangeClient, RevokedReader
    from uhealthsec.client.logs import LogPin
    from uhealthsec.crypto.errors import WrongPassword
    from uhealthsec.crypto.keystore import unlock_with_password

    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
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
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *amount,
        TimeRemainingColumn(),
        console=console.real,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def practice_for(client: ExchangeClient, practice: str | None) -> str:
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


def expiry(days: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(days=days) if days else None


def show_recipients(entries: Sequence[VerifiedEntry]) -> None:
    """Who a key is about to be wrapped for, each proven in the key directory, shown
    before anything is encrypted."""
    names = ", ".join(sorted(e.entry.email for e in entries))
    console.print(f"Encrypting for (keys proven in the key directory): {names}")


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
