/**
 * The patient's copy of everything about them as a FHIR R4 Bundle (GDPR art. 15 and
 * 20; REQUIREMENTS R18), built in the worker as client/portability.py builds it
 * (PROTOCOL 15): who you are (Patient); every version of every document about you
 * that you hold, downloaded, its author's signature verified and decrypted here
 * (Documents.fetchVersion, the path every opening takes), written as a Binary and a
 * DocumentReference; every message of your threads, verified and decrypted here
 * (Messaging.read, without a read receipt), as a Communication; then your consent
 * directives, rights requests, the retention of your files and your whole access
 * history (paged back to its first entry) as the server serves them in FHIR.
 *
 * The bundle is written into a sink piece by piece, never whole in the worker: the
 * page gathers the pieces into a Blob, which the browser may keep on disk. A version
 * is held whole only while it is written (its SHA-1, the attachment's hash, needs
 * all of it and WebCrypto digests no stream), so one version is refused above
 * MAX_EXPORTED_VERSION_BYTES. A version that fails its checks stops the export: the
 * sink is aborted, so the page is left with nothing rather than a bundle missing it.
 */

import { toBase64, toBase64Ascii, utf8 } from "../protocol/bytes.js";
import { type Documents, type ServedDocument, type ServedVersion } from "./documents.js";
import { ClientRefusal } from "./http.js";
import type { Messaging, MessageView, ThreadView } from "./messages.js";
import type { Session } from "./session.js";
import { Wire } from "./wire.js";

/** As portability.py names it: the profile each DocumentReference meets (PROTOCOL 15). */
export const MHD_MINIMAL_DOCUMENT_REFERENCE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.DocumentReference";

/** As portability.py writes it: the Bundle's tag naming the export's format. */
export const EXPORT_FORMAT_TAG = {
  system: "urn:uhealthsec:export-format",
  code: "patient-export-1",
  display:
    "U-HealthSec patient export 1: FHIR R4 collection; DocumentReference as IHE MHD Minimal (the EEHRxF document exchange of HL7 Europe); no HL7 Europe content profile claimed",
};

const DOCUMENT_ID = "urn:uhealthsec:document";

/**
 * The largest version the browser exports (256 MiB): it is held whole in the worker
 * while its hash and base64 are written, about 2.4 times its size at the peak with
 * the pieces on their way to the page. A larger one is exported by `uhs`, which
 * streams to disk.
 */
export const MAX_EXPORTED_VERSION_BYTES = 256 * 1024 * 1024;

/** Bytes of a document encoded at a time (a multiple of 3: base64 without padding inside). */
const BASE64_SLICE = 3 * 64 * 1024;

/**
 * The sources of the export's other entries, FHIR Bundles the server serves, each of
 * one resource type: anything else in one is refused (as portability.py SERVED_BUNDLES).
 */
const SERVED_BUNDLES = [
  ["/consents/fhir", "Consent"],
  ["/rights-requests/fhir", "Task"],
  ["/retention/fhir", "Basic"],
] as const;

/** The access history's FHIR export, asked for a page at a time (portability.py HISTORY_PAGE). */
const HISTORY_EXPORT = "/journal/history/export";
export const HISTORY_PAGE = 1000;
/** The most access records an export follows (portability.py MAX_HISTORY_ENTRIES). */
export const MAX_HISTORY_ENTRIES = 200_000;

export interface ExportOutcome {
  documents: number;
  versions: number;
  messages: number;
  auditEvents: number;
}

type Entry = (parts: (string | Uint8Array)[]) => Promise<void>;

/**
 * Writes the export into `sink`, closed once whole, aborted on any refusal. A version
 * larger than `maxVersionBytes` (MAX_EXPORTED_VERSION_BYTES unless a test says) stops it, and
 * so does an access history past `maxHistoryEntries` (MAX_HISTORY_ENTRIES unless a test says).
 */
export async function exportBundle(
  session: Pick<Session, "account" | "json">,
  documents: Pick<Documents, "servedAboutMe" | "fetchVersion">,
  messaging: Pick<Messaging, "threads" | "read">,
  sink: WritableStream<Uint8Array>,
  maxVersionBytes = MAX_EXPORTED_VERSION_BYTES,
  maxHistoryEntries = MAX_HISTORY_ENTRIES,
): Promise<ExportOutcome> {
  const writer = sink.getWriter();
  let first = true;
  const entry: Entry = async (parts) => {
    await writer.write(utf8(first ? "" : ","));
    first = false;
    for (const part of parts) await writer.write(typeof part === "string" ? utf8(part) : part);
  };
  const resource = (fullUrl: string, value: Record<string, unknown>) => entry([JSON.stringify({ fullUrl, resource: value })]);
  try {
    const me = await session.account();
    const served = await documents.servedAboutMe();
    const head = { resourceType: "Bundle", meta: { tag: [EXPORT_FORMAT_TAG] }, type: "collection", timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") };
    await writer.write(utf8(`${JSON.stringify(head).slice(0, -1)},"entry":[`));
    const patient: Record<string, unknown> = {
      resourceType: "Patient",
      id: me.id,
      identifier: [{ system: "urn:uhealthsec:account", value: me.id }],
      telecom: [{ system: "email", value: me.email, use: "home" }],
    };
    if (me.name !== "") patient["name"] = [{ text: me.name }];
    await resource(`urn:uuid:${me.id}`, patient);
    let versions = 0;
    const latest = new Map<string, string>();
    for (const view of served) {
      const readable = view.versions.filter((v) => v.wrappedKey !== null).sort((a, b) => a.number - b.number);
      const last = readable[readable.length - 1]?.number;
      let previous: string | null = null;
      for (const version of readable) {
        previous = await exportVersion(documents, view, version, { patientId: me.id, current: version.number === last, previous, maxVersionBytes }, entry);
        versions += 1;
      }
      if (previous !== null) latest.set(view.id, previous);
    }
    let messages = 0;
    for (const thread of await messaging.threads()) {
      if (thread.refused !== null) throw new ClientRefusal("exchange_refused", `a thread of yours does not verify: ${thread.refused}`);
      for (let after = 0; ; ) {
        const page = (await messaging.read(thread.id, after, false)).messages;
        if (page.length === 0) break;
        for (const message of page) {
          await resource(`urn:uuid:${crypto.randomUUID()}`, communication(thread, message, me.id, latest));
          messages += 1;
        }
        after = page[page.length - 1]!.seq;
      }
    }
    for (const [path, kind] of SERVED_BUNDLES) {
      for (const item of servedResources(await session.json("GET", path, answerWire(kind)), kind)) await resource(`urn:uuid:${crypto.randomUUID()}`, item);
    }
    let auditEvents = 0;
    for (let before: number | null = null; ; ) {
      const params: Record<string, string | number> = { format: "fhir", limit: HISTORY_PAGE };
      if (before !== null) params["before"] = before;
      const events = servedResources(await session.json("GET", HISTORY_EXPORT, answerWire("AuditEvent"), { params }), "AuditEvent");
      const indexes = events.map(journalIndex);
      if (before !== null && indexes.some((i) => i >= before!)) throw new ClientRefusal("malformed_answer", "the server's access history does not go back page by page");
      if (events.length > HISTORY_PAGE || new Set(indexes).size !== indexes.length) throw new ClientRefusal("malformed_answer", "the server's access history repeats or overflows a page");
      // Served oldest first: written newest first, as the whole history is.
      auditEvents += events.length;
      if (auditEvents > maxHistoryEntries) throw new ClientRefusal("malformed_answer", `the server's access history goes past ${maxHistoryEntries} records: refused`);
      const order = indexes.map((index, at) => ({ index, at })).sort((a, b) => b.index - a.index);
      for (const { at } of order) await resource(`urn:uuid:${crypto.randomUUID()}`, events[at]!);
      if (events.length < HISTORY_PAGE) break;
      before = Math.min(...indexes);
    }
    await writer.write(utf8("]}"));
    await writer.close();
    return { documents: served.length, versions, messages, auditEvents };
  } catch (error) {
    await writer.abort(error).catch(() => undefined);
    throw error;
  }
}

function answerWire(kind: string): Wire {
  return new Wire("malformed_answer", `a FHIR bundle of your ${kind} resources`);
}

/** The resources of a FHIR Bundle the server answered, each of type `kind`. */
function servedResources(answer: unknown, kind: string): Record<string, unknown>[] {
  const wire = answerWire(kind);
  const bundle = wire.object(answer);
  return wire.list(bundle["entry"] ?? []).map((item) => {
    const resource = wire.object(wire.object(item)["resource"]);
    if (resource["resourceType"] !== kind) throw new ClientRefusal("malformed_answer", `the server's Bundle of ${kind} holds something else`);
    if (carriesResources(resource, true, 0)) throw new ClientRefusal("malformed_answer", `the server's ${kind} carries other resources within it`);
    return resource;
  });
}

/** Keys under which a served resource could carry others (portability.py _CARRIERS). */
const CARRIERS = new Set(["contained", "modifierExtension"]);

/** Whether `value` holds a resource below its top, a key of CARRIERS, or nests deeper
 * than any served resource (portability.py _carries_resources): the copy holds
 * documents only as this device verified them. */
function carriesResources(value: unknown, top: boolean, depth: number): boolean {
  if (depth > 16) return true;
  if (Array.isArray(value)) return value.some((item) => carriesResources(item, false, depth + 1));
  if (value === null || typeof value !== "object") return false;
  const entries = Object.entries(value as Record<string, unknown>);
  if (!top && Object.hasOwn(value, "resourceType")) return true;
  return entries.some(([key, item]) => CARRIERS.has(key) || carriesResources(item, false, depth + 1));
}

/** The journal index an exported AuditEvent names (its id, `journal-<index>`). */
function journalIndex(event: Record<string, unknown>): number {
  const match = /^journal-(\d{1,15})$/.exec(typeof event["id"] === "string" ? event["id"] : "");
  if (match === null) throw new ClientRefusal("malformed_answer", "an exported access record does not name its journal entry");
  return Number(match[1]);
}

/** A verified message as a Communication (as portability.py _communication). */
function communication(thread: ThreadView, message: MessageView, me: string, latest: Map<string, string>): Record<string, unknown> {
  if (message.refused !== null) throw new ClientRefusal("exchange_refused", `message ${message.seq} of a thread of yours failed its checks: ${message.refused}`);
  const names = new Map(thread.members.map((m) => [m.accountId, m.name || m.email]));
  const person = (accountId: string) => {
    const display = names.get(accountId) ?? (accountId === message.senderId ? message.senderName || message.senderEmail : accountId);
    return accountId === me ? { reference: `Patient/${me}`, display } : { identifier: { system: "urn:uhealthsec:account", value: accountId }, display };
  };
  const payload: Record<string, unknown>[] = [];
  if (message.text !== "") payload.push({ contentString: message.text });
  for (const attachment of message.attachments) {
    const held = latest.get(attachment.documentId);
    const target = held !== undefined ? { reference: held } : { identifier: { system: DOCUMENT_ID, value: attachment.documentId } };
    payload.push({ contentReference: { ...target, display: attachment.title } });
  }
  const recipients = thread.members.map((m) => m.accountId).filter((a) => a !== message.senderId).sort();
  const resource: Record<string, unknown> = {
    resourceType: "Communication",
    identifier: [{ system: "urn:uhealthsec:message", value: message.id }],
    partOf: [{ identifier: { system: "urn:uhealthsec:thread", value: thread.id } }],
    status: "completed",
    sent: message.createdAt,
    sender: person(message.senderId),
    recipient: recipients.map(person),
  };
  if (payload.length > 0) resource["payload"] = payload;
  return resource;
}

/** One version as a Binary and a DocumentReference; the DocumentReference's fullUrl. */
async function exportVersion(
  documents: Pick<Documents, "fetchVersion">,
  view: ServedDocument,
  version: ServedVersion,
  { patientId, current, previous, maxVersionBytes }: { patientId: string; current: boolean; previous: string | null; maxVersionBytes: number },
  entry: Entry,
): Promise<string> {
  if (version.size > maxVersionBytes) throw tooLarge(maxVersionBytes);
  const held = collected(maxVersionBytes);
  const { metadata, signer, author } = await documents.fetchVersion(view, version, held.sink);
  const data = held.bytes();
  const binary = `urn:uuid:${crypto.randomUUID()}`;
  const reference = `urn:uuid:${crypto.randomUUID()}`;
  const binaryHead = JSON.stringify({ fullUrl: binary, resource: { resourceType: "Binary", contentType: metadata.media_type, data: "" } });
  // The data is written between the quotes of its empty string, a slice at a time.
  const cut = binaryHead.lastIndexOf('""') + 1;
  const slices: Uint8Array[] = [];
  for (let start = 0; start < data.length; start += BASE64_SLICE) slices.push(toBase64Ascii(data.subarray(start, start + BASE64_SLICE)));
  await entry([binaryHead.slice(0, cut), ...slices, binaryHead.slice(cut)]);
  const hash = toBase64(new Uint8Array(await crypto.subtle.digest("SHA-1", data)));
  const resource: Record<string, unknown> = {
    resourceType: "DocumentReference",
    meta: { profile: [MHD_MINIMAL_DOCUMENT_REFERENCE] },
    masterIdentifier: { use: "usual", system: DOCUMENT_ID, value: `${view.id}/${version.number}` },
    status: current ? "current" : "superseded",
    subject: { reference: `Patient/${patientId}` },
    date: version.createdAt,
    // The signer whose key verified this version, never the server's word for the author.
    author: [{ reference: `Practitioner/${signer.entry.accountId}`, display: author.name }],
    description: metadata.title,
    content: [{ attachment: { contentType: metadata.media_type, url: binary, size: data.length, hash, title: metadata.filename } }],
  };
  if (previous !== null) resource["relatesTo"] = [{ code: "replaces", target: { reference: previous } }];
  await entry([JSON.stringify({ fullUrl: reference, resource })]);
  return reference;
}

/** A sink gathering what it is given, refusing past `limit` bytes whatever size the server announced. */
function collected(limit: number): { sink: WritableStream<Uint8Array>; bytes: () => Uint8Array<ArrayBuffer> } {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let closed = false;
  const sink = new WritableStream<Uint8Array>({
    write(chunk) {
      size += chunk.length;
      if (size > limit) throw tooLarge(limit);
      chunks.push(chunk.slice());
    },
    close() {
      closed = true;
    },
  });
  return {
    sink,
    bytes() {
      if (!closed) throw new ClientRefusal("exchange_refused", "the document was not delivered whole");
      const out = new Uint8Array(size);
      let offset = 0;
      for (const chunk of chunks.splice(0)) {
        out.set(chunk, offset);
        offset += chunk.length;
      }
      return out;
    },
  };
}

function tooLarge(limit: number): ClientRefusal {
  return new ClientRefusal("export_too_large", `a document is larger than the ${limit} bytes the browser exports: export with uhs`);
}
