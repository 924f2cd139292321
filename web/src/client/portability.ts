/**
 * The patient's copy of everything about them as a FHIR R4 Bundle (GDPR art. 15 and
 * 20), built in the worker as client/portability.py builds it (PROTOCOL 15): every
 * version of every document about you that you hold, downloaded, its author's
 * signature verified and decrypted here (Documents.fetchVersion, the path every
 * opening takes), written as a Binary and a DocumentReference; then your consent
 * directives and your access history as the server serves them in FHIR.
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

/** The sources of the export's other entries, FHIR Bundles the server serves. */
const SERVED_BUNDLES = ["/consents/fhir", "/journal/history/export?format=fhir"] as const;

export interface ExportOutcome {
  documents: number;
  versions: number;
}

/**
 * Writes the export into `sink`, closed once whole, aborted on any refusal. A version
 * larger than `maxVersionBytes` (MAX_EXPORTED_VERSION_BYTES unless a test says) stops it.
 */
export async function exportBundle(
  session: Pick<Session, "account" | "json">,
  documents: Pick<Documents, "servedAboutMe" | "fetchVersion">,
  sink: WritableStream<Uint8Array>,
  maxVersionBytes = MAX_EXPORTED_VERSION_BYTES,
): Promise<ExportOutcome> {
  const writer = sink.getWriter();
  let first = true;
  const entry = async (parts: (string | Uint8Array)[]) => {
    await writer.write(utf8(first ? "" : ","));
    first = false;
    for (const part of parts) await writer.write(typeof part === "string" ? utf8(part) : part);
  };
  try {
    const me = await session.account();
    const served = await documents.servedAboutMe();
    const head = { resourceType: "Bundle", meta: { tag: [EXPORT_FORMAT_TAG] }, type: "collection", timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") };
    await writer.write(utf8(`${JSON.stringify(head).slice(0, -1)},"entry":[`));
    let versions = 0;
    for (const view of served) {
      const readable = view.versions.filter((v) => v.wrappedKey !== null).sort((a, b) => a.number - b.number);
      const latest = readable[readable.length - 1]?.number;
      let previous: string | null = null;
      for (const version of readable) {
        previous = await exportVersion(documents, view, version, { patientId: me.id, current: version.number === latest, previous, maxVersionBytes }, entry);
        versions += 1;
      }
    }
    for (const path of SERVED_BUNDLES) {
      const wire = new Wire("malformed_answer", "a FHIR bundle of yours");
      const bundle = wire.object(await session.json("GET", path, wire));
      for (const item of wire.list(bundle["entry"] ?? [])) {
        const resource = wire.object(wire.object(item)["resource"]);
        await entry([JSON.stringify({ fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource })]);
      }
    }
    await writer.write(utf8("]}"));
    await writer.close();
    return { documents: served.length, versions };
  } catch (error) {
    await writer.abort(error).catch(() => undefined);
    throw error;
  }
}

/** One version as a Binary and a DocumentReference; the DocumentReference's fullUrl. */
async function exportVersion(
  documents: Pick<Documents, "fetchVersion">,
  view: ServedDocument,
  version: ServedVersion,
  { patientId, current, previous, maxVersionBytes }: { patientId: string; current: boolean; previous: string | null; maxVersionBytes: number },
  entry: (parts: (string | Uint8Array)[]) => Promise<void>,
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
