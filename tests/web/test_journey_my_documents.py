"""Issue 21, item 1, "Mes documents", in Debian's headless Chromium against a real
``uhs-server serve --demo``: Dr Martin sends Camille Petit, the demo's patient, two
documents about her (Python SDK), one of them in two versions; Camille finds them
grouped by practice and by the author whose signature her browser verified, opens
one (verified) and saves it, then exports her file as FHIR R4. The exported Bundle is
validated with fhir.resources (R4B models, as portability.py), each document's bytes
are those sent, the profiles are named, and it has the shape of the Python SDK's
export of the same file (R18): the same Patient, documents, messages, rights requests
and retention, resource for resource, and the same access history up to the entries
the second export adds.

R28: she restricts one document, which Paul Durand reads too: his browser says the
patient restricted it (not that it is missing), his SDK is refused it; she lifts the
restriction and he reads it again.

Refusals: a listing whose signature does not verify is set apart as "Non vérifié",
its author unnamed, and the export stops rather than leave it out or name the
server's author; so does a version the server announces larger than the browser
exports, and one whose stored envelope was altered. A title with markup in it is
shown as text.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle

from tests.web.journeys import (
    DESKTOP,
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    PHONE,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    photograph_on_a_phone,
    png,
    sign_in,
)
from tests.web.test_journey_consents import camilles_file, sdk
from tests.web.test_journey_history import another_author_unsigned
from uhealthsec.client.api import ApiError
from uhealthsec.client.exchange import MessagingClient
from uhealthsec.client.portability import (
    EXPORT_FORMAT_TAG,
    MHD_MINIMAL_DOCUMENT_REFERENCE,
    documents_in,
    export_bundle,
)

MARKUP_TITLE = 'Compte rendu <img src="x" onerror="document.body.dataset.injected=1"> genou'
DOCUMENT_LISTING = re.compile(r".*/documents\?.*")


def open_my_documents(page) -> None:
    open_screen(page, "Mes documents")
    page.get_by_role("heading", name="Mes documents", level=1).wait_for()


def export(page, tmp_path, name: str = "export.json") -> dict:
    """Exports from the screen and returns the Bundle saved."""
    page.get_by_role("button", name="Exporter mon dossier (FHIR R4)").click()
    page.locator("#main .alert.success", has_text="Export prêt").wait_for()
    with page.expect_download() as saving:
        page.get_by_role("link", name="Enregistrer l'export").click()
    saved = tmp_path / name
    saving.value.save_as(saved)
    assert re.fullmatch(
        r"mon-dossier-fhir-\d{4}-\d{2}-\d{2}\.json", saving.value.suggested_filename
    )
    return json.loads(saved.read_bytes())


def export_refused(page) -> str:
    page.get_by_role("button", name="Exporter mon dossier (FHIR R4)").click()
    alert = page.locator("#main [role=alert]", has_text="L'export est arrêté")
    alert.wait_for()
    assert page.get_by_role("link", name="Enregistrer l'export").count() == 0
    return alert.inner_text()


def comparable(bundle: dict) -> list[dict]:
    """The resources of a bundle but its access history, validated, without what is
    fresh at each export (the entries' uuids), in the bundle's order (documents by
    document and version)."""
    kept = []
    for entry in Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] in ("AuditEvent", "Binary"):
            continue
        if resource["resourceType"] == "DocumentReference":
            del resource["content"][0]["attachment"]["url"]
            for relation in resource.get("relatesTo", []):
                del relation["target"]
        for content in resource.get("payload", []):
            content.get("contentReference", {}).pop("reference", None)
        kept.append(resource)
    return sorted(kept, key=lambda r: (r["resourceType"], json.dumps(r, sort_keys=True)))


def history_of(bundle: dict) -> list[int]:
    """The journal indexes of a bundle's AuditEvents, in its order."""
    return [
        int(e["resource"]["id"].removeprefix("journal-"))
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "AuditEvent"
    ]


def test_a_patient_finds_opens_and_exports_their_documents(browser, demo_server, screens, tmp_path):
    martin = sdk(demo_server, DR_MARTIN)
    _, file_id = camilles_file(martin)
    note = tmp_path / "genou.txt"
    note.write_text("Compte rendu, version 1\n", encoding="utf-8")
    report = martin.send(note, patient_file_id=file_id, to=[PATIENT], title=MARKUP_TITLE)
    sent = {f"{report}/1": note.read_bytes()}
    note.write_text("Compte rendu, version 2 : reprise du sport\n", encoding="utf-8")
    martin.new_version(report, note, title=MARKUP_TITLE)
    sent[f"{report}/2"] = note.read_bytes()
    scan = tmp_path / "radio.png"
    scan.write_bytes(png(64, 48))
    radio = martin.send(scan, patient_file_id=file_id, to=[PATIENT], title="Radiographie")
    sent[f"{radio}/1"] = scan.read_bytes()
    # Results her practitioner explains first (R28): hers in three days, listed meanwhile.
    held_until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    martin.send(
        scan,
        patient_file_id=file_id,
        to=[],
        title="Résultats d'analyse",
        patient_available_from=held_until,
    )
    # A thread with her, a message each way; a rights request of hers (R18).
    thread = MessagingClient(martin).start_thread([PATIENT])
    MessagingClient(martin).send(thread["id"], "Votre radiographie est normale.")
    camille = sdk(demo_server, PATIENT)
    MessagingClient(camille).send(thread["id"], "Merci docteur.")
    (practice,) = camille.call("GET", "/patient-files/mine").json()
    camille.call(
        "POST", "/rights-requests", json={"practice_id": practice["practice_id"], "right": "access"}
    )

    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PATIENT)
    open_my_documents(page)
    assert page.get_by_role("link", name="Mes documents").get_attribute("aria-current") == "page"
    practice = page.locator("section.practice-documents", has_text="Cabinet de démonstration")
    practice.get_by_role("heading", name="Dr Claire Martin", level=3).wait_for()
    links = practice.locator("ul.my-documents-list li a")
    # Newest first; the title's markup is text, nothing of it became an element.
    assert links.all_inner_texts()[:2] == ["Radiographie", MARKUP_TITLE]
    assert page.locator("#main img").count() == 0
    assert page.evaluate("() => document.body.dataset.injected") is None
    assert "version 2" in practice.locator("li", has_text="genou").inner_text()
    held = practice.locator("li.held-back").inner_text()
    assert "Disponible le" in held and "Résultats" not in held  # its title is not hers yet
    check_accessibility(page, "my documents")
    photograph(page, screens, "85-my-documents")

    # Opened by the document screen, verified, and saved.
    links.filter(has_text="genou").click()
    page.locator(".alert.success", has_text="Signature vérifiée").wait_for()
    assert DR_MARTIN in page.locator(".alert.success").inner_text()
    with page.expect_download() as saving:
        page.get_by_role("link", name="Enregistrer le fichier").click()
    saving.value.save_as(tmp_path / "saved.txt")
    assert (tmp_path / "saved.txt").read_bytes() == sent[f"{report}/2"]

    open_my_documents(page)
    bundle = export(page, tmp_path)
    check_accessibility(page, "my documents, exported")
    photograph(page, screens, "86-my-documents-exported")
    Bundle.model_validate(bundle)
    found = documents_in(bundle)
    assert {k: v for k, v in found.items() if k in sent} == sent
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    # Her access history; her consent directives (none recorded yet: the defaults).
    assert "AuditEvent" in kinds and "Consent" not in kinds
    assert kinds.count("Binary") == kinds.count("DocumentReference") == len(found)
    # Who she is, her messages, her request, her file's retention (R18).
    assert kinds[0] == "Patient" and kinds.count("Patient") == 1
    assert (kinds.count("Communication"), kinds.count("Task"), kinds.count("Basic")) == (2, 1, 1)
    # The format and the profiles are named; each profile's mandatory elements are there.
    assert bundle["meta"]["tag"] == [EXPORT_FORMAT_TAG]
    references = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    for reference in references:
        assert reference["meta"]["profile"] == [MHD_MINIMAL_DOCUMENT_REFERENCE]
        assert reference["masterIdentifier"]["use"] == "usual" and "docStatus" not in reference
        assert reference["author"][0]["reference"] == f"Practitioner/{martin.account.id}"
    versions = {r["masterIdentifier"]["value"]: r for r in references}
    assert (versions[f"{report}/1"]["status"], versions[f"{report}/2"]["status"]) == (
        "superseded",
        "current",
    )
    assert versions[f"{report}/2"]["description"] == MARKUP_TITLE
    # The same shape as the Python SDK's export of the same file: the same resources,
    # and the same history, which the second export's own reads lengthen.
    python = export_bundle(camille)
    assert comparable(bundle) == comparable(python)
    in_browser, in_python = history_of(bundle), history_of(python)
    assert in_browser == sorted(in_browser, reverse=True)
    assert [i for i in in_python if i <= in_browser[0]] == in_browser

    photograph_on_a_phone(page, screens, "87-my-documents-phone")

    # R28: she restricts one document Paul Durand reads too; he is told so, not given
    # it; she lifts the restriction and he reads it again.
    note.write_text("Bilan de kinésithérapie\n", encoding="utf-8")
    shared = martin.send(note, patient_file_id=file_id, to=[PATIENT, PAUL_DURAND], title="Bilan")
    page.set_viewport_size(DESKTOP)
    page.evaluate("(id) => { location.hash = '#/documents/' + id; }", str(shared))
    page.get_by_role("heading", name="Bilan", level=1).wait_for()
    explained = page.locator(".restriction").inner_text()
    assert "Seuls vous et son auteur" in explained and "ne peut pas leur être reprise" in explained
    page.get_by_role("button", name="Restreindre l'accès à ce document").click()
    restricted = page.locator(".restriction .alert", has_text="Accès restreint : seuls vous")
    restricted.wait_for()
    page.get_by_role("button", name="Lever la restriction").wait_for()
    # The patient still reads it (opened, verified, beside the restriction).
    page.locator(".opened .alert.success", has_text="Signature vérifiée").wait_for()
    check_accessibility(page, "document restricted")
    photograph(page, screens, "90-document-restricted")
    photograph_on_a_phone(page, screens, "90-document-restricted-phone")
    page.set_viewport_size(DESKTOP)
    paul = sdk(demo_server, PAUL_DURAND)
    with pytest.raises(ApiError) as refused:
        paul.fetch(shared, tmp_path / "paul.txt")
    assert refused.value.status == 403 and "restricted" in refused.value.detail
    paul_page = new_page(browser, demo_server)
    sign_in(paul_page, demo_server, PAUL_DURAND)
    paul_page.evaluate("(id) => { location.hash = '#/documents/' + id; }", str(shared))
    paul_page.get_by_role("heading", name="Document à accès restreint", level=1).wait_for()
    said = paul_page.locator("#main").inner_text()
    assert (
        "La patiente ou le patient a restreint l'accès à ce document" in said
        and "Bilan" not in said
    )
    check_accessibility(paul_page, "restricted document, another reader")
    photograph(paul_page, screens, "91-document-restricted-reader")
    paul_page.context.close()

    # Her list says so too.
    open_my_documents(page)
    badge = page.locator("ul.my-documents-list li", has_text="Bilan").locator(".badge.restricted")
    assert badge.inner_text() == "Accès restreint"
    check_accessibility(page, "my documents, one restricted")
    page.evaluate("(id) => { location.hash = '#/documents/' + id; }", str(shared))
    page.get_by_role("button", name="Lever la restriction").click()
    page.get_by_role("button", name="Restreindre l'accès à ce document").wait_for()
    assert paul.fetch(shared, tmp_path / "paul.txt").path.read_bytes() == note.read_bytes()
    assert not page.errors  # type: ignore[attr-defined]


def test_a_document_whose_signature_fails_is_set_apart_and_stops_the_export(
    browser, demo_server, screens
):
    page = new_page(browser, demo_server, PHONE)
    sign_in(page, demo_server, PATIENT)
    page.context.route(DOCUMENT_LISTING, another_author_unsigned)
    open_my_documents(page)
    apart = page.locator("section.practice-documents h3.unverified", has_text="Non vérifié")
    apart.first.wait_for()
    shown = page.locator("#main").inner_text()
    assert "House" not in shown
    check_accessibility(page, "my documents, not verified")
    photograph(page, screens, "88-my-documents-unverified-phone")

    said = export_refused(page)
    assert "Une signature ne correspond pas" in said
    assert "Code pour l'assistance : invalid_signature" in said
    assert "Aucun fichier n'a été produit" in said
    check_accessibility(page, "export refused")
    photograph(page, screens, "89-my-documents-export-refused-phone")


def announced_huge(route):
    """The server's listing announcing at 300 MiB the latest version of its first
    document the patient may read now (one held back, R28, is not exported yet)."""
    answer = route.fetch()
    documents = answer.json()
    readable = next(d for d in documents if not d["versions"][-1].get("available_from"))
    readable["versions"][-1]["size"] = 300 * 1024 * 1024
    route.fulfill(response=answer, body=json.dumps(documents))


def test_a_version_larger_than_the_browser_exports_stops_the_export(browser, demo_server):
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PATIENT)
    open_my_documents(page)
    page.context.route(DOCUMENT_LISTING, announced_huge)
    said = export_refused(page)
    assert "trop volumineux pour être exporté dans le navigateur" in said
    assert "Code pour l'assistance : export_too_large" in said


def test_an_altered_envelope_stops_the_export(browser, demo_server, tmp_path):
    """Last of the module: the server's disk keeps the altered document."""
    martin = sdk(demo_server, DR_MARTIN)
    _, file_id = camilles_file(martin)
    blobs = demo_server.home / "var" / "blobs"
    before = {path for path in blobs.rglob("*") if path.is_file()}
    note = tmp_path / "ordonnance.txt"
    note.write_text("Ordonnance : kinésithérapie, 10 séances\n", encoding="utf-8")
    martin.send(note, patient_file_id=file_id, to=[PATIENT], title="Ordonnance")
    (blob,) = {path for path in blobs.rglob("*") if path.is_file()} - before
    altered = bytearray(blob.read_bytes())
    altered[-5] ^= 0x01  # in the last chunk's tag, past the header
    blob.write_bytes(bytes(altered))

    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PATIENT)
    open_my_documents(page)
    said = export_refused(page)
    assert "Une partie du document chiffré a été altérée" in said
    assert re.search(r"Code pour l'assistance : chunk_authentication:\d+", said)
