// Node only: it reads the worker's sources from the repository (node:fs).
/**
 * Every refusal the worker can send the page has a text in both catalogues. The codes
 * are read from the worker's sources (the identifier types, each refusal it makes, the
 * statuses it names, its fallback), so a code added there without a text fails here.
 */

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { catalogue } from "../src/app/i18n.js";
import { REFUSAL_TEXTS, describeFailure, refusalCode } from "../src/app/refusals.js";
import { WorkerRefusal } from "../src/worker/client.js";

const SOURCES = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

/** The TypeScript of the worker and what it runs (all but the page's app/). */
function workerSources(): Map<string, string> {
  const sources = new Map<string, string>();
  for (const entry of readdirSync(SOURCES, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && path.endsWith(".ts") && !path.startsWith(join(SOURCES, "app"))) sources.set(path, readFileSync(path, "utf8"));
  }
  return sources;
}

function literals(text: string): string[] {
  return [...text.matchAll(/"([a-z_]+)"|`([a-z_]+):\$\{/g)].map((m) => (m[1] ?? m[2])!);
}

/** Every code the worker's sources can answer a refusal with. */
function codesInSources(): Set<string> {
  const codes = new Set<string>();
  for (const [path, text] of workerSources()) {
    // The identifier types: `export type XIdentifier = | "a" | "b";`
    for (const m of text.matchAll(/export type \w*Identifier\s*=([^;]+);/g)) for (const code of literals(m[1]!)) codes.add(code);
    // Each refusal made: new ClientRefusal("code", ...), and the worker's own (typed in messages.ts).
    for (const m of text.matchAll(/new (?:ClientRefusal|ProtocolError|WorkerError|WorkerRefusal)\(\s*"([a-z_]+)"/g)) codes.add(m[1]!);
    for (const m of text.matchAll(/readonly identifier:\s*((?:"[a-z_]+"\s*\|?\s*)+)/g)) for (const code of literals(m[1]!)) codes.add(code);
    // The server's statuses, and the worker's fallback for anything else.
    const statuses = /function identifierOfStatus[\s\S]*?\n}/.exec(text);
    if (statuses) for (const m of statuses[0].matchAll(/return "([a-z_]+)"|\? "([a-z_]+)" : "([a-z_]+)"/g)) for (const code of m.slice(1)) if (code) codes.add(code);
    if (path.endsWith(join("worker", "worker.ts"))) for (const m of text.matchAll(/identifier \?\? "([a-z_]+)"/g)) codes.add(m[1]!);
  }
  return codes;
}

test("every refusal code of the worker's sources has a text in French and in English", () => {
  const codes = codesInSources();
  // The scan finds each family: a protocol check, a client check, a status, the worker's own.
  for (const known of ["invalid_signature", "chunk_authentication", "directory_refused", "weak_password", "too_many_requests", "refused", "locked", "internal"]) {
    assert.ok(codes.has(known), `the scan of the sources misses ${known}`);
  }
  const fr = catalogue("fr");
  const en = catalogue("en");
  for (const code of codes) {
    const known = refusalCode(code);
    assert.notEqual(known, null, `the worker can refuse with ${code}, which has no text`);
    const key = REFUSAL_TEXTS[known!];
    assert.ok(fr[key].length > 0 && en[key].length > 0, `${code} has a text in both languages`);
    assert.notEqual(fr[key], en[key], `${code}'s French text is not the English one`);
  }
  // And no text is kept for a code the worker no longer sends.
  assert.deepEqual(new Set(Object.keys(REFUSAL_TEXTS)), codes);
});

test("a refusal reads as its code's text, the worker's code kept for support", () => {
  const chunk = describeFailure(new WorkerRefusal("chunk_authentication:3", "chunk 3 failed its authentication"));
  assert.equal(chunk.text, catalogue("fr")["refusal.chunk_authentication"]);
  assert.equal(chunk.code, "chunk_authentication:3");
  // A code this page does not know reads as an unexpected error, never the English message.
  const unknown = describeFailure(new WorkerRefusal("something_new", "an English sentence"));
  assert.equal(unknown.text, catalogue("fr")["refusal.internal"]);
  assert.equal(unknown.code, "something_new");
  assert.equal(describeFailure(new TypeError("Failed to fetch")).text, catalogue("fr")["error.network"]);
  assert.deepEqual(describeFailure(new RangeError("out of range")), { text: catalogue("fr")["refusal.internal"], code: "RangeError" });
});
