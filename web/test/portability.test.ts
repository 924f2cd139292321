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
import { EXPORT_FORMAT_TAG, MHD_MINIMAL_DOCUMENT_REFERENCE, exportBundle } from "../src/client/portability.js";
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

/** A session that is ME and serves `served` FHIR bundles; documents whose versions deliver `bytes(n)`. */
function parts(view: ServedDocument, deliver: (number: number, sink: WritableStream<Uint8Array>) => Promise<void>) {
  const session = {
    account: async () => ({ id: ME, email: "camille@patient.test", name: "Camille", kind: "patient" }),
    json: async (_method: string, path: string) =>
      path === "/consents/fhir" ? { resourceType: "Bundle", entry: [{ resource: { resourceType: "Consent", status: "active" } }] } : { resourceType: "Bundle", entry: [] },
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
  return { session, documents };
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
async function run(view: ServedDocument, deliver: Parameters<typeof parts>[1], limit?: number) {
  const pipe = new TransformStream<Uint8Array, Uint8Array>();
  const got = new Response(pipe.readable).text();
  const { session, documents } = parts(view, deliver);
  const outcome = exportBundle(session, documents, pipe.writable, limit);
  return { outcome, got };
}

test("portability: every version's bytes, size and SHA-1 come back from the bundle, the profiles named", async () => {
  // Larger than one base64 slice and not a multiple of 3: the slices must join.
  const contents = new Map([
    [1, bytesOf(200_003, 1)],
    [2, bytesOf(5, 2)],
  ]);
  const { outcome, got } = await run(document([version(1, 200_100), version(2, 100)]), (n, sink) => written(sink, contents.get(n)!, 65_536));
  assert.deepEqual(await outcome, { documents: 1, versions: 2 });
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
