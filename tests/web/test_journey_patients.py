"""Journey 5, patient files, in Debian's headless Chromium against a real
``uhs-server serve --demo``: Dr Martin finds Camille Petit's file by name, sees until
when it is kept and the patient's consent (read only, a research consent naming its
study; the list counts each study's participants, R19), opens a document's versions
and readers, shares it with the patient until a date, uploads a new version after
seeing whom it will be encrypted for, revokes Paul Durand, and the next version is
encrypted without him (as the SDK keeps a revoked reader out); Paul's device no longer
lists the document. Each screen is checked with axe-core and photographed.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    PHONE,
    check_accessibility,
    for_camille_to_paul,
    new_page,
    open_screen,
    photograph,
    sign_in,
)
from tests.web.test_journey_consents import camilles_file, sdk
from tests.web.test_web_client import (  # noqa: F401 (the Node client's fixtures)
    directory_entry,
    ok,
    refused,
    run,
    world,
)
from tests.web.test_web_client import sign_in as worker_sign_in
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.errors import ApiError


def send_note(page, tmp_path, title: str) -> None:
    """Dr Martin sends Paul Durand a text note about Camille Petit (journey 3's screen)."""
    page.get_by_role("link", name="Envoyer", exact=True).click()
    page.get_by_role("heading", name="Envoyer un document").wait_for()
    for_camille_to_paul(page)
    note = tmp_path / "bilan.txt"
    note.write_text("Bilan kinésithérapie, version 1\n", encoding="utf-8")
    page.locator("input[type=file]").set_input_files(str(note))
    page.get_by_label(re.compile("^Titre")).fill(title)
    page.get_by_role("button", name="Vérifier les destinataires").click()
    page.get_by_role("button", name="Chiffrer et envoyer").click()
    page.locator(".alert.success", has_text=f"Envoyé : {title}.").wait_for()


def outcome(page, text: str) -> None:
    page.locator(".document-panel .alert.success", has_text=text).wait_for()


def readers_text(page) -> str:
    return page.locator(".document-panel ul.readers").first.inner_text()


def new_version(page, tmp_path, text: str) -> str:
    """Checks a new version and returns the readers the confirmation shows, then sends it."""
    upload = tmp_path / f"bilan-{len(text)}.txt"
    upload.write_text(text, encoding="utf-8")
    page.get_by_label("Fichier de la nouvelle version").set_input_files(str(upload))
    page.get_by_role("button", name="Vérifier avant d'envoyer").click()
    page.get_by_role("heading", name="Avant de modifier ce document").wait_for()
    return page.locator("form.new-version ul.readers").inner_text()


def test_a_practitioner_manages_a_patient_file(browser, demo_server, screens, tmp_path):
    title = "Bilan kiné"
    # Camille takes part in the practice's study (her side: test_journey_consents.py).
    practice_id, _ = camilles_file(sdk(demo_server, DR_MARTIN))
    study = ConsentClient(sdk(demo_server, DR_MARTIN)).declare_study(
        practice_id,
        title="Sommeil et douleur",
        sponsor="Université de Tours",
        purpose="Savoir si mieux dormir soulage la douleur chronique.",
        methodology="MR-003",
        starts_on=date(2026, 1, 1),
        duration_months=24,
    )
    ConsentClient(sdk(demo_server, PATIENT)).research(practice_id, study["id"], "permit")
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    send_note(page, tmp_path, title)

    # The list, and the search by the patient's name.
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("heading", name="Dossiers patients", level=1).wait_for()
    assert page.get_by_role("link", name="Patients").get_attribute("aria-current") == "page"
    search = page.get_by_label("Rechercher un patient par son nom")
    search.fill("petit")
    assert page.locator("ul.patients li").count() == 1
    search.fill("personne de ce nom")
    assert page.locator("ul.patients li").count() == 0
    assert page.locator("p.count").inner_text() == "0 dossier(s)"
    search.fill("Camille")
    studies = page.locator("section.part", has_text="Études de recherche du cabinet").inner_text()
    assert "Sommeil et douleur — Université de Tours" in studies
    assert "Patients qui participent aujourd'hui : 1" in studies
    check_accessibility(page, "patient files")
    photograph(page, screens, "30-patients-list")

    # The file: retention end, consent (read only), its documents.
    page.get_by_role("link", name="Camille Petit").click()
    page.get_by_role("heading", name="Camille Petit", level=1).wait_for()
    assert re.fullmatch(r"#/patients/[0-9a-f-]{36}", page.evaluate("location.hash"))
    kept = page.locator("section.part", has_text="Conservation du dossier").inner_text()
    # The demo patient's birth date is not recorded: the end waits on it.
    assert "Conservé jusqu'au\ninconnu pour l'instant" in kept
    assert "date de naissance inconnue" in kept
    consent = page.locator("section.part", has_text="Consentement du patient")
    assert "Seul le patient modifie ses choix" in consent.inner_text()
    assert "Recherche : autorisé pour l'étude « Sommeil et douleur »" in consent.inner_text()
    assert consent.locator("input, button, select").count() == 0
    page.get_by_role("link", name=title).wait_for()
    check_accessibility(page, "patient file")

    # A document's versions and readers.
    page.get_by_role("button", name=f"Versions et lecteurs de « {title} »").click()
    page.get_by_role("heading", name="Lecteurs").wait_for()
    assert "Version 1 — Bilan kiné" in page.locator("ol.versions").inner_text()
    listed = readers_text(page)
    assert "Paul Durand" in listed and "accès sans fin" in listed

    # Shared with the patient until a date.
    until = date.today() + timedelta(days=30)
    page.get_by_label("Adresse e-mail du lecteur").fill(PATIENT)
    page.get_by_label("Accès jusqu'au (facultatif)").fill(until.isoformat())
    page.get_by_role("button", name="Partager", exact=True).click()
    outcome(page, f"Document partagé avec {PATIENT}.")
    patient_line = page.locator(".document-panel ul.readers li", has_text=PATIENT).inner_text()
    assert "accès jusqu'au" in patient_line and str(until.year) in patient_line
    check_accessibility(page, "document history")
    photograph(page, screens, "31-patients-file")

    # A new version: first what it continues and who will read it, then sent.
    shown = new_version(page, tmp_path, "Bilan kinésithérapie, version 2\n")
    assert all(who in shown for who in (DR_MARTIN, PAUL_DURAND, PATIENT))
    assert (
        "« Bilan kiné » passera de la version 1 à la version 2"
        in page.locator("form.new-version").inner_text()
    )
    check_accessibility(page, "before changing")
    photograph(page, screens, "32-patients-new-version")
    page.get_by_role("button", name="Envoyer la version 2").click()
    outcome(page, "La version 2 de « Bilan kiné » est envoyée.")
    assert "Version 2 — Bilan kiné" in page.locator("ol.versions").inner_text()

    # Paul's access revoked: listed no more, and kept out of the next version.
    page.get_by_role("button", name="Retirer l'accès de Paul Durand").click()
    outcome(page, f"L'accès de {PAUL_DURAND} est retiré")
    assert PAUL_DURAND not in readers_text(page)
    assert f"{PAUL_DURAND} : retiré à la version 2" in page.locator(".document-panel").inner_text()
    shown = new_version(page, tmp_path, "Bilan kinésithérapie, version 3, sans Paul\n")
    assert PAUL_DURAND not in shown and PATIENT in shown and DR_MARTIN in shown
    page.get_by_role("button", name="Envoyer la version 3").click()
    outcome(page, "La version 3 de « Bilan kiné » est envoyée.")
    assert page.errors == []  # type: ignore[attr-defined]

    # Paul's device lists the document no more; the file works at a phone's width.
    colleague = new_page(browser, demo_server, viewport=PHONE)
    sign_in(colleague, demo_server, PAUL_DURAND)
    open_screen(colleague, "Patients")
    colleague.get_by_role("link", name="Camille Petit").click()
    colleague.get_by_role("heading", name="Camille Petit", level=1).wait_for()
    colleague.get_by_text("Aucun document de ce dossier que vous puissiez lire.").wait_for()
    check_accessibility(colleague, "patient file on a phone")
    photograph(colleague, screens, "33-patients-file-phone")
    assert colleague.errors == []  # type: ignore[attr-defined]


def test_the_worker_keeps_the_signed_history_of_a_patient_file_against_a_hostile_server(
    world,  # noqa: F811 (the fixture imported above)
    run,  # noqa: F811
    tmp_path,
):
    """The worker's patient-file operations in Node against a real server, some answers
    altered on the way: what the signed history does not vouch for is refused, and what
    the worker signs (share and revocation statements, a new version) is what the
    Python SDK accepts and continues."""
    martin, durand, camille = world.martin, world.durand, world.camille
    note = tmp_path / "bilan.txt"
    note.write_bytes(b"bilan, version 1")
    sent = str(
        # Shared with Camille later, by the worker: not hers by default (R28) here.
        world.sdk(martin).send(
            note,
            patient_file_id=world.patient_file_id,
            to=[durand.email],
            title="Bilan",
            to_patient=False,
        )
    )
    entries = {u.email: directory_entry(world, u).entry for u in (martin, durand, camille)}
    ids = {email: str(entry.account_id) for email, entry in entries.items()}
    # The readers as nextVersion shows them and newVersion takes them back: account and key.
    reviewed = [
        {"accountId": ids[email], "fingerprint": hashlib.sha256(entries[email].bundle).hexdigest()}
        for email in (martin.email, durand.email, camille.email)
    ]
    document_path = f"^/documents/{sent}$"
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()

    def step(op: str, tamper: dict | None = None, content: bytes | None = None, **args):
        made = {"as": "martin", "op": op, "args": {"id": sent, **args}}
        if tamper:
            made["tamper"] = [{"path": document_path, **tamper}]
        if content is not None:
            made["content"] = content.hex()
        return made

    def listed(*emails: str) -> list[dict]:
        return [
            {
                "account_id": ids[email],
                "email": email,
                "display_name": email,
                "kind": "practitioner",
                "granted_by": ids[martin.email],
                "expires_at": None,
            }
            for email in emails
        ]

    version = {"title": "Bilan", "filename": "bilan-2.txt", "mediaType": "text/plain"}
    results = run(
        *worker_sign_in("martin", martin, totp=world.totp(martin)),
        {"as": "martin", "op": "patientFile", "args": {"patientFileId": world.patient_file_id}},
        # A version whose signature does not verify: its key is passed on to no one.
        step(
            "shareDocument",
            {"flip_json": "versions.-1.signature"},
            emails=[camille.email],
            expiresAt=None,
        ),
        step("shareDocument", emails=[camille.email], expiresAt=expires),
        step("documentHistory"),
        # A reader the server adds, whom no one signed for.
        step("nextVersion", {"set_json": {"field": "versions.0.statements", "value": []}}),
        step("nextVersion"),
        # Readers other than those the person confirmed: nothing is encrypted.
        step(
            "newVersion",
            content=b"bilan, version 2",
            confirmed={"latestVersion": 1, "readers": reviewed[:2]},
            **version,
        ),
        step(
            "newVersion",
            content=b"bilan, version 2",
            confirmed={"latestVersion": 1, "readers": reviewed},
            **version,
        ),
        step("revokeReader", email=durand.email),
        # The server lists Durand again as a reader: he was revoked (by the signed
        # statement, and in this worker's memory).
        {
            **step("nextVersion"),
            "tamper": [
                {
                    "path": document_path,
                    "set_json": {
                        "field": "recipients",
                        "value": listed(martin.email, durand.email, camille.email),
                    },
                },
            ],
        },
        step("nextVersion"),
    )
    ok(results[0]), ok(results[1])
    (
        file,
        forged,
        shared,
        history,
        unvouched,
        next_version,
        changed,
        new_version,
        revoked,
        withheld,
        after,
    ) = results[2:]
    assert [d["id"] for d in ok(file)["documents"]] == [sent]
    assert ok(file)["retention"]["basis"] and ok(file)["consents"] == []
    assert refused(forged) == "invalid_signature"
    ok(shared)
    readers = {r["email"]: r["expiresAt"] for r in ok(history)["history"]["readers"]}
    assert readers[durand.email] is None and readers[camille.email] is not None
    assert refused(unvouched) == "exchange_refused"
    assert "neither its author nor any of its readers signed for" in unvouched["message"]
    shown = ok(next_version)["next"]
    assert shown["latestVersion"] == 1 and shown["title"] == "Bilan"
    assert shown["readers"][0]["accountId"] == ids[martin.email]
    pairs = sorted((r["accountId"], r["fingerprint"]) for r in shown["readers"])
    assert pairs == sorted((r["accountId"], r["fingerprint"]) for r in reviewed)
    assert refused(changed) == "exchange_refused" and "changed since" in changed["message"]
    assert ok(new_version)["version"] == 2
    assert ok(revoked)["versions"] == 2
    assert refused(withheld) == "exchange_refused"
    assert f"lists {durand.email} again" in withheld["message"]
    assert "revoked at version 2" in withheld["message"]
    assert durand.email not in [r["email"] for r in ok(after)["next"]["readers"]]

    # What the worker signed is the SDK's to check and continue: Camille opens version
    # 2 (its signature and chain verified), Durand can read nothing more, and Martin's
    # SDK writes version 3 for the readers the history vouches for, without Durand.
    received = world.sdk(camille).fetch(sent, tmp_path / "v2.txt")
    assert received.version == 2 and (tmp_path / "v2.txt").read_bytes() == b"bilan, version 2"
    with pytest.raises(ApiError) as ended:
        world.sdk(durand).document_view(sent)
    assert ended.value.status == 404
    third = tmp_path / "bilan-3.txt"
    third.write_bytes(b"bilan, version 3")
    assert world.sdk(martin).new_version(sent, third) == 3
    last = world.sdk(martin).document_view(sent).versions[-1]
    assert {r.email for r in last.readers or []} == {martin.email, camille.email}
