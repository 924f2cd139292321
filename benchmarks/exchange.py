"""Sending and receiving documents through the API, against the bare framework.

    .venv/bin/python benchmarks/exchange.py [--sizes 1 100] [--rounds 5]
                                            [--recipients 1 10 100 1000]

Starts two servers on loopback, each in its own process with uvicorn:
- the U-HealthSec API (SQLite + filesystem blob store, in a temporary directory);
- a bare FastAPI application with two routes that stream a request body to a file
  and a file back, with no authentication, no database and no cryptography.

For each size, "send" is the SDK's whole job (encrypt to a spool file with the
signing digest, upload, sign, wrap for two readers, create the document) and
"receive" is the reader's (fetch the version, download, decrypt, verify the
signature, put the file in place). The baseline moves the same plaintext bytes
through the bare application. Then it shares a document with each number of
recipients (practitioners written straight to the server's database, their keys
published in the directory), a first share to them each time (no entry proven before
in the session): the median time of the SDK's whole job, and, for one share, the HTTP
requests and the SQL statements the server ran; and sends a new document to them.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pyotp
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from timing import median_seconds

from uhealthsec.client.api import AuthClient, Tokens
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.crypto.keystore import Argon2Params, unlock_with_password

PASSWORD = "plum orchard violin tundra harbour"
#: Registration cost on the client is not what is measured here.
FAST = Argon2Params(memory_kib=19456, iterations=2, parallelism=1, salt=b"\0" * 16)
CHUNK = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_api(data_dir: str, port: int) -> None:
    """The API, with two routes of this benchmark's own: the SQL statements run so far
    (the database's work a share costs), and many practitioners written straight to
    the database with real keys published in the directory (registering a thousand
    through the API would measure registration, and meet the shield)."""
    import uvicorn
    from sqlalchemy import event

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.server.records.bulk import add_practitioners
    from uhealthsec.server.app import build_context, create_app
    from uhealthsec.server.settings import Settings

    settings = Settings(
        data_dir=Path(data_dir),
        issuer=f"http://127.0.0.1:{port}",
        # A share to 1,000 people under load outlasts the default five minutes.
        access_token_seconds=900,
    )
    ctx = build_context(settings)
    app = create_app(ctx=ctx)
    statements = [0]

    def count(*_args: object) -> None:
        statements[0] += 1

    def statements_run() -> dict[str, int]:
        return {"statements": statements[0]}

    def practitioners(count: int) -> dict[str, list[str]]:
        return {"emails": add_practitioners(ctx, count)}

    event.listen(ctx.engine, "before_cursor_execute", count)
    app.add_api_route("/bench/statements", statements_run)
    app.add_api_route("/bench/practitioners", practitioners, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve_bare(data_dir: str, port: int) -> None:
    import uvicorn

    app = FastAPI()
    root = Path(data_dir)

    @app.post("/raw/{name}")
    async def upload(name: str, request: Request) -> dict[str, int]:
        size = 0
        with (root / name).open("wb") as handle:
            async for chunk in request.stream():
                handle.write(chunk)
                size += len(chunk)
        return {"size": size}

    @app.get("/raw/{name}")
    def download(name: str) -> StreamingResponse:
        def chunks():  # type: ignore[no-untyped-def]
            with (root / name).open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def start(kind: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, f"--serve-{kind}", str(data_dir), str(port)]
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx2.get(url + "/docs", timeout=1)
            return process, url
        except httpx2.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


#: ``uhs`` from the interpreter running this benchmark.
OPERATOR_COMMAND = [sys.executable, "-c", "from uhealthsec.server.cli import main; main()"]


class Accounts:
    def __init__(self, http: httpx2.Client, data_dir: Path) -> None:
        self.auth = AuthClient(http)
        self.data_dir = data_dir
        self.outbox = data_dir / "outbox"
        self.tokens: dict[str, Tokens] = {}

    def last_code(self, email: str) -> str:
        code = None
        for path in sorted(self.outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            text = path.read_text()
            if f"To: {email}" in text:
                code = re.search(r"code: (\S+)", text)
        assert code is not None
        return code.group(1)

    def register(self, email: str, kind: str = "practitioner") -> None:
        self.auth.register(email, PASSWORD, email.split("@")[0], kind, params=FAST.with_new_salt())
        self.auth.verify_email(self.last_code(email), email, PASSWORD)

    def device(self, email: str, kind: str = "practitioner") -> ExchangeClient:
        self.register(email, kind)
        if kind == "practitioner":  # as the operator does: `uhs-server verify-practitioner`
            subprocess.run(
                [*OPERATOR_COMMAND, "verify-practitioner", email],
                env={**os.environ, "UHS_DATA_DIR": str(self.data_dir)},
                check=True,
                capture_output=True,
            )
        login = self.auth.start_login(email, PASSWORD)
        secret = self.auth.enrol_totp(login)["secret"]
        self.auth.confirm_totp(login, pyotp.TOTP(secret).now())
        self.tokens[email] = self.auth.authorize(login)
        keys = unlock_with_password(self.auth.keystore(self.tokens[email]), PASSWORD)
        return ExchangeClient(self.auth.http, lambda: self.tokens[email].access_token, keys)

    def refresh(self, email: str) -> None:
        """New tokens for a device: a long measurement outlasts an access token."""
        self.tokens[email] = self.auth.refresh(self.tokens[email])

    def join(
        self, admin: ExchangeClient, practice: str, email: str, patient: ExchangeClient
    ) -> None:
        """The patient accepts the practice's invitation: only then may it open her file."""
        invitation = {"email": email, "role": "patient"}
        admin.call("POST", f"/practices/{practice}/invitations", json=invitation)
        patient.call("POST", "/practices/invitations/accept", json={"code": self.last_code(email)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 100], help="MiB")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--recipients", type=int, nargs="*", default=[100])
    parser.add_argument("--serve-api", nargs=2, metavar=("DIR", "PORT"))
    parser.add_argument("--serve-bare", nargs=2, metavar=("DIR", "PORT"))
    args = parser.parse_args()
    if args.serve_api:
        return serve_api(args.serve_api[0], int(args.serve_api[1]))
    if args.serve_bare:
        return serve_bare(args.serve_bare[0], int(args.serve_bare[1]))

    work = Path(tempfile.mkdtemp(prefix="uhs-bench-"))
    (work / "api").mkdir()
    (work / "bare").mkdir()
    files = Path(tempfile.mkdtemp(prefix="uhs-bench-files-", dir="/dev/shm"))
    api, api_url = start("api", work / "api")
    bare, bare_url = start("bare", work / "bare")
    try:
        run(args, work, files, api_url, bare_url)
    finally:
        api.terminate()
        bare.terminate()


def measure_size(
    mib: int,
    rounds: int,
    files: Path,
    alice: ExchangeClient,
    bob: ExchangeClient,
    patient_file: str,
    bare_http: httpx2.Client,
) -> None:
    source = files / f"doc-{mib}.bin"
    with source.open("wb") as handle:
        for _ in range(mib):
            handle.write(secrets.token_bytes(CHUNK))
    sent: list[str] = []

    def send() -> None:
        document = alice.send(source, patient_file_id=patient_file, to=["bob@bench.example"])
        sent.append(str(document))

    def receive() -> None:
        bob.fetch(sent[-1], files / "received.bin")

    def bare_upload() -> None:
        with source.open("rb") as handle:
            chunks = iter(lambda: handle.read(CHUNK), b"")
            bare_http.post("/raw/doc", content=chunks).raise_for_status()

    def bare_download() -> None:
        with (
            bare_http.stream("GET", "/raw/doc") as response,
            (files / "bare.bin").open("wb") as out,
        ):
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)

    send_s = median_seconds(send, rounds)
    receive_s = median_seconds(receive, rounds)
    assert (files / "received.bin").read_bytes() == source.read_bytes()
    up_s = median_seconds(bare_upload, rounds)
    down_s = median_seconds(bare_download, rounds)
    api_rate = 2 * mib / (send_s + receive_s)
    bare_rate = 2 * mib / (up_s + down_s)
    print(
        f"| {mib} MiB | {send_s:.3f} | {receive_s:.3f} | {up_s:.3f} | {down_s:.3f} "
        f"| {api_rate:.0f} | {bare_rate:.0f} | {api_rate / bare_rate:.2f} |"
    )
    for path in files.glob("*.bin"):
        path.unlink()


def run(args: argparse.Namespace, work: Path, files: Path, api_url: str, bare_url: str) -> None:
    http = httpx2.Client(base_url=api_url, timeout=600)
    accounts = Accounts(http, work / "api")
    alice = accounts.device("alice@bench.example")
    bob = accounts.device("bob@bench.example")
    patient = accounts.device("patient@bench.example", "patient")
    practice = alice.call("POST", "/practices", json={"name": "Bench"}).json()["id"]
    accounts.join(alice, practice, "patient@bench.example", patient)
    patient_file = alice.patient_file(practice, "patient@bench.example")["id"]
    # The recipients work outside the practice: the patient consents (CSP L1110-4).
    ConsentClient(patient).decide(practice, "outside_team", "permit")
    bare_http = httpx2.Client(base_url=bare_url, timeout=600)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    print(
        "| size | API send s | API receive s | bare upload s | bare download s "
        "| API MiB/s | bare MiB/s | x bare |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mib in args.sizes:
        measure_size(mib, args.rounds, files, alice, bob, patient_file, bare_http)

    measure_sharing(
        args, http, alice, patient_file, files, lambda: accounts.refresh("alice@bench.example")
    )


def measure_sharing(
    args: argparse.Namespace,
    http: httpx2.Client,
    alice: ExchangeClient,
    patient_file: str,
    files: Path,
    refresh: Callable[[], None],
) -> None:
    """Share a document with each number of recipients (the whole SDK job: directory
    lookups with their proofs, hybrid wraps, signed statements, the requests), and send
    a new document to them; with the HTTP requests and the server's SQL statements of
    one share."""
    added = http.post("/bench/practitioners", params={"count": max(args.recipients)})
    emails = added.json()["emails"]
    small = files / "note.txt"
    small.write_bytes(b"Compte rendu\n" * 100)
    requests: list[str] = []
    for client_call in ("call", "directory"):
        target = alice if client_call == "call" else alice.directory
        name = "call" if client_call == "call" else "_call"
        honest = getattr(target, name)

        def counted(method: str, path: str, _honest=honest, **kwargs):  # type: ignore[no-untyped-def]
            requests.append(f"{method} {path}")
            return _honest(method, path, **kwargs)

        setattr(target, name, counted)
    print()
    print(
        "| recipients | share s (median) | HTTP requests | of them directory | SQL statements "
        "| send a new document s |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for count in args.recipients:
        share_s, statements, send_s = share_with(
            emails[:count], args.rounds, http, alice, patient_file, small, requests, refresh
        )
        lookups = sum(1 for r in requests if "/keys/" in r)
        print(
            f"| {count:,} | {share_s:.3f} | {len(requests)} | {lookups} | {statements:,} "
            f"| {send_s:.3f} |",
            flush=True,
        )


def median_after(prepare: Callable[[], None], action: Callable[[], None], rounds: int) -> float:
    """The median time of ``action``, ``prepare`` run untimed before each."""
    samples = []
    for _ in range(rounds):
        prepare()
        begin = time.perf_counter()
        action()
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples)


def share_with(
    to: list[str],
    rounds: int,
    http: httpx2.Client,
    alice: ExchangeClient,
    patient_file: str,
    small: Path,
    requests: list[str],
    refresh: Callable[[], None],
) -> tuple[float, int, float]:
    """The median share, the SQL statements of one (its requests left in ``requests``),
    the median send."""
    refresh()
    queue = [alice.send(small, patient_file_id=patient_file, to=[]) for _ in range(rounds + 1)]
    alice.directory.refresh()  # every recipient is in the head: as a session has it

    def share() -> None:
        # A first share to them: no entry proven before in this session.
        alice.directory._proven.clear()
        alice.share(queue.pop(), to)

    def send() -> None:
        alice.directory._proven.clear()
        alice.send(small, patient_file_id=patient_file, to=to)

    share_s = median_after(refresh, share, rounds)
    refresh()
    requests.clear()
    before = http.get("/bench/statements").json()["statements"]
    share()
    statements = http.get("/bench/statements").json()["statements"] - before
    counted = list(requests)
    send_s = median_after(refresh, send, rounds)
    requests[:] = counted
    return share_s, statements, send_s


if __name__ == "__main__":
    main()
