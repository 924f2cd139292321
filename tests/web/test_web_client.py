"""The web application's client (web/src/client/, run by the crypto worker's
WorkerService) against a real server, in Node with its fetch and WebCrypto: sign-in
with the second factor and OAuth, listings, opening and sending documents, the key
directory proven at each step. A hostile server (another document served, a wrong
directory entry, a tampered envelope or manifest, a wrong signature) is refused with
the refusal's identifier, and nothing reaches the page's sink. What the web client
sends, the Python SDK opens, and the other way round.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.server_fixtures import (
    ORIGIN,
    PASSWORD,
    Clock,
    Outbox,
    User,
    Users,
    device,
    oathtool,
    send_signed,
)
from tests.serving import ServerThread, free_port
from tests.web.browser_app import APP_FOR_TESTS, build_app
from tests.web.builds import ensure_web_build
from tests.web.node_jobs import WEB
from uhealthsec.client.api import AuthClient
from uhealthsec.client.directory import VerifiedEntry
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.client.search import personal_index
from uhealthsec.crypto import envelope, wrap
from uhealthsec.crypto.directory import pair_safety_number
from uhealthsec.crypto.keystore import unlock_with_password
from uhealthsec.server import web_app
from uhealthsec.server.app import build_context, create_app
from uhealthsec.server.settings import Settings
from uhealthsec.server.shield import service as shield
from uhealthsec.server.shield.service import Shield


@dataclass
class World:
    url: str
    users: Users
    clock: Clock
    http: TestClient
    martin: User
    durand: User
    camille: User
    practice_id: str
    patient_file_id: str
    #: Recovery codes not used yet, by address (each signs in once).
    spare_codes: dict[str, list[str]]
    devices: dict[str, ExchangeClient] = field(default_factory=dict)

    def totp(self, user: User) -> str:
        """A code for a fresh 30-second step (each is accepted once)."""
        return self.users.next_totp(user.totp_secret)

    def recovery_code(self, user: User) -> str:
        return self.spare_codes[user.email].pop()

    def sdk(self, user: User) -> ExchangeClient:
        """``user`` signed in with the Python SDK (once)."""
        if user.email not in self.devices:
            tokens = self.users.sign_in_again(user)
            keys = unlock_with_password(AuthClient(self.http).keystore(tokens), PASSWORD)
            device = ExchangeClient(self.http, lambda: tokens.access_token, keys)
            if user in (self.martin, self.durand):
                # Her practitioners' devices open her file: their word for whom it is about.
                device.patient_file(self.practice_id, self.camille.email)
            self.devices[user.email] = device
        return self.devices[user.email]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[World]:
    """One server for the module, on loopback at the port its issuer names (the
    authorization endpoint redirects to ``{issuer}/app/callback``), with a practice:
    Dr Martin (its admin), Paul Durand (a colleague) and Camille Petit (a patient)."""
    home = tmp_path_factory.mktemp("web-client")
    shutil.copy(sqlite_template, home / "test.db")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=home / "var",
        database_url=f"sqlite:///{home / 'test.db'}",
        issuer=url,
        webauthn_rp_id="localhost",
        webauthn_origins=[ORIGIN],
    )
    clock = Clock()
    ctx = build_context(settings, clock=clock, migrate_schema=False)
    # The build whose worker the browser test drives, served as `uhs-server serve` serves
    # the application (the redirect of the sign-in lands on its origin).
    build_app()
    install = web_app.install
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(web_app, "install", lambda app: install(app, APP_FOR_TESTS))
        served = create_app(ctx=ctx)
    serving = ServerThread(served, settings, port=port).start()
    try:
        with TestClient(create_app(ctx=ctx), base_url=url) as http:
            users = Users(AuthClient(http), Outbox(settings.outbox_dir), clock, ctx)
            martin = users.signed_in("dr.martin@web.test")
            durand = users.signed_in("kine.durand@web.test")
            camille = users.signed_in("camille.petit@web.test", "patient")
            bearer = AuthClient.bearer
            practice = http.post(
                "/practices", json={"name": "Cabinet"}, headers=bearer(martin.tokens)
            )
            assert practice.status_code == 201, practice.text
            practice_id = practice.json()["id"]
            users.join_practice(martin, practice_id, durand, "practitioner")
            users.join_practice(martin, practice_id, camille, "patient")
            opened = send_signed(
                http,
                device(http, users, martin),
                martin.tokens.access_token,
                "POST",
                "/patient-files",
                json_body={"practice_id": practice_id, "patient_email": camille.email},
            )
            assert opened.status_code == 200, opened.text
            spare = {u.email: list(u.recovery_codes) for u in (martin, durand, camille)}
            yield World(
                url,
                users,
                clock,
                http,
                martin,
                durand,
                camille,
                practice_id,
                opened.json()["id"],
                spare,
            )
    finally:
        serving.stop()
        ctx.close()


@pytest.fixture(scope="module")
def run(world: World, tmp_path_factory: pytest.TempPathFactory):
    """Runs steps through web/scripts/web_client.ts in one Node process."""
    node = shutil.which("node")
    assert node, "Node.js 20 is needed for the web client's tests"
    ensure_web_build("compile")
    folder = tmp_path_factory.mktemp("web-client-jobs")

    def steps(*given: dict[str, Any]) -> list[dict[str, Any]]:
        jobs, results = folder / "jobs.json", folder / "results.json"
        jobs.write_text(json.dumps({"origin": world.url, "steps": list(given)}))
        script = WEB / "build" / "scripts" / "web_client.js"
        subprocess.run([node, str(script), str(jobs), str(results)], check=True, timeout=300)
        return list(json.loads(results.read_text()))

    return steps


def sign_in(person: str, user: User, **factor: str) -> list[dict[str, Any]]:
    return [
        {"as": person, "op": "signIn", "args": {"email": user.email, "password": user.password}},
        {"as": person, "op": "finishSignIn", "args": factor},
    ]


def ok(result: dict[str, Any]) -> Any:
    assert result["ok"], result
    return result["value"]


def refused(result: dict[str, Any]) -> str:
    assert not result["ok"], result
    return str(result["error"])


def send_step(
    person: str, world: World, to: list[str], content: bytes, title: str
) -> dict[str, Any]:
    return {
        "as": person,
        "op": "sendDocument",
        "args": {
            "patientFileId": world.patient_file_id,
            "to": to,
            "title": title,
            "filename": "compte-rendu.pdf",
            "mediaType": "application/pdf",
        },
        "content": content.hex(),
    }


def directory_entry(world: World, user: User) -> VerifiedEntry:
    """``user``'s entry as the Python SDK proves it."""
    return world.sdk(world.martin).directory.lookup(user.email)


def test_sign_in_listings_and_a_document_sent_from_the_browser_to_a_colleague(
    world: World, run, tmp_path: Path
) -> None:
    content = bytes(range(256)) * 5000  # more than one chunk
    martin, durand = world.martin, world.durand
    results = run(
        {
            "as": "martin",
            "op": "signIn",
            "args": {"email": martin.email, "password": "not the password"},
        },
        *sign_in("martin", martin, totp=world.totp(martin)),
        {"as": "martin", "op": "account", "args": {}},
        {"as": "martin", "op": "practices", "args": {}},
        {"as": "martin", "op": "patients", "args": {"practiceId": world.practice_id}},
        {"as": "martin", "op": "members", "args": {"practiceId": world.practice_id}},
        {"as": "martin", "op": "previewRecipients", "args": {"emails": [durand.email.upper()]}},
        {"as": "martin", "op": "pairSafetyNumber", "args": {"email": durand.email}},
        send_step("martin", world, [durand.email], content, "Compte rendu"),
        *sign_in("durand", durand, totp=world.totp(durand)),
        {"as": "durand", "op": "expireAccessToken"},
        {"as": "durand", "op": "inbox", "args": {}},
        {"as": "martin", "op": "signOut", "args": {}},
        {"as": "martin", "op": "account", "args": {}},
        {"as": "martin", "op": "inbox", "args": {}},
    )
    (
        wrong,
        started,
        finished,
        account,
        practices,
        patients,
        members,
        preview,
        pair,
        sent,
        *rest,
    ) = results
    durand_started, durand_finished, expired, inbox, signed_out, after, inbox_after = rest
    assert refused(wrong) == "unauthorized"
    assert ok(started) == {"factors": ["totp", "recovery_code"]}
    me = {
        "id": martin.account_id,
        "email": martin.email,
        "name": "Dr Dr.Martin",
        "kind": "practitioner",
    }
    assert ok(finished) == {"account": me}
    assert ok(account) == {"account": me}
    assert ok(practices) == {
        "practices": [{"id": world.practice_id, "name": "Cabinet", "role": "admin"}]
    }
    assert ok(patients)["patients"] == [
        {
            "patientFileId": world.patient_file_id,
            "patientId": world.camille.account_id,
            "email": world.camille.email,
            "name": "Dr Camille.Petit",
        }
    ]
    assert {(m["email"], m["role"]) for m in ok(members)["members"]} == {
        (martin.email, "admin"),
        (durand.email, "practitioner"),
        (world.camille.email, "patient"),
    }
    mine, theirs = directory_entry(world, martin).entry, directory_entry(world, durand).entry
    assert ok(preview)["recipients"] == [
        {
            "email": martin.email,
            "accountId": martin.account_id,
            "name": "Dr Dr.Martin",
            "fingerprint": mine.public_keys.fingerprint().hex(),
        },
        {
            "email": durand.email,
            "accountId": durand.account_id,
            "name": "Dr Kine.Durand",
            "fingerprint": theirs.public_keys.fingerprint().hex(),
        },
    ]
    assert ok(pair) == {
        "number": pair_safety_number(mine, theirs),
        "fingerprint": theirs.public_keys.fingerprint().hex(),
    }
    document = ok(sent)["document"]
    assert document["title"] == "Compte rendu" and document["size"] >= len(content)
    assert document["patientName"] == "Dr Camille.Petit"
    assert sorted(document["recipients"]) == sorted([martin.email, durand.email])
    # Sent, it is in the sender's search index, by its title and its patient's name.
    assert ok(sent)["indexFailure"] is None
    martin_index = personal_index(world.sdk(martin))
    assert martin_index.search("comptes rendu") == {uuid.UUID(document["id"])}
    assert martin_index.search("camil") == {uuid.UUID(document["id"])}
    ok(durand_started), ok(durand_finished)
    assert ok(expired) is True  # the inbox below is read with a refreshed token
    newest = ok(inbox)["documents"][0]
    assert (newest["id"], newest["title"]) == (document["id"], "Compte rendu")
    assert ok(signed_out) == {"signedOut": True}
    assert ok(after) == {"account": None}
    assert refused(inbox_after) == "signed_out"

    # The Python SDK opens what the browser sent, signed by Dr Martin's proven key.
    received = world.sdk(durand).fetch(document["id"], tmp_path / "received.pdf")
    assert received.path.read_bytes() == content
    assert received.author_email == martin.email


def test_the_browser_opens_what_python_sent_and_refuses_a_hostile_server(
    world: World, run, tmp_path: Path
) -> None:
    martin, durand = world.martin, world.durand
    python = world.sdk(martin)
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_bytes(b"bilan kinesitherapie " * 4000)
    second.write_bytes(b"autre document")
    sent = str(
        python.send(first, patient_file_id=world.patient_file_id, to=[durand.email], title="Bilan")
    )
    other = str(
        python.send(second, patient_file_id=world.patient_file_id, to=[durand.email], title="Autre")
    )
    served = world.sdk(durand).document_view(sent).versions[-1]
    key = wrap.unwrap_document_key(
        served.wrapped_key, world.sdk(durand).keys, served.envelope_header
    )
    forged = envelope.encrypt(key, b"written by a reader, not the author")
    martin_index = directory_entry(world, martin).index
    durand_index = directory_entry(world, durand).index

    def open_step(**tamper: Any) -> dict[str, Any]:
        step: dict[str, Any] = {"as": "durand", "op": "openDocument", "args": {"id": sent}}
        if tamper:
            step["tamper"] = [tamper]
        return step

    document_path = f"^/documents/{sent}$"
    results = run(
        *sign_in("durand", durand, totp=world.totp(durand)),
        # Before any honest answer is proven and remembered: the signer's entry swapped.
        open_step(path=f"^/keys/entries/{martin_index}$", redirect=f"/keys/entries/{durand_index}"),
        open_step(path=f"^/keys/entries/{martin_index}$", flip_json="inclusion.0"),
        open_step(path=document_path, redirect=f"/documents/{other}"),
        open_step(path=document_path, flip_json="versions.-1.signature"),
        open_step(path=document_path, flip_json="versions.-1.content_digest"),
        open_step(path=document_path, flip_json="versions.-1.metadata_envelope"),
        open_step(
            path=document_path,
            set_json={"field": "versions.-1.readers.0.email", "value": "mallory@web.test"},
        ),
        open_step(path="/content$", flip_byte=200),
        open_step(path="/content$", flip_byte=40),
        # Another envelope under the same key, which every reader holds: not the signed one.
        open_step(path="/content$", body_hex=forged.hex()),
        {
            "as": "durand",
            "op": "previewRecipients",
            "args": {"emails": [world.camille.email]},
            # The batch asked for Camille answered with Martin's entry.
            "tamper": [{"path": "^/keys/lookups$", "request_json": {"emails": [martin.email]}}],
        },
        open_step(),
        # The search index's answer is not one: the document opens all the same, and
        # the failure to index it is told beside it.
        open_step(path="^/search/documents$", body_hex=b'{"keywords": []}'.hex()),
    )
    ok(results[0]), ok(results[1])
    (
        swapped,
        unproven,
        another,
        signature,
        digest,
        metadata,
        readers,
        chunk,
        header,
        reader_made,
        wrong_entry,
        honest,
        index_refused,
    ) = results[2:]
    assert refused(swapped) == "directory_refused"
    assert refused(unproven) == "invalid_proof"
    assert refused(another) == "exchange_refused"
    # A manifest whose fields were changed is not what the author signed.
    assert refused(signature) == "invalid_signature"
    assert refused(digest) == "invalid_signature"
    assert refused(metadata) == "invalid_signature"
    assert refused(readers) == "invalid_signature"
    assert refused(chunk) == "chunk_authentication:0"
    assert refused(header) == "header_authentication"
    assert refused(wrong_entry) == "directory_refused"
    # What it wrote is void: the sink is aborted, never closed.
    assert refused(reader_made) == "exchange_refused"
    assert reader_made["sink"]["aborted"] and not reader_made["sink"]["closed"]
    for result in (swapped, unproven, another, signature, digest, metadata, readers, chunk, header):
        assert result["sink"]["written"] == "", result
        assert result["sink"]["aborted"] and not result["sink"]["closed"], result
    opened = ok(honest)
    assert opened["signer"] == martin.email
    assert opened["document"]["title"] == "Bilan" and opened["document"]["filename"] == "first.txt"
    assert bytes.fromhex(honest["sink"]["written"]) == first.read_bytes()
    assert honest["sink"]["closed"]
    # Opened, it was added to Durand's search index, which his SDK reads alike.
    assert opened["indexFailure"] is None
    assert personal_index(world.sdk(durand)).search("kinésithérapie") == {uuid.UUID(sent)}
    reopened = ok(index_refused)
    assert reopened["indexFailure"] and index_refused["sink"]["closed"]
    assert bytes.fromhex(index_refused["sink"]["written"]) == first.read_bytes()


def test_a_server_naming_another_account_or_other_keys_is_refused_at_sign_in(
    world: World, run, tmp_path: Path
) -> None:
    camille = world.camille
    results_letter = tmp_path / "resultats.txt"
    results_letter.write_bytes(b"vos resultats")
    world.sdk(world.martin).send(
        results_letter,
        patient_file_id=world.patient_file_id,
        to=[camille.email],
        title="Vos résultats",
    )
    results = run(
        {
            "as": "camille",
            "op": "signIn",
            "args": {"email": camille.email, "password": camille.password},
        },
        {
            "as": "camille",
            "op": "finishSignIn",
            "args": {"recoveryCode": world.recovery_code(camille)},
            "tamper": [
                {"path": "^/accounts/me$", "set_json": {"field": "id", "value": str(uuid.uuid4())}}
            ],
        },
        {"as": "camille", "op": "account", "args": {}},
        *sign_in("camille", camille, totp=world.totp(camille)),
        {
            "as": "camille",
            "op": "pairSafetyNumber",
            "args": {"email": world.martin.email},
            "tamper": [{"path": "^/keys/entries$", "flip_json": "entry"}],
        },
        {"as": "camille", "op": "inbox", "args": {}},
    )
    assert refused(results[1]) == "exchange_refused"
    assert ok(results[2]) == {"account": None}
    ok(results[4])
    assert refused(results[5]) == "invalid_proof"
    # Her file's other documents are hers to read too (R28): this one is the letter.
    (letter,) = [d for d in ok(results[6])["documents"] if d["title"] == "Vos résultats"]
    assert (letter["patientName"], letter["authorEmail"]) == (
        "Dr Camille.Petit",
        world.martin.email,
    )


CHROMIUM = "/usr/bin/chromium"

# Signs in, opens a document, sends one from a Blob's stream and signs out, through
# the page's worker as the screens call it; returns what the page received, and the
# key directory's pin as the worker left it in IndexedDB.
BROWSER = """
async ({ email, password, totp, documentId, patientFileId, to, size }) => {
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const worker = window.uhealthsec.cryptoWorker;
  const refusal = async (run) => {
    try {
      await run();
      return null;
    } catch (e) {
      return e.identifier;
    }
  };
  const out = {};
  out.signedOut = await refusal(() => worker.call("inbox", {}));
  out.factors = await worker.call("signIn", { email, password });
  out.account = await worker.call("finishSignIn", { totp });
  const pipe = new TransformStream();
  const received = new Response(pipe.readable).arrayBuffer();
  out.opened = await worker.call("openDocument", { id: documentId, sink: pipe.writable });
  out.content = hex(new Uint8Array(await received));
  const content = Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);
  const { recipients } = await worker.call("previewRecipients", { emails: to });
  out.sent = await worker.call("sendDocument", {
    patientFileId, to, readers: recipients, title: "Envoyé du navigateur", filename: "scan.bin",
    mediaType: "application/octet-stream", size, source: new Blob([content]).stream(),
  });
  out.pin = await new Promise((resolve, reject) => {
    const opening = indexedDB.open("uhealthsec-pins");
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
      const read = opening.result.transaction("pins").objectStore("pins").getAll();
      const shown = (pin) => ({ origin: pin.origin, size: String(pin.size) });
      read.onsuccess = () => resolve(read.result.map(shown));
      read.onerror = () => reject(read.error);
    };
  });
  out.signOut = await worker.call("signOut", {});
  out.afterSignOut = await worker.call("account", {});
  return out;
}
"""


def test_in_chromium_the_worker_signs_in_opens_and_sends_against_the_server(
    world: World, tmp_path: Path
) -> None:
    """The same operations in the browser, under the application's policy: the
    sign-in's redirect followed on the page's origin, the envelope uploaded as a Blob,
    the pin kept in IndexedDB; Python opens what the browser sent."""
    from playwright.sync_api import sync_playwright

    martin, durand = world.martin, world.durand
    letter = tmp_path / "lettre.txt"
    letter.write_bytes("lettre de liaison, é".encode() * 3000)
    document_id = str(
        world.sdk(durand).send(
            letter, patient_file_id=world.patient_file_id, to=[martin.email], title="Lettre"
        )
    )
    size = 2 * (1 << 20) + 11
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{world.url}/app/")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            seen = page.evaluate(
                BROWSER,
                {
                    "email": martin.email,
                    "password": martin.password,
                    "totp": world.totp(martin),
                    "documentId": document_id,
                    "patientFileId": world.patient_file_id,
                    "to": [durand.email],
                    "size": size,
                },
            )
        finally:
            browser.close()
    assert not errors, errors
    assert seen["signedOut"] == "signed_out"
    assert seen["factors"] == {"factors": ["totp", "recovery_code"]}
    assert seen["account"]["account"]["id"] == martin.account_id
    assert seen["opened"]["signer"] == durand.email
    assert seen["opened"]["document"]["title"] == "Lettre"
    assert bytes.fromhex(seen["content"]) == letter.read_bytes()
    (pin,) = seen["pin"]
    assert pin["origin"].endswith("/keys") and int(pin["size"]) > 0
    assert seen["signOut"] == {"signedOut": True}
    assert seen["afterSignOut"] == {"account": None}

    received = world.sdk(durand).fetch(seen["sent"]["document"]["id"], tmp_path / "scan.bin")
    assert received.path.read_bytes() == bytes((i * 7 + 3) & 0xFF for i in range(size))
    assert received.author_email == martin.email


def test_under_attack_the_worker_solves_the_proof_of_work_and_sends_the_factor_with_the_password(
    world: World, run
) -> None:
    """With the shield's breaker open (most recent sign-ins failed), a sign-in is
    answered 429 with a challenge, then 401 asking for the second factor with the
    password: the worker solves the challenge (web/src/protocol/proof_of_work.ts),
    offers every factor, and sends the password again with the one given."""
    target = world.users.signed_in("target@web.test")
    world.clock.advance(minutes=shield.BREAKER_WINDOW_MINUTES)  # a window of its own
    for i in range(shield.BREAKER_MIN_ATTEMPTS):
        stuffed = {"email": f"leaked{i}@web.test", "auth_secret": "A" * 43}
        assert world.http.post("/auth/login", json=stuffed).status_code == 401
    started, finished, account = run(
        *sign_in("target", target, totp=oathtool(target.totp_secret, world.clock.now)),
        {"as": "target", "op": "account", "args": {}},
    )
    # Which factors the account has is not said here: a passkey is offered too (the
    # server answers its options for any address, a decoy's when it has none).
    assert ok(started) == {"factors": ["totp", "recovery_code", "webauthn"]}
    assert ok(finished)["account"]["id"] == target.account_id
    assert ok(account) == ok(finished)
    ctx = world.users.ctx
    assert ctx is not None
    with ctx.sessions() as db:
        assert Shield(db, ctx).metrics()["breaker_open"] == 1
    world.clock.advance(minutes=shield.BREAKER_WINDOW_MINUTES + 1)


def test_what_the_page_is_told_of_an_opened_document_is_what_its_author_signed(
    world: World, run, tmp_path: Path
) -> None:
    """The document screen shows who sent it, about which patient and who can read it
    from the worker's answer: a hostile server naming another author, another patient
    or fewer readers than the signed manifest holds must not reach the page as true."""
    martin, durand, camille = world.martin, world.durand, world.camille
    letter = tmp_path / "lettre.txt"
    letter.write_bytes(b"lettre de liaison")
    # Signed in afresh: an earlier test of the module may have moved the clock past
    # the access token of a device kept from before.
    world.devices.pop(martin.email, None)
    sent = str(
        world.sdk(martin).send(
            letter,
            patient_file_id=world.patient_file_id,
            to=[durand.email, camille.email],
            title="Lettre",
        )
    )
    document_path = f"^/documents/{sent}$"

    def open_step(field: str, value: Any) -> dict[str, Any]:
        tamper = {"path": document_path, "set_json": {"field": field, "value": value}}
        return {"as": "durand", "op": "openDocument", "args": {"id": sent}, "tamper": [tamper]}

    martin_only = [{"account_id": martin.account_id, "email": martin.email, "display_name": "M"}]
    results = run(
        *sign_in("durand", durand, totp=world.totp(durand)),
        # The inbox loads the names of the practice's patients and members.
        {"as": "durand", "op": "inbox", "args": {}},
        open_step("author_email", camille.email),
        open_step("patient_id", durand.account_id),
        open_step("recipients", martin_only),
    )
    ok(results[0]), ok(results[1]), ok(results[2])
    author, patient, readers = results[3:]
    # What a refusal would be is for the fix to choose; an answer must be the signed truth.
    believed: list[str] = []
    if author["ok"] and author["value"]["document"]["authorEmail"] != martin.email:
        believed.append(f"sent by {author['value']['document']['authorEmail']}")
    # The manifest signs the patient file, whose patient is Camille.
    if patient["ok"] and patient["value"]["document"]["patientName"] != "Dr Camille.Petit":
        believed.append(f"about {patient['value']['document']['patientName']}")
    # The manifest signs its readers: Camille can read it, whatever the listing says.
    signed_readers = sorted([martin.email, durand.email, camille.email])
    if readers["ok"] and sorted(readers["value"]["document"]["recipients"]) != signed_readers:
        believed.append(f"readable by {readers['value']['document']['recipients']} only")
    assert believed == [], believed


def test_the_readers_shown_before_sending_are_not_named_after_another_address(
    world: World, run
) -> None:
    """The review before sending names each proven reader: a member list pairing Paul
    Durand's account with Camille's address and name must not make the review show
    Camille's name over the keys of Paul Durand's address."""
    martin, durand, camille = world.martin, world.durand, world.camille
    swapped = {
        "account_id": durand.account_id,
        "email": camille.email,
        "display_name": "Dr Camille.Petit",
        "kind": "practitioner",
        "role": "practitioner",
        "identity_verified": True,
        "rpps_proven": False,
    }
    results = run(
        *sign_in("martin", martin, totp=world.totp(martin)),
        {
            "as": "martin",
            "op": "members",
            "args": {"practiceId": world.practice_id},
            "tamper": [{"path": "/members$", "set_json": {"field": "-1", "value": swapped}}],
        },
        {"as": "martin", "op": "previewRecipients", "args": {"emails": [durand.email]}},
    )
    ok(results[0]), ok(results[1])
    # The list is ordered by address: Paul Durand's is the last, the one swapped.
    assert durand.email not in {m["email"] for m in ok(results[2])["members"]}
    readers = {r["email"]: r["name"] for r in ok(results[3])["recipients"]}
    assert readers[durand.email] != "Dr Camille.Petit", readers


def test_a_rewritten_batch_of_recipients_keys_refuses_the_whole_send(world: World, run) -> None:
    """The worker looks a send's readers up in one batch (PROTOCOL 10.5) and checks each
    entry as the single lookup does: a hostile answer refuses the review before
    sending, naming what it refused, and the honest one is then taken."""
    martin, durand, camille = world.martin, world.durand, world.camille
    to = [durand.email, camille.email]

    def review(*tamper: dict[str, Any]) -> dict[str, Any]:
        return {
            "as": "martin",
            "op": "previewRecipients",
            "args": {"emails": to},
            "tamper": [{"path": "^/keys/lookups$", **t} for t in tamper],
        }

    results = run(
        *sign_in("martin", martin, totp=world.totp(martin)),
        review({"flip_json": "entries.1.inclusion.0"}),
        review({"set_json": {"field": "entries.0", "value": None}}),
        review({"set_json": {"field": "tree_size", "value": 1}}),
        review({"set_json": {"field": "entries.1.map", "value": None}}),
        review({"request_json": {"emails": [camille.email, durand.email]}}),
        review(),
    )
    ok(results[0]), ok(results[1])
    proof, withheld, other_tree, no_map, swapped = results[2:7]
    assert refused(proof) == "invalid_proof"
    assert camille.email in proof["message"]
    assert refused(withheld) == "not_found"
    assert f"no keys are published for {durand.email}" in withheld["message"]
    assert refused(other_tree) == "directory_refused"
    assert "this device verified: refusing them all" in other_tree["message"]
    assert refused(no_map) == "invalid_proof"
    assert refused(swapped) == "directory_refused"
    assert f"when asked for {durand.email}" in swapped["message"]
    readers = {r["email"] for r in ok(results[7])["recipients"]}
    assert {durand.email, camille.email} <= readers
