import assert from "node:assert/strict";
import { test } from "node:test";

import { fromBase64Url, toBase64Url, uuidBytes } from "../src/protocol/bytes.js";
import { deriveIndexKeys, type IndexKeys } from "../src/protocol/search.js";
import { ApiError } from "../src/client/http.js";
import { MAX_INDEXED_TEXT_BYTES, SearchIndex, copyingSink, copyingSource, indexedBytes, textOf } from "../src/client/search.js";
import type { Session } from "../src/client/session.js";
import { refusal } from "./vectors.js";

const INDEX_ID = "5c4a4cac-1e51-a92f-2cef-c839b1bd6fd0";
const A = "00000000-0000-0000-0000-00000000000a";
const B = "00000000-0000-0000-0000-00000000000b";

/** The server side of PROTOCOL 18.3 in memory, with its compare-and-swap; `before`
 * may change it before a request is answered (another device, a hostile server). */
class SearchServer {
  version = 0;
  state: string | null = null;
  exists = false;
  readonly entries = new Map<string, string>();
  readonly lists = new Map<string, string>();
  before: (path: string) => Promise<void> | void = () => undefined;
  updates = 0;
  /** The number of labels of each keyword-list request. */
  readonly listsAsked: number[] = [];

  async answer(method: string, path: string, json: any): Promise<unknown> {
    await this.before(path);
    if (method === "POST" && path === "/search/indexes") {
      this.exists = true;
      return { id: json.id };
    }
    if (!this.exists) throw new ApiError(404, "no such index", {});
    if (path.endsWith("/state")) return { version: this.version, state: this.state };
    if (path === "/search/updates") {
      if (json.previous_version !== this.version) throw new ApiError(409, "the index moved on", {});
      for (const e of json.entries) {
        if (this.entries.has(e.label)) throw new ApiError(409, "label exists", {});
        this.entries.set(e.label, e.value);
      }
      for (const d of json.put_documents) this.lists.set(d.label, d.keywords);
      for (const label of json.remove_documents) this.lists.delete(label);
      this.version += 1;
      this.state = json.state;
      this.updates += 1;
      return { state_version: this.version, entries: this.entries.size };
    }
    if (path === "/search/lookup") return { values: json.labels.map((l: string) => this.entries.get(l) ?? null) };
    if (path === "/search/documents") this.listsAsked.push(json.labels.length);
    if (path === "/search/documents") return { keywords: json.labels.map((l: string) => this.lists.get(l) ?? null) };
    throw new ApiError(404, "no route", {});
  }
}

function sessionOf(server: SearchServer): Session {
  const call = async (method: string, path: string, options: { json?: unknown } = {}) => new Response(JSON.stringify(await server.answer(method, path, options.json)));
  const json = async (method: string, path: string, _wire: unknown, options: { json?: unknown } = {}) => server.answer(method, path, options.json);
  return { call, json } as unknown as Session;
}

async function indexOn(server: SearchServer, keys?: IndexKeys): Promise<SearchIndex> {
  const held = keys ?? (await deriveIndexKeys(new Uint8Array(32).fill(7)));
  return new SearchIndex(sessionOf(server), async () => ({ id: INDEX_ID, keys: held }));
}

test("a document indexed from one device is found from another, once, and removed", async () => {
  const server = new SearchServer();
  const laptop = await indexOn(server);
  const phone = await indexOn(server);
  assert.ok((await laptop.add(A, { title: "IRM lombaire", patient: "Camille Petit", day: "2026-11-27", text: "Lombalgie chronique" })) > 0);
  assert.equal(await phone.add(A, { title: "IRM lombaire" }), 0, "indexed already: not again");
  await phone.add(B, { title: "Radiographie", patient: "Jean Petit", text: "lombalgie aiguë" });
  assert.deepEqual(new Set((await laptop.search("lombalgies")).keys()), new Set([A, B]));
  // Every term must match.
  assert.deepEqual(new Set((await phone.search("pet irm")).keys()), new Set([A]));
  // A name matches by its word and its stem; a word of the text by its stem alone: ranked after.
  const C = B.replace("b", "c");
  await phone.add(C, { title: "Petit compte rendu" });
  const byName = await phone.search("Petit");
  assert.ok(byName.get(A)! > byName.get(C)!, JSON.stringify([...byName]));
  assert.deepEqual(await phone.search("fracture"), new Map());
  assert.deepEqual(await phone.search("le la"), new Map());
  assert.ok((await laptop.remove(A)) > 0);
  assert.deepEqual([...(await phone.search("lombalgie")).keys()], [B]);
  assert.equal(await phone.remove(A), 0);
  // The server holds no keyword in clear: neither in labels, values, states nor lists.
  const stored = JSON.stringify([...server.entries, ...server.lists, server.state]);
  for (const word of ["lombalg", "petit", "irm", "radiograph"]) assert.ok(!stored.includes(word), word);
});

test("an update that lost the race is redone from the state the other device left, never reusing a label", async () => {
  const server = new SearchServer();
  const laptop = await indexOn(server);
  const phone = await indexOn(server);
  await laptop.add(A, { title: "premier" });
  server.before = async (path) => {
    if (path !== "/search/updates") return;
    server.before = () => undefined;
    // The phone's update lands between the laptop's state read and its write.
    await phone.add(B, { title: "premier second" });
  };
  const before = server.updates;
  await laptop.add(B.replace("b", "c"), { title: "premier troisieme" });
  assert.equal(server.updates, before + 2);
  assert.deepEqual(new Set((await laptop.search("premier")).keys()), new Set([A, B, B.replace("b", "c")]));
});

test("a server that serves an older state, or forgets the index, is refused", async () => {
  const server = new SearchServer();
  const index = await indexOn(server);
  await index.add(A, { title: "premier" });
  const old = { version: server.version, state: server.state };
  await index.add(B, { title: "second" });
  server.version = old.version;
  server.state = old.state;
  assert.equal(await refusal(() => index.search("premier")), "exchange_refused");
  const forgetful = new SearchServer();
  const other = await indexOn(forgetful);
  await other.add(A, { title: "premier" });
  forgetful.exists = false;
  assert.equal(await refusal(() => other.add(B, { title: "second" })), "exchange_refused");
  // Another index's state, or one altered, does not open.
  const third = new SearchServer();
  const mine = await indexOn(third);
  await mine.add(A, { title: "premier" });
  const sealed = fromBase64Url(third.state!);
  sealed[sealed.length - 1] = sealed[sealed.length - 1]! ^ 1;
  third.state = toBase64Url(sealed);
  assert.equal(await refusal(() => indexOn(third).then((fresh) => fresh.search("premier"))), "decryption_failed");
});

test("a value the server moved between labels is refused or names no document", async () => {
  const server = new SearchServer();
  const index = await indexOn(server);
  await index.add(A, { title: "premier" });
  await index.add(B, { title: "second" });
  const [first, second] = [...server.entries.keys()];
  const moved = server.entries.get(second!)!;
  server.entries.set(first!, moved);
  const outcome = await refusal(() => index.search("premier"));
  if (outcome === null) assert.ok(!(await index.search("premier")).has(B));
  else assert.equal(outcome, "malformed");
});

test("the copies of a document's first bytes stop at the limit and pass everything on", async () => {
  const written: Uint8Array[] = [];
  const { sink, copied } = copyingSink(new WritableStream({ write: (c) => void written.push(c) }), 5);
  const writer = sink.getWriter();
  await writer.write(new Uint8Array([1, 2, 3]));
  await writer.write(new Uint8Array([4, 5, 6, 7]));
  await writer.close();
  assert.deepEqual([...copied()], [1, 2, 3, 4, 5]);
  assert.equal(written.reduce((n, c) => n + c.length, 0), 7);
  const source = new Blob([new Uint8Array([9, 8, 7])]).stream();
  const read = copyingSource(source, 2);
  assert.deepEqual([...new Uint8Array(await new Response(read.source).arrayBuffer())], [9, 8, 7]);
  assert.deepEqual([...read.copied()], [9, 8]);
  assert.equal(textOf(new TextEncoder().encode("Lombalgie"), "text/plain"), "Lombalgie");
  assert.equal(textOf(new TextEncoder().encode("Lombalgie"), "application/pdf"), "");
});

test("a FHIR resource's words are indexed; JSON that is not one, or is too long to read whole, gives no text", () => {
  const encoded = (value: string): Uint8Array => new TextEncoder().encode(value);
  const resource = JSON.stringify({ resourceType: "Observation", id: "t-1", note: [{ text: "Fièvre depuis hier" }] });
  for (const mediaType of ["application/fhir+json", "application/json"]) {
    assert.equal(textOf(encoded(resource), mediaType), "Fièvre depuis hier");
    assert.equal(indexedBytes(mediaType), MAX_INDEXED_TEXT_BYTES + 1);
  }
  assert.equal(indexedBytes("application/pdf"), 0);
  for (const other of ['{"note": "not a resource"}', '["resourceType"]', '{"resourceType": "Basic", "note": ', "[".repeat(200_000)]) {
    assert.equal(textOf(encoded(other), "application/fhir+json"), "", other.slice(0, 20));
  }
  const long = encoded(`{"resourceType": "Basic", "note": "${"x".repeat(MAX_INDEXED_TEXT_BYTES)}"}`);
  assert.equal(textOf(long.subarray(0, MAX_INDEXED_TEXT_BYTES + 1), "application/fhir+json"), "");
  assert.equal(textOf(new Uint8Array([0x7b, 0xff, 0x7d]), "application/fhir+json"), "");
});

test("a server that forgets an index before its first use sees it created", async () => {
  const server = new SearchServer();
  const index = await indexOn(server);
  assert.deepEqual(await index.search("premier"), new Map());
  assert.equal(server.exists, true);
  await assert.rejects(
    (async () => {
      server.before = () => {
        throw new ApiError(500, "down", {});
      };
      await index.add(A, { title: "premier" });
    })(),
    ApiError,
  );
});

test("a value XORed into another document's id is checked against that document's sealed keyword list", async () => {
  const server = new SearchServer();
  const index = await indexOn(server);
  // The server sees which labels the holder's update wrote (PROTOCOL 18.5).
  const before = new Set(server.entries.keys());
  await index.add(A, { title: "Achillodynie gauche" });
  const written = new Set([...server.entries.keys()].filter((label) => !before.has(label)));
  await index.add(B, { title: "Coxarthrose droite" });
  assert.deepEqual([...(await index.search("achillodynie")).keys()], [A]);
  const normal = await index.search("coxarthrose");
  assert.deepEqual([...normal.keys()], [B]);

  // Each of the holder's values XORed so that it opens to the other document's id.
  const [a, b] = [uuidBytes(A), uuidBytes(B)];
  for (const label of written) {
    const value = fromBase64Url(server.entries.get(label)!);
    for (let i = 0; i < 16; i++) value[i + 1] = value[i + 1]! ^ a![i]! ^ b![i]!;
    server.entries.set(label, toBase64Url(value));
  }
  // Filed under B by the values, refused by B's own list: the server can hide A, not add B.
  assert.deepEqual(await index.search("achillodynie"), new Map());
  assert.deepEqual(await index.search("coxarthrose"), normal);

  // A's keyword list served in place of B's does not open under B's id: refused.
  const [listA, listB] = [...server.lists.keys()];
  server.lists.set(listB!, server.lists.get(listA!)!);
  assert.equal(await refusal(() => index.search("coxarthrose")), "exchange_refused");

  // A list the server says is gone: the document was removed, and is not shown.
  server.lists.delete(listB!);
  assert.deepEqual(await index.search("coxarthrose"), new Map());
});

test("the keyword lists of many results are read 500 at a time", async () => {
  const server = new SearchServer();
  const index = await indexOn(server);
  const ids = Array.from({ length: 501 }, (_, i) => `00000000-0000-0000-0000-${(i + 1).toString(16).padStart(12, "0")}`);
  for (const id of ids) await index.add(id, { title: "Gonalgie" });
  server.listsAsked.length = 0;
  const found = await index.search("gonalgie");
  assert.deepEqual(new Set(found.keys()), new Set(ids));
  assert.deepEqual(server.listsAsked, [500, 1]);
});
