/**
 * The worker's client on its own (tests/web/test_web_client.py runs it against a
 * server): a head accepted only from the pinned key and origin and when it extends
 * the pin, the server's refusals named by status, answers of the wrong shape refused.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { acceptHead } from "../src/client/directory.js";
import { ApiError, ClientRefusal, Http, MAX_RETRIES, checkResponse, retryDelayMs } from "../src/client/http.js";
import { MemoryPinStore } from "../src/client/pins.js";
import { Wire } from "../src/client/wire.js";
import { signCheckpoint, verifierKey } from "../src/protocol/checkpoint.js";
import { importSigningSeed } from "../src/protocol/ed25519.js";
import { leafHash, rootOf } from "../src/protocol/merkle.js";
import { utf8 } from "../src/protocol/bytes.js";
import { refusal } from "./vectors.js";

const ORIGIN = "sante.example.fr/keys";

async function log(seedByte: number, origin = ORIGIN) {
  const key = await importSigningSeed(new Uint8Array(32).fill(seedByte));
  const vkey = await verifierKey(origin, key.publicKey);
  const head = async (size: number) => {
    const leaves = await Promise.all(Array.from({ length: size }, (_, i) => leafHash(utf8(`leaf ${i}`))));
    const root = await rootOf(leaves);
    return { root, note: await signCheckpoint({ origin, size: BigInt(size), root }, key.privateKey, key.publicKey) };
  };
  return { vkey, head, publicKey: key.publicKey };
}

test("client: the first head pins the log's key, origin, size and root; the same head is accepted again", async () => {
  const keys = await log(1);
  const { note, root } = await keys.head(5);
  const { head, next } = await acceptHead(keys.vkey, note, [], null);
  assert.equal(head.size, 5n);
  assert.deepEqual(next, { origin: ORIGIN, logKey: keys.publicKey, size: 5n, root });
  const again = await acceptHead(keys.vkey, note, [], next);
  assert.equal(again.next.size, 5n);
});

test("client: a head of another key, another origin or another log is refused against the pin", async () => {
  const keys = await log(1);
  const { next: pin } = await acceptHead(keys.vkey, (await keys.head(3)).note, [], null);
  const impostor = await log(2);
  assert.equal(await refusal(() => acceptHead(impostor.vkey, "", [], pin)), "directory_refused");
  const renamed = await log(1, "autre.example.fr/keys");
  const renamedNote = (await renamed.head(3)).note;
  assert.equal(await refusal(() => acceptHead(renamed.vkey, renamedNote, [], pin)), "directory_refused");
  const journal = await log(1, "sante.example.fr/journal");
  const journalNote = (await journal.head(3)).note;
  assert.equal(await refusal(() => acceptHead(journal.vkey, journalNote, [], null)), "directory_refused");
  // A note whose signature is not the pinned key's, under the right verifier key.
  const forged = (await impostor.head(3)).note;
  assert.equal(await refusal(() => acceptHead(keys.vkey, forged, [], pin)), "invalid_signature");
});

test("client: a head that does not extend the pinned one (rolled back, forked) is refused as an invalid proof", async () => {
  const keys = await log(1);
  const [four, six, eight] = [(await keys.head(4)).note, (await keys.head(6)).note, (await keys.head(8)).note];
  const { next: pin } = await acceptHead(keys.vkey, six, [], null);
  assert.equal(await refusal(() => acceptHead(keys.vkey, four, [], pin)), "invalid_proof");
  const forkedPin = { ...pin, root: new Uint8Array(32).fill(9) };
  assert.equal(await refusal(() => acceptHead(keys.vkey, six, [], forkedPin)), "invalid_proof");
  // Growing from the pin needs a consistency proof: none is none.
  assert.equal(await refusal(() => acceptHead(keys.vkey, eight, [], pin)), "invalid_proof");
});

test("client: the memory pin store gives back what it was given", async () => {
  const store = new MemoryPinStore();
  assert.equal(await store.load(), null);
  const pin = { origin: ORIGIN, logKey: new Uint8Array(32), size: 3n, root: new Uint8Array(32) };
  await store.save(pin);
  assert.deepEqual(await store.load(), pin);
});

test("client: a refusal of the server carries its detail and an identifier named by its status", async () => {
  const problem = (status: number) =>
    new Response(JSON.stringify({ type: "about:blank", status, detail: `refused ${status}` }), {
      status,
      headers: { "Content-Type": "application/problem+json" },
    });
  const expected: [number, string][] = [
    [400, "bad_request"],
    [401, "unauthorized"],
    [403, "forbidden"],
    [404, "not_found"],
    [409, "conflict"],
    [422, "bad_request"],
    [429, "too_many_requests"],
    [503, "server_unavailable"],
    [418, "refused"],
  ];
  for (const [status, identifier] of expected) {
    const error = await checkResponse(problem(status)).then(
      () => assert.fail("accepted"),
      (e: unknown) => e as ApiError,
    );
    assert.ok(error instanceof ApiError);
    assert.deepEqual([error.identifier, error.status, error.message], [identifier, status, `refused ${status}`]);
  }
  const notJson = (await checkResponse(new Response("<html>", { status: 502, statusText: "Bad Gateway" })).catch((e: unknown) => e)) as ApiError;
  assert.deepEqual([notJson.identifier, notJson.message], ["server_unavailable", "Bad Gateway"]);
  const fine = new Response("{}", { status: 200 });
  assert.equal(await checkResponse(fine), fine);
});

test("client: the worker's requests go to its own origin, whatever path they are given", async () => {
  const seen: string[] = [];
  const http = new Http("https://sante.example.fr", async (input) => {
    seen.push(input);
    return new Response("{}");
  });
  await http.send("GET", "/keys/entries", { params: { email: "a@b.fr", tree_size: 3 } });
  assert.deepEqual(seen, ["https://sante.example.fr/keys/entries?email=a%40b.fr&tree_size=3"]);
  for (const elsewhere of ["//evil.example/steal", "https://evil.example/", "http://sante.example.fr/"]) {
    await assert.rejects(http.send("GET", elsewhere), TypeError, elsewhere);
  }
  assert.equal(seen.length, 1);
});

test("client: an answer of the wrong shape is refused with the caller's refusal", () => {
  const wire = new Wire("exchange_refused", "a document");
  const refused = (run: () => unknown) => assert.throws(run, (e: unknown) => e instanceof ClientRefusal && e.identifier === "exchange_refused");
  refused(() => wire.object([]));
  refused(() => wire.string({ title: 3 }, "title"));
  refused(() => wire.integer({ size: -1 }, "size"));
  refused(() => wire.integer({ size: 1.5 }, "size"));
  refused(() => wire.bytes({ digest: "AAAA" }, "digest", 32));
  refused(() => wire.bytes({ digest: "not base64!" }, "digest"));
  refused(() => wire.uuid({ id: "../../accounts/me" }, "id"));
  assert.equal(wire.uuid({ id: "0B7E5C3A-1111-4222-8333-444455556666" }, "id"), "0b7e5c3a-1111-4222-8333-444455556666");
  assert.deepEqual(wire.bytesList({ proof: ["AAE", "Ag"] }, "proof"), [Uint8Array.of(0, 1), Uint8Array.of(2)]);
});

/** A server answering `statuses` in turn (a thrown TypeError for "lost"), and the waits asked for. */
function flaky(statuses: (number | "lost")[], retryAfter?: string) {
  const sent: string[] = [];
  const waits: number[] = [];
  const http = new Http(
    "https://sante.example.fr",
    async (input, init) => {
      sent.push(`${init?.method} ${input}`);
      const status = statuses.shift() ?? 200;
      if (status === "lost") throw new TypeError("the connection broke");
      return new Response("{}", { status, headers: retryAfter === undefined ? {} : { "Retry-After": retryAfter } });
    },
    async (ms) => void waits.push(ms),
  );
  return { http, sent, waits };
}

test("client: a request whose repetition has the effect of one is sent again after a 503 or a lost answer", async () => {
  const read = flaky([503, "lost", 503]);
  assert.equal((await read.http.send("GET", "/documents")).status, 200);
  assert.equal(read.sent.length, 4);
  assert.deepEqual(read.waits, [1000, 2000, 4000]);

  const keyed = flaky([503, 409], "3");
  const write = await keyed.http.send("POST", "/documents", { json: {}, headers: { "Idempotency-Key": '"k"' } });
  assert.equal(write.status, 200);
  assert.deepEqual(keyed.waits, [3000, 3000]);

  // A write without a key, or a streamed one, is never sent twice: its answer is given as it is.
  const unkeyed = flaky([503]);
  assert.equal((await unkeyed.http.send("POST", "/auth/login", { json: {} })).status, 503);
  const streamed = flaky([503]);
  const body = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  const upload = await streamed.http.send("PUT", "/blobs", { body, headers: { "Idempotency-Key": '"k"' } });
  assert.equal(upload.status, 503);
  assert.equal(unkeyed.sent.length + streamed.sent.length, 2);
  await assert.rejects(flaky(["lost"]).http.send("POST", "/auth/login", { json: {} }), { identifier: "server_unreachable" });
  // A 409 without Retry-After is the server's answer, not a write in progress.
  assert.equal((await flaky([409]).http.send("POST", "/documents", { json: {}, headers: { "Idempotency-Key": '"k"' } })).status, 409);
});

test("client: retries stop after the last one, and no wait exceeds the bound whatever Retry-After says", async () => {
  const down = flaky(Array(10).fill(503), "86400");
  assert.equal((await down.http.send("GET", "/documents")).status, 503);
  assert.equal(down.sent.length, MAX_RETRIES + 1);
  assert.deepEqual(down.waits, Array(MAX_RETRIES).fill(30_000));
  const gone = flaky(Array(10).fill("lost"));
  await assert.rejects(gone.http.send("GET", "/documents"), { identifier: "server_unreachable" });
  assert.equal(gone.sent.length, MAX_RETRIES + 1);
  assert.equal(retryDelayMs("Wed, 21 Oct 2015 07:28:00 GMT", 0), 1000);
  assert.equal(retryDelayMs("-5", 2), 4000);
});

test("client: a document is not sent unless its readers are the accounts and keys the review showed", async () => {
  const { Documents, fingerprintOf } = await import("../src/client/documents.js");
  const entry = (accountId: string, keyByte: number) => ({ index: 0n, entry: { accountId, email: `${accountId}@cabinet.test`, bundle: new Uint8Array(64).fill(keyByte) } });
  const author = entry("a1", 1);
  const reader = entry("b2", 2);
  const shown = async (...entries: (typeof author)[]) =>
    Promise.all(entries.map(async (e) => ({ accountId: e.entry.accountId, fingerprint: await fingerprintOf(e.entry.bundle) })));
  // What the directory answers at send time; the review saw `reader` under its key 2.
  const cases: [string, (typeof author)[]][] = [
    ["the reader under another key", [author, entry("b2", 3)]],
    ["another reader", [author, entry("c3", 2)]],
    ["one reader more", [author, reader, entry("c3", 4)]],
  ];
  const reviewed = await shown(author, reader);
  for (const [what, answered] of cases) {
    let read = false;
    const source = new ReadableStream<Uint8Array>({ pull: () => void (read = true) }, { highWaterMark: 0 });
    // Anything past the directory lookups (sealing, uploading) would fail otherwise.
    const session = { recipients: async () => answered } as unknown as ConstructorParameters<typeof Documents>[0];
    const sending = new Documents(session).send({ patientFileId: "f", to: ["b2@cabinet.test"], readers: reviewed, title: "t", filename: "f.pdf", mediaType: "application/pdf", source });
    assert.equal(await refusal(() => sending), "exchange_refused", what);
    assert.equal(read, false, `${what}: the document was read for encryption`);
  }
});

test("client: the inbox walks a bounded number of pages, whatever the server keeps listing", async () => {
  const { Documents, DOCUMENTS_PAGE, MAX_INBOX_PAGES } = await import("../src/client/documents.js");
  let asked = 0;
  // A server whose every page is full: followed, the listing would never end.
  const session = {
    json: async () => {
      asked += 1;
      return Array.from({ length: DOCUMENTS_PAGE }, () => ({}));
    },
  } as unknown as ConstructorParameters<typeof Documents>[0];
  assert.equal(await refusal(() => new Documents(session).inbox()), "exchange_refused");
  assert.equal(asked, MAX_INBOX_PAGES);
});

test("client: a document's metadata larger than a sender makes it, or with a longer title, is refused", async () => {
  const { Documents, MAX_METADATA_BYTES, MAX_TITLE_CHARS, decodeMetadata, encodeMetadata } = await import("../src/client/documents.js");
  const metadata = (title: string) => encodeMetadata({ title, filename: "f.pdf", media_type: "application/pdf" });
  assert.equal(decodeMetadata(metadata("é".repeat(MAX_TITLE_CHARS))).title.length, MAX_TITLE_CHARS);
  assert.equal(await refusal(async () => decodeMetadata(metadata("é".repeat(MAX_TITLE_CHARS + 1)))), "exchange_refused");
  const padded = utf8(JSON.stringify({ title: "t", filename: "f.pdf", media_type: "application/pdf", padding: "x".repeat(MAX_METADATA_BYTES) }));
  assert.equal(await refusal(async () => decodeMetadata(padded)), "exchange_refused");
  // The envelope is refused by its size before it is opened.
  const version = { metadataEnvelope: new Uint8Array(MAX_METADATA_BYTES + 1) } as unknown as Parameters<InstanceType<typeof Documents>["metadata"]>[0];
  const documents = new Documents({} as ConstructorParameters<typeof Documents>[0]);
  assert.equal(await refusal(() => documents.metadata(version, new Uint8Array(32))), "exchange_refused");
});
