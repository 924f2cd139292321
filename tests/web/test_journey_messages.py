"""Journey 6, secure messages, in Debian's headless Chromium against a real
``uhs-server serve --demo``: Dr Martin starts a thread with her patient Camille Petit
and writes with a document attached; Camille, on her phone, reads it (her unread
count first), opens the attachment and replies; Dr Martin's open thread shows the
reply and Camille's read receipt without a reload. A message altered in the server's
database is refused with the reason, its text never shown. Camille's reply is written
with the keyboard alone. (The server takes documents from practitioners only, so the
attachment is the practitioner's.)

The worker's messaging operations also run in Node against a real server whose answers
are altered on the way (a forged signature or body, another sender or key, a member
the signed list does not hold): each is refused with its reason; and what the web
client signs (a thread's members, a message) is what the Python SDK accepts, and the
other way round.
"""

from __future__ import annotations

import json
import re
import sqlite3

from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PHONE,
    check_accessibility,
    new_page,
    photograph,
    sign_in,
    tab_to,
)
from tests.web.test_web_client import (  # noqa: F401 (the Node client's fixtures)
    directory_entry,
    ok,
    refused,
    run,
    world,
)
from tests.web.test_web_client import sign_in as worker_sign_in
from uhealthsec.client.exchange.messaging import MessagingClient
from uhealthsec.crypto.manifest import Reader

FIRST = "Bonjour Camille, voici le compte rendu de votre radiographie."
REPLY = "Merci docteur, c'est bien reçu.\nÀ bientôt."
#: Polling backs off to 20 s between two polls when nothing comes (messages.ts).
NEWS_TIMEOUT_MS = 45_000


def test_a_thread_between_a_practitioner_and_her_patient(browser, demo_server, screens, tmp_path):
    martin = new_page(browser, demo_server)
    sign_in(martin, demo_server, DR_MARTIN)
    martin.get_by_role("navigation").get_by_role("link", name="Messages").click()
    martin.get_by_role("heading", name="Messages", level=1).wait_for()
    martin.get_by_text("Aucune conversation pour l'instant.").wait_for()
    martin.get_by_label(re.compile("Camille Petit")).check()
    check_accessibility(martin, "messages")
    photograph(martin, screens, "60-messages-new")
    martin.get_by_role("button", name="Commencer la conversation").click()
    martin.get_by_role("heading", name="Conversation avec Camille Petit").wait_for()
    members = martin.locator("p.members").inner_text()
    assert DR_MARTIN in members and PATIENT in members

    martin.get_by_label("Votre message").fill(FIRST)
    report = tmp_path / "compte-rendu-radio.txt"
    report.write_text("Genou droit : pas de fracture.\n", encoding="utf-8")
    martin.get_by_label("Fichier à joindre").set_input_files(str(report))
    files = martin.get_by_label("Dossier patient du document")
    assert "Camille Petit" in files.locator("option:checked").inner_text()
    martin.get_by_role("button", name="Envoyer le message").click()
    mine = martin.locator("li.message.mine")
    mine.get_by_text("Envoyé, pas encore lu").wait_for()
    assert FIRST in mine.inner_text()
    assert "compte-rendu-radio.txt" in mine.get_by_role("link").inner_text()

    # Camille, on her phone: one unread message, then the thread.
    camille = new_page(browser, demo_server, viewport=PHONE)
    sign_in(camille, demo_server, PATIENT)
    # Her documents screen says so first, with a link to the conversation.
    news = camille.locator(".new-messages")
    news.wait_for()
    assert "Dr Claire Martin" in news.inner_text() and "1 non lu(s)" in news.inner_text()
    check_accessibility(camille, "inbox with new messages")
    photograph(camille, screens, "84-inbox-new-messages-phone")
    camille.goto(f"{demo_server.url}/app/#/messages")
    thread = camille.locator("ul.threads li.unread")
    thread.wait_for()
    assert "1 non lu(s)" in thread.inner_text() and "Dr Claire Martin" in thread.inner_text()
    check_accessibility(camille, "messages (patient)")
    photograph(camille, screens, "61-messages-list-phone")
    thread.get_by_role("link").click()
    camille.get_by_role("heading", name=re.compile("Conversation avec Dr Claire Martin")).wait_for()
    received = camille.locator("li.message").first
    assert FIRST in received.inner_text() and "Dr Claire Martin" in received.inner_text()
    # The attachment is a document like any other: opened, its signature checked.
    received.get_by_role("link", name="compte-rendu-radio.txt").click()
    camille.locator(".alert.success", has_text="Signature vérifiée").wait_for()
    assert "pas de fracture" in camille.locator("pre.preview").inner_text()
    camille.go_back()
    camille.get_by_role("heading", name=re.compile("Conversation avec")).wait_for()
    # No attachment for a patient: the server takes documents from practitioners only.
    assert camille.locator("input[type=file]").count() == 0

    # Her reply, with the keyboard alone.
    tab_to(camille, "textarea[name=text]")
    camille.keyboard.type(REPLY)
    tab_to(camille, "form.composer button[type=submit]")
    camille.keyboard.press("Enter")
    camille.locator("li.message.mine", has_text="Merci docteur").wait_for()
    assert camille.evaluate("document.activeElement.name") == "text"
    check_accessibility(camille, "thread (patient)")
    photograph(camille, screens, "62-messages-thread-phone")

    # Dr Martin's thread, open all along: the reply and the read receipt come by polling.
    martin.locator("li.message:not(.mine)", has_text="Merci docteur").wait_for(
        timeout=NEWS_TIMEOUT_MS
    )
    martin.locator("li.message.mine", has_text="Lu par Camille Petit").wait_for(
        timeout=NEWS_TIMEOUT_MS
    )
    reply = martin.locator("li.message:not(.mine)").inner_text()
    assert "Merci docteur, c'est bien reçu." in reply and "À bientôt." in reply
    check_accessibility(martin, "thread")
    photograph(martin, screens, "63-messages-thread")
    assert martin.errors == [] and camille.errors == []  # type: ignore[attr-defined]

    # Whoever holds the server's disk alters Camille's reply: it is refused, with the
    # reason, and its text is not shown.
    (database,) = demo_server.home.rglob("uhealthsec.db")
    with sqlite3.connect(database) as db:
        (body,) = db.execute("SELECT body_envelope FROM messages WHERE seq = 2").fetchone()
        altered = bytearray(body)
        altered[-1] ^= 0x01
        db.execute("UPDATE messages SET body_envelope = ? WHERE seq = 2", (bytes(altered),))
    martin.get_by_role("link", name="← Toutes les conversations").click()
    martin.locator("ul.threads a").click()
    refused = martin.locator("li.message.refused")
    refused.wait_for()
    assert "Message refusé" in refused.inner_text()
    # In French, the refusal's code beside it for support; the sender's name is the
    # one the server gives (the message's text is what is withheld).
    assert "Une signature ne correspond pas" in refused.inner_text()
    assert "Code pour l'assistance : invalid_signature" in refused.inner_text()
    assert "Merci docteur" not in martin.locator("main").inner_text()
    assert FIRST in martin.locator("li.message.mine").inner_text()
    check_accessibility(martin, "refused message")
    photograph(martin, screens, "64-messages-refused")


def test_the_worker_refuses_what_a_hostile_server_changes_in_a_thread(
    world,  # noqa: F811 (the fixture imported above)
    run,  # noqa: F811
):
    martin, durand, camille = world.martin, world.durand, world.camille
    ids = {u.email: str(directory_entry(world, u).entry.account_id) for u in (martin, durand)}
    camille_index = directory_entry(world, camille).index
    # A thread the Python SDK starts and writes to: the web client reads it.
    sdk = MessagingClient(world.sdk(martin))
    thread_id = sdk.start_thread([camille.email])["id"]
    sdk.send(thread_id, "Bonjour Camille, écrit par le client Python.")
    thread_path = f"^/threads/{thread_id}$"
    messages_path = f"^/threads/{thread_id}/messages$"

    def as_camille(op: str, *tamper: dict, **args) -> dict:
        return {"as": "camille", "op": op, "args": args, "tamper": list(tamper)}

    def read(*tamper: dict) -> dict:
        return as_camille("readThread", *tamper, id=thread_id, after=0)

    def on_messages(**change) -> dict:
        return {"path": messages_path, **change}

    def on_thread(**change) -> dict:
        return {"path": thread_path, **change}

    results = run(
        *worker_sign_in("camille", camille, totp=world.totp(camille)),
        *worker_sign_in("martin", martin, totp=world.totp(martin)),
        as_camille("threads"),
        read(),
        # The message's signature, its body, its sender, its signing key.
        read(on_messages(flip_json="0.signature")),
        read(on_messages(flip_json="0.body_envelope")),
        read(on_messages(set_json={"field": "0.sender_id", "value": ids[durand.email]})),
        read(on_messages(set_json={"field": "0.signer_key_index", "value": camille_index})),
        # The thread's signed members: a link's signature, the chain withheld, a
        # participant the signed list does not hold, a member under another address.
        read(on_thread(flip_json="membership.0.signature")),
        read(on_thread(set_json={"field": "membership", "value": []})),
        read(
            on_thread(
                set_json={
                    "field": "participants.0",
                    "value": {
                        "account_id": ids[durand.email],
                        "email": durand.email,
                        "display_name": "Paul Durand",
                        "kind": "practitioner",
                        "read_seq": 0,
                    },
                }
            )
        ),
        read(on_thread(set_json={"field": "participants.-1.email", "value": durand.email})),
        as_camille("threads", {"path": "^/threads$", "flip_json": "0.membership.0.signature"}),
        # Nothing is encrypted to a thread whose members do not verify.
        as_camille(
            "sendMessage",
            on_thread(flip_json="membership.0.signature"),
            id=thread_id,
            text="jamais envoyé",
            attachment=None,
        ),
        as_camille(
            "sendMessage", id=thread_id, text="Réponse écrite dans le navigateur.", attachment=None
        ),
        {"as": "martin", "op": "readThread", "args": {"id": thread_id, "after": 0}},
        {"as": "martin", "op": "startThread", "args": {"emails": [durand.email]}},
    )
    for result in results[:4]:
        ok(result)
    listed, honest = ok(results[4]), ok(results[5])
    [shown] = listed["threads"]
    assert shown["id"] == thread_id and shown["refused"] is None and shown["unread"] == 1
    assert {m["email"] for m in shown["members"]} == {martin.email, camille.email}
    [first] = honest["messages"]
    assert first["refused"] is None and first["senderEmail"] == martin.email
    assert first["text"] == "Bonjour Camille, écrit par le client Python."
    signature, body, sender, key = (ok(r)["messages"][0] for r in results[6:10])
    for refusal, reason in (
        (signature, f"its signature does not verify: it is not what {martin.email} sent"),
        (body, f"its signature does not verify: it is not what {martin.email} sent"),
        (sender, "its sender is not a signed member of this thread"),
        (key, "it names a signing key that is not its sender's"),
    ):
        assert refusal["refused"] == reason and "text" not in refusal
    link, withheld, added, renamed = results[10:14]
    assert refused(link) == "exchange_refused" and "does not verify (change 1)" in link["message"]
    assert refused(withheld) == "exchange_refused"
    assert "without the signed list of its members" in withheld["message"]
    assert refused(added) == "exchange_refused"
    assert f"lists {durand.email} in this thread, but no member signed them in" in added["message"]
    assert refused(renamed) == "exchange_refused" and "calls that account" in renamed["message"]
    [forged] = ok(results[14])["threads"]
    assert "does not verify (change 1)" in forged["refused"] and forged["members"] == []
    assert refused(results[15]) == "exchange_refused"
    sent = ok(results[16])["message"]
    assert sent["seq"] == 2 and sent["mine"]
    martin_view = ok(results[17])
    assert [m["seq"] for m in martin_view["messages"]] == [1, 2]
    assert martin_view["messages"][1]["text"] == "Réponse écrite dans le navigateur."
    receipts = {m["email"]: m["readSeq"] for m in martin_view["thread"]["members"]}
    assert receipts[camille.email] >= 1
    started = ok(results[18])["thread"]

    # What the worker signed, the SDK accepts: Camille's message (nothing was posted
    # for the refused send), and the membership of the thread it started, which Paul
    # Durand's SDK checks before it writes and reads.
    read_by_sdk = sdk.read(thread_id)
    assert [m.text for m in read_by_sdk] == [
        "Bonjour Camille, écrit par le client Python.",
        "Réponse écrite dans le navigateur.",
    ]
    assert read_by_sdk[1].sender_email == camille.email
    paul = MessagingClient(world.sdk(durand))
    paul.send(started["id"], "Bien reçu, par le client Python.")
    assert [m.text for m in paul.read(started["id"])] == ["Bien reçu, par le client Python."]


def test_the_worker_shows_a_message_the_server_serves_twice_once(
    world,  # noqa: F811 (the fixture imported above)
    run,  # noqa: F811
):
    """A message's signature binds its id and thread, not its place: a server that
    serves one again further down the thread (a prescription said twice) is refused,
    or shows it once."""
    martin, camille = world.martin, world.camille
    thread_id = MessagingClient(world.sdk(martin)).start_thread([camille.email])["id"]
    for text in ("Prenez un comprimé ce soir.", "Rappelez-moi demain."):
        MessagingClient(world.sdk(martin)).send(thread_id, text)
    answer = world.sdk(camille).call("GET", f"/threads/{thread_id}/messages")
    message, second = answer.json()
    # In the second one's place: the thread's count and Camille's receipt still agree.
    replayed = {**message, "seq": second["seq"]}
    results = run(
        *worker_sign_in("camille", camille, totp=world.totp(camille)),
        {
            "as": "camille",
            "op": "readThread",
            "args": {"id": thread_id, "after": 0},
            "tamper": [
                {
                    "path": f"^/threads/{thread_id}/messages$",
                    "set_json": {"field": "1", "value": replayed},
                }
            ],
        },
    )
    read = results[-1]
    if read["ok"]:
        shown = [m for m in read["value"]["messages"] if m["refused"] is None]
        assert [m["id"] for m in shown] == [message["id"]]
    else:
        assert refused(read) == "exchange_refused"


def camille_reads(thread_id: str, served: dict, through: str) -> dict:
    """Camille's worker reading thread ``thread_id`` as a hostile server serves it:
    ``served``, with no message. Her requests go to her own thread ``through``, so the
    server answers them (200), their bodies replaced."""

    def served_instead(path: str, body: object) -> dict:
        return {
            "path": f"^/threads/{thread_id}{path}$",
            "redirect": f"/threads/{through}{path}",
            "body_hex": json.dumps(body).encode().hex(),
        }

    return {
        "as": "camille",
        "op": "readThread",
        "args": {"id": thread_id, "after": 0},
        "tamper": [served_instead("", served), served_instead("/messages", [])],
    }


def test_the_worker_refuses_a_thread_it_is_not_a_signed_member_of(
    world,  # noqa: F811 (the fixture imported above)
    run,  # noqa: F811
):
    """A server that hands Camille a thread between two others (its chain genuinely
    signed by them) is refused with a reason, listed as refused, never shown as hers."""
    martin, durand, camille = world.martin, world.durand, world.camille
    theirs = MessagingClient(world.sdk(martin)).start_thread([durand.email])["id"]
    served = world.sdk(martin).call("GET", f"/threads/{theirs}").json()
    hers = MessagingClient(world.sdk(martin)).start_thread([camille.email])["id"]

    results = run(
        *worker_sign_in("camille", camille, totp=world.totp(camille)),
        camille_reads(theirs, served, through=hers),
        {
            "as": "camille",
            "op": "threads",
            "tamper": [{"path": "^/threads$", "body_hex": json.dumps([served]).encode().hex()}],
        },
    )
    assert refused(results[2]) == "exchange_refused", results[2]
    [listed] = ok(results[3])["threads"]
    assert listed["refused"] is not None and listed["members"] == []


def test_the_worker_shows_a_message_replayed_in_a_later_poll_once(
    world,  # noqa: F811 (the fixture imported above)
    run,  # noqa: F811
):
    """The screen polls for the messages after the last it shows: a server that serves
    one already shown again as the next (in the place of a real one) is refused, or
    its copy is not shown as a new message."""
    martin, camille = world.martin, world.camille
    thread_id = MessagingClient(world.sdk(martin)).start_thread([camille.email])["id"]
    for text in ("Prenez un comprimé ce soir.", "Rappelez-moi demain."):
        MessagingClient(world.sdk(martin)).send(thread_id, text)
    first, second = world.sdk(camille).call("GET", f"/threads/{thread_id}/messages").json()
    MessagingClient(world.sdk(martin)).send(thread_id, "Le cabinet ferme à 18 h.")
    replayed = {**first, "seq": second["seq"] + 1}

    def read(after: int, *tamper: dict) -> dict:
        args = {"id": thread_id, "after": after}
        return {"as": "camille", "op": "readThread", "args": args, "tamper": list(tamper)}

    results = run(
        *worker_sign_in("camille", camille, totp=world.totp(camille)),
        # The first poll before the third message (its answer as it was then).
        read(
            0,
            {
                "path": f"^/threads/{thread_id}/messages$",
                "body_hex": json.dumps([first, second]).encode().hex(),
            },
        ),
        read(
            second["seq"],
            {
                "path": f"^/threads/{thread_id}/messages$",
                "set_json": {"field": "0", "value": replayed},
            },
        ),
    )
    shown = [m["id"] for m in ok(results[2])["messages"]]
    assert shown == [first["id"], second["id"]]
    later = results[3]
    if later["ok"]:
        again = [m for m in later["value"]["messages"] if m["refused"] is None]
        assert first["id"] not in [m["id"] for m in again]
    else:
        assert refused(later) == "exchange_refused"


def test_the_worker_refuses_a_member_signed_in_under_another_person_s_address(
    world,  # noqa: F811 (the fixture imported above)
    run,  # noqa: F811
):
    """Paul Durand signs a thread's first link naming himself by Dr Martin's address;
    an honest server refuses it, a hostile one serves it to Camille. His key signs
    truly, so only the key directory tells the address is not his: shown, the thread
    would be "with Dr Martin" and his messages hers."""
    martin, durand, camille = world.martin, world.durand, world.camille
    paul = MessagingClient(world.sdk(durand))
    honest = paul.start_thread([camille.email])["id"]
    served = world.sdk(camille).call("GET", f"/threads/{honest}").json()
    ids = {u.email: directory_entry(world, u).entry.account_id for u in (durand, camille)}
    forged_id, request = paul.thread_request(
        [Reader(ids[durand.email], martin.email), Reader(ids[camille.email], camille.email)]
    )
    signed = request.model_dump(mode="json")["membership"]
    forged = {
        **served,
        "id": str(forged_id),
        "membership": [
            {
                **served["membership"][0],
                "nonce": signed["nonce"],
                "members": signed["members"],
                "signature": signed["signature"],
            }
        ],
        "participants": [
            {**p, "email": martin.email, "display_name": "Dr Martin"}
            if p["account_id"] == str(ids[durand.email])
            else p
            for p in served["participants"]
        ],
    }

    results = run(
        *worker_sign_in("camille", camille, totp=world.totp(camille)),
        camille_reads(str(forged_id), forged, through=honest),
    )
    read = results[-1]
    if read["ok"]:
        shown = {m["accountId"]: m["email"] for m in read["value"]["thread"]["members"]}
        assert shown[str(ids[durand.email])] == durand.email
    else:
        assert refused(read) == "exchange_refused"
