/**
 * The patient's export (client/portability.ts, PROTOCOL 15) as the bundle a reader
 * gets: each version's bytes back from its Binary, its SHA-1 and size, the profiles
 * named; and what stops it: a version that fails its checks, or one larger than the
 * browser exports whatever size the server announced. A stopped export leaves the
 * page nothing: the sink is aborted, never closed on a bundle missing a document.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { fromBase64, toBase64, toBase64Ascii, utf8 } from "../src/protocol/bytes.js";
import { ProtocolError } from "../src/protocol/errors.js";
import { EXPORT_FORMAT_TAG, HISTORY_PAGE, MAX_HISTORY_ENTRIES, MHD_MINIMAL_DOCUMENT_REFERENCE, exportBundle } from "../src/client/portability.js";
import type { ServedDocument, ServedVersion } from "../src/client/documents.js";
import { refusal } from "./vectors.js";

const ME = "11111111-2222-4333-8444-555555555555";
const AUTHOR = "66666666-7777-4888-9999-aaaaaaaaaaaa";
const DOCUMENT = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const TITLE = 'Bilan "genou" <script>alert(1)</script>';

function version(number: number, size: number): ServedVersion {
  return { number, size, createdAt: `2026-11-0${number}T10:00:00Z`, wrappedKey: new Uint8Array(1) } as unknown as ServedVersion;
}

function document(versions: ServedVersion[]): ServedDocument {
  return { id: DOCUMENT, patientId: ME, versions } as unknown as ServedDocument;
}

/** An access history of `size` entries as the server's FHIR export pages it: newest first by `before`, each page oldest first. */
function historyPages(size: number, asked: Record<string, unknown>[]) {
  return (params: Record<string, unknown>) => {
    asked.push(params);
    const before = params["before"] === undefined ? size : Number(params["before"]);
    const limit = Number(params["limit"]);
    const indexes = Array.from({ length: Math.min(limit, before) }, (_, i) => before - 1 - i).reverse();
    return { resourceType: "Bundle", entry: indexes.map((i) => ({ resource: { resourceType: "AuditEvent", id: `journal-${i}` } })) };
  };
}

const THREAD = "77777777-8888-4999-aaaa-bbbbbbbbbbbb";

/** A thread of ME and AUTHOR holding `count` messages, read a page of 2 at a time, never marked read. */
function messagingOf(count: number, refusedSeq: number | null = null) {
  const members = [
    { accountId: ME, email: "camille@patient.test", name: "Camille", kind: "patient", readSeq: 0, me: true },
    { accountId: AUTHOR, email: "dr.martin@cabinet.test", name: "Dr Martin", kind: "practitioner", readSeq: 0, me: false },
  ];
  const thread = { id: THREAD, members, unread: count, lastSeq: count, lastMessageAt: null, refused: null, refusedCode: null };
  const message = (seq: number) => {
    const sender = seq % 2 === 1 ? members[1]! : members[0]!;
    const base = { id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`, seq, createdAt: `2026-11-0${seq}T09:00:00Z`, senderId: sender.accountId, senderEmail: sender.email, senderName: sender.name, mine: sender.me };
    if (seq === refusedSeq) return { ...base, refused: "its signature does not verify", refusedCode: "invalid_signature" };
    const attachments = seq === 1 ? [{ documentId: DOCUMENT, title: "Bilan", filename: "bilan.bin" }] : [];
    return { ...base, text: `Message ${seq}`, attachments, refused: null, refusedCode: null };
  };
  return {
    threads: async () => [thread],
    read: async (_id: string, after: number, markRead?: boolean) => {
      assert.equal(markRead, false);
      const seqs = Array.from({ length: count }, (_, i) => i + 1).filter((n) => n > after).slice(0, 2);
      return { thread, messages: seqs.map(message) };
    },
  } as unknown as Parameters<typeof exportBundle>[2];
}

interface Served {
  historySize?: number;
  asked?: Record<string, unknown>[];
  history?: (params: Record<string, unknown>) => unknown;
  retention?: unknown;
  messages?: number;
  refusedSeq?: number | null;
}

/** A session that is ME and serves FHIR bundles; documents whose versions deliver `bytes(n)`. */
function parts(view: ServedDocument, deliver: (number: number, sink: WritableStream<Uint8Array>) => Promise<void>, served: Served = {}) {
  const history = served.history ?? historyPages(served.historySize ?? 3, served.asked ?? []);
  const session = {
    account: async () => ({ id: ME, email: "camille@patient.test", name: "Camille", kind: "patient" }),
    json: async (_method: string, path: string, _wire: unknown, options?: { params?: Record<string, unknown> }) => {
      if (path === "/consents/fhir") return { resourceType: "Bundle", entry: [{ resource: { resourceType: "Consent", status: "active" } }] };
      if (path === "/rights-requests/fhir") return { resourceType: "Bundle", entry: [{ resource: { resourceType: "Task", status: "requested" } }] };
      if (path === "/retention/fhir") return served.retention ?? { resourceType: "Bundle", entry: [{ resource: { resourceType: "Basic", id: "retention-1" } }] };
      if (path === "/journal/history/export") return history(options?.params ?? {});
      throw new Error(`not served: ${path}`);
    },
  } as unknown as Parameters<typeof exportBundle>[0];
  const documents = {
    servedAboutMe: async () => [view],
    fetchVersion: async (_view: ServedDocument, chosen: ServedVersion, sink: WritableStream<Uint8Array>) => {
      await deliver(chosen.number, sink);
      return {
        metadata: { title: TITLE, filename: "bilan.bin", media_type: "application/octet-stream" },
        signer: { index: 0n, entry: { accountId: AUTHOR } },
        manifest: null,
        author: { email: "dr.martin@cabinet.test", name: "Dr Martin" },
      };
    },
  } as unknown as Parameters<typeof exportBundle>[1];
  return { session, documents, messaging: messagingOf(served.messages ?? 0, served.refusedSeq ?? null) };
}

async function written(sink: WritableStream<Uint8Array>, data: Uint8Array, piece = 1000): Promise<void> {
  const writer = sink.getWriter();
  for (let start = 0; start < data.length; start += piece) await writer.write(data.slice(start, start + piece));
  await writer.close();
}

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

/** The export run into a pipe, and what the page's side of the pipe got. */
async function run(view: ServedDocument, deliver: Parameters<typeof parts>[1], limit?: number, served: Served = {}, maxHistory?: number) {
  const pipe = new TransformStream<Uint8Array, Uint8Array>();
  const got = new Response(pipe.readable).text();
  const { session, documents, messaging } = parts(view, deliver, served);
  const outcome = exportBundle(session, documents, messaging, pipe.writable, limit, maxHistory);
  return { outcome, got };
}

test("portability: every version's bytes, size and SHA-1 come back from the bundle, the profiles named", async () => {
  // Larger than one base64 slice and not a multiple of 3: the slices must join.
  const contents = new Map([
    [1, bytesOf(200_003, 1)],
    [2, bytesOf(5, 2)],
  ]);
  const { outcome, got } = await run(document([version(1, 200_100), version(2, 100)]), (n, sink) => written(sink, contents.get(n)!, 65_536));
  assert.deepEqual(await outcome, { documents: 1, versions: 2, messages: 0, auditEvents: 3 });
  const bundle = JSON.parse(await got) as { meta: unknown; type: string; entry: { fullUrl: string; resource: Record<string, any> }[] };
  assert.equal(bundle.type, "collection");
  assert.deepEqual(bundle.meta, { tag: [EXPORT_FORMAT_TAG] });
  const byUrl = new Map(bundle.entry.map((e) => [e.fullUrl, e.resource]));
  const references = bundle.entry.map((e) => e.resource).filter((r) => r["resourceType"] === "DocumentReference");
  assert.equal(references.length, 2);
  for (const reference of references) {
    const number = Number(reference["masterIdentifier"].value.split("/")[1]);
    const expected = contents.get(number)!;
    const attachment = reference["content"][0].attachment;
    const binary = byUrl.get(attachment.url)!;
    assert.deepEqual(fromBase64(binary["data"]), expected);
    assert.equal(attachment.size, expected.length);
    assert.equal(attachment.hash, toBase64(new Uint8Array(await crypto.subtle.digest("SHA-1", expected as Uint8Array<ArrayBuffer>))));
    assert.deepEqual(reference["meta"], { profile: [MHD_MINIMAL_DOCUMENT_REFERENCE] });
    assert.deepEqual(reference["masterIdentifier"], { use: "usual", system: "urn:uhealthsec:document", value: `${DOCUMENT}/${number}` });
    assert.equal(reference["docStatus"], undefined);
    assert.equal(reference["status"], number === 2 ? "current" : "superseded");
    assert.equal(reference["description"], TITLE);
    assert.deepEqual(reference["author"], [{ reference: `Practitioner/${AUTHOR}`, display: "Dr Martin" }]);
    assert.deepEqual(reference["subject"], { reference: `Patient/${ME}` });
  }
  const second = references.find((r) => r["status"] === "current")!;
  const first = references.find((r) => r["status"] === "superseded")!;
  const firstUrl = bundle.entry.find((e) => e.resource === first)!.fullUrl;
  assert.deepEqual(second["relatesTo"], [{ code: "replaces", target: { reference: firstUrl } }]);
  assert.deepEqual(
    bundle.entry.filter((e) => e.resource["resourceType"] === "Consent").map((e) => e.resource),
    [{ resourceType: "Consent", status: "active" }],
  );
});

test("portability: a version that fails its checks stops the export, the page left with nothing", async () => {
  const { outcome, got } = await run(document([version(1, 10), version(2, 10)]), async (n, sink) => {
    if (n === 1) return written(sink, bytesOf(10, 1));
    const refused = new ProtocolError("invalid_signature", "version 2 is not what its author signed");
    await sink.abort(refused);
    throw refused;
  });
  assert.equal(await refusal(() => outcome), "invalid_signature");
  await assert.rejects(got);
});

test("portability: a version larger than the browser exports is refused, whatever size the server announced", async () => {
  // Announced small, delivered larger than the limit: refused as it comes.
  const { outcome, got } = await run(document([version(1, 10)]), (_, sink) => written(sink, bytesOf(5000, 1)), 4096);
  assert.equal(await refusal(() => outcome), "export_too_large");
  await assert.rejects(got);
  // Announced larger than the limit: refused before anything is downloaded.
  let asked = false;
  const announced = await run(
    document([version(1, 4097)]),
    async () => {
      asked = true;
    },
    4096,
  );
  assert.equal(await refusal(() => announced.outcome), "export_too_large");
  await assert.rejects(announced.got);
  assert.equal(asked, false);
});

test("portability: base64 as the export writes it, RFC 4648's test vectors, as text and as ASCII bytes", () => {
  const vectors: [string, string][] = [
    ["", ""],
    ["f", "Zg=="],
    ["fo", "Zm8="],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg=="],
    ["fooba", "Zm9vYmE="],
    ["foobar", "Zm9vYmFy"],
  ];
  for (const [plain, encoded] of vectors) {
    assert.equal(toBase64(utf8(plain)), encoded);
    assert.deepEqual(toBase64Ascii(utf8(plain)), utf8(encoded));
  }
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(fromBase64(toBase64(every)), every);
});

type Bundled = { entry: { fullUrl: string; resource: Record<string, any> }[] };

test("portability (R18): the Patient first, messages as Communication, rights requests, retention, and the whole history paged", async () => {
  const asked: Record<string, unknown>[] = [];
  const { outcome, got } = await run(document([version(1, 10)]), (_, sink) => written(sink, bytesOf(10, 1)), undefined, { historySize: 2500, asked, messages: 5 });
  assert.deepEqual(await outcome, { documents: 1, versions: 1, messages: 5, auditEvents: 2500 });
  const bundle = JSON.parse(await got) as Bundled;
  const kinds = bundle.entry.map((e) => e.resource["resourceType"]);
  assert.deepEqual(kinds.slice(0, 3), ["Patient", "Binary", "DocumentReference"]);
  const counts = Object.fromEntries([...new Set(kinds)].map((k) => [k, kinds.filter((x) => x === k).length]));
  assert.deepEqual(counts, { Patient: 1, Binary: 1, DocumentReference: 1, Communication: 5, Consent: 1, Task: 1, Basic: 1, AuditEvent: 2500 });
  assert.deepEqual(bundle.entry[0], {
    fullUrl: `urn:uuid:${ME}`,
    resource: { resourceType: "Patient", id: ME, identifier: [{ system: "urn:uhealthsec:account", value: ME }], telecom: [{ system: "email", value: "camille@patient.test", use: "home" }], name: [{ text: "Camille" }] },
  });
  // Three pages, each asked before the oldest entry of the one before; newest first.
  assert.deepEqual(asked, [
    { format: "fhir", limit: 1000 },
    { format: "fhir", limit: 1000, before: 1500 },
    { format: "fhir", limit: 1000, before: 500 },
  ]);
  const events = bundle.entry.filter((e) => e.resource["resourceType"] === "AuditEvent").map((e) => Number(e.resource["id"].slice("journal-".length)));
  assert.deepEqual(events, Array.from({ length: 2500 }, (_, i) => 2499 - i));
  // A message from the author with the document it attaches, one from the patient.
  const messages = bundle.entry.filter((e) => e.resource["resourceType"] === "Communication").map((e) => e.resource);
  const reference = bundle.entry.find((e) => e.resource["resourceType"] === "DocumentReference")!.fullUrl;
  assert.deepEqual(messages[0], {
    resourceType: "Communication",
    identifier: [{ system: "urn:uhealthsec:message", value: "00000000-0000-4000-8000-000000000001" }],
    partOf: [{ identifier: { system: "urn:uhealthsec:thread", value: THREAD } }],
    status: "completed",
    sent: "2026-11-01T09:00:00Z",
    sender: { identifier: { system: "urn:uhealthsec:account", value: AUTHOR }, display: "Dr Martin" },
    recipient: [{ reference: `Patient/${ME}`, display: "Camille" }],
    payload: [{ contentString: "Message 1" }, { contentReference: { reference, display: "Bilan" } }],
  });
  assert.deepEqual(messages[1]!["sender"], { reference: `Patient/${ME}`, display: "Camille" });
  assert.deepEqual(messages.map((m) => m["payload"][0].contentString), ["Message 1", "Message 2", "Message 3", "Message 4", "Message 5"]);
});

test("portability (R18): a history page that does not go back, a served bundle of another type, a message that fails its checks: each stops the export", async () => {
  const ok = (_: number, sink: WritableStream<Uint8Array>) => written(sink, bytesOf(10, 1));
  const full = { resourceType: "Bundle", entry: Array.from({ length: 1000 }, (_, i) => ({ resource: { resourceType: "AuditEvent", id: `journal-${5000 + i}` } })) };
  const replayed = await run(document([version(1, 10)]), ok, undefined, { history: () => full });
  assert.equal(await refusal(() => replayed.outcome), "malformed_answer");
  await assert.rejects(replayed.got);
  const smuggled = { resourceType: "Bundle", entry: [{ resource: { resourceType: "DocumentReference", status: "current" } }] };
  const other = await run(document([version(1, 10)]), ok, undefined, { retention: smuggled });
  assert.equal(await refusal(() => other.outcome), "malformed_answer");
  await assert.rejects(other.got);
  const unnamed = await run(document([version(1, 10)]), ok, undefined, { history: () => ({ resourceType: "Bundle", entry: [{ resource: { resourceType: "AuditEvent", id: "x" } }] }) });
  assert.equal(await refusal(() => unnamed.outcome), "malformed_answer");
  await assert.rejects(unnamed.got);
  const forged = await run(document([version(1, 10)]), ok, undefined, { messages: 3, refusedSeq: 2 });
  assert.equal(await refusal(() => forged.outcome), "exchange_refused");
  await assert.rejects(forged.got);
});

test("portability (R18): a resource carrying others (contained, modifierExtension) or a history without end stops the export", async () => {
  const ok = (_: number, sink: WritableStream<Uint8Array>) => written(sink, bytesOf(10, 1));
  const forgedDocument = { resourceType: "DocumentReference", status: "current", content: [{ attachment: { contentType: "text/plain", data: "Rk9SR0VE" } }] };
  const carriers = [
    { resourceType: "Basic", code: { text: "retention" }, contained: [forgedDocument] },
    { resourceType: "Basic", code: { text: "retention" }, extension: [{ url: "urn:x", valueReference: { reference: "#d" }, nested: forgedDocument }] },
    { resourceType: "Basic", code: { text: "retention" }, modifierExtension: [{ url: "urn:x", valueBoolean: true }] },
  ];
  for (const carrier of carriers) {
    const smuggled = await run(document([version(1, 10)]), ok, undefined, { retention: { resourceType: "Bundle", entry: [{ resource: carrier }] } });
    assert.equal(await refusal(() => smuggled.outcome), "malformed_answer");
    await assert.rejects(smuggled.got);
  }
  // Full pages counting down from the largest index the export reads: each goes back,
  // so only the cap on the records followed ends it.
  let pages = 0;
  const endless = (params: Record<string, unknown>) => {
    pages += 1;
    const top = typeof params["before"] === "number" ? params["before"] : 999_999_999_999_999;
    return { resourceType: "Bundle", entry: Array.from({ length: HISTORY_PAGE }, (_, i) => ({ resource: { resourceType: "AuditEvent", id: `journal-${top - HISTORY_PAGE + i}` } })) };
  };
  const going = await run(document([version(1, 10)]), ok, undefined, { history: endless }, 3 * HISTORY_PAGE);
  assert.equal(await refusal(() => going.outcome), "malformed_answer");
  await assert.rejects(going.got);
  assert.equal(pages, 4);
  assert.equal(MAX_HISTORY_ENTRIES, 200_000); // as the SDK's (portability.py)
});
