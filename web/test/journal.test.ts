import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { type JournalEntry, decodeEntry, encodeEntry, requestDigest, signedRequestDigest, verifyRequest } from "../src/protocol/journal.js";
import { leafHash } from "../src/protocol/merkle.js";
import { sha256 } from "../src/protocol/primitives.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("journal.json");

function entryOf(v: any): JournalEntry {
  return {
    version: v.version,
    timestampMs: BigInt(v.timestamp_ms),
    actor: v.actor,
    action: v.action,
    outcome: v.outcome,
    status: v.status,
    objects: v.objects.map(([kind, id]: [number, string]) => [kind, id]),
    client: v.client,
    requestDigest: fromHex(v.request_digest),
    signature: v.signature === null
      ? null
      : { signerKeyIndex: BigInt(v.signature.signer_key_index), signature: fromHex(v.signature.signature) },
    chain: v.chain.map((c: any) => ({ kind: c.kind, subject: c.subject, sequence: BigInt(c.sequence), previous: BigInt(c.previous) })),
  };
}

test("journal.json: every request digest is reproduced and its signature verifies", async () => {
  assert.ok(vectors.requests.length > 0);
  for (const v of vectors.requests) {
    const digest = await requestDigest(v.method, v.target, await sha256(fromHex(v.body)));
    assert.equal(toHex(digest), v.request_digest, `${v.method} ${v.target}`);
    await verifyRequest(fromHex(vectors.user_public_key), digest, fromHex(v.signature));
  }
});

test("R3 journal.json: every signed request digest covers its time and nonce, and its signature verifies", async () => {
  assert.ok(vectors.signed_requests.length > 0);
  const key = fromHex(vectors.user_public_key);
  for (const v of vectors.signed_requests) {
    const body = await sha256(fromHex(v.body));
    const at = BigInt(v.signed_at_ms);
    const digest = await signedRequestDigest(v.method, v.target, body, at, v.nonce);
    assert.equal(toHex(digest), v.signed_request_digest, `${v.method} ${v.target}`);
    await verifyRequest(key, digest, fromHex(v.signature));
    // Another time or nonce is another digest: the signature does not carry over.
    for (const other of [
      await signedRequestDigest(v.method, v.target, body, at + 1n, v.nonce),
      await signedRequestDigest(v.method, v.target, body, at, `${v.nonce.slice(1)}x`),
    ]) {
      await assert.rejects(verifyRequest(key, other, fromHex(v.signature)));
    }
  }
  assert.ok(vectors.invalid_signed_requests.length > 0);
  for (const v of vectors.invalid_signed_requests) {
    await assert.rejects(signedRequestDigest("POST", "/consents", new Uint8Array(32), BigInt(v.signed_at_ms), v.nonce), v.description);
  }
});

test("journal.json: every entry is encoded byte for byte, decoded to its fields, with its leaf hash", async () => {
  assert.ok(vectors.entries.length > 0);
  for (const [i, v] of vectors.entries.entries()) {
    const entry = entryOf(v);
    assert.equal(toHex(encodeEntry(entry)), v.encoded, `entry ${i}`);
    assert.deepEqual(decodeEntry(fromHex(v.encoded)), entry, `entry ${i}`);
    assert.equal(toHex(await leafHash(fromHex(v.encoded))), v.leaf_hash, `entry ${i}`);
  }
});

test("journal.json: every refused entry gets its identifier", async () => {
  assert.ok(vectors.invalid.length > 0);
  for (const v of vectors.invalid) {
    assert.equal(await refusal(() => decodeEntry(fromHex(v.encoded))), v.error, v.description);
  }
});

test("journal: a truncated entry, trailing bytes and an unknown version are refused by name", async () => {
  const encoded = fromHex(vectors.entries[3].encoded);
  assert.equal(await refusal(() => decodeEntry(encoded.subarray(0, encoded.length - 1))), "malformed");
  assert.equal(await refusal(() => decodeEntry(Uint8Array.of(...encoded, 0))), "malformed");
  const other = encoded.slice();
  other[4] = 3;
  assert.equal(await refusal(() => decodeEntry(other)), "unsupported");
});

test("journal: a non-ASCII action, an unknown outcome or object kind, a signature flag not 0 or 1 are malformed", async () => {
  const encoded = fromHex(vectors.entries[3].encoded);
  const action = 4 + 1 + 8 + 16;
  const outcome = action + 1 + encoded[action]!;
  const objects = outcome + 3;
  const client = objects + 1 + 17 * encoded[objects]!;
  const flag = client + 1 + encoded[client]! + 32;
  for (const [offset, value] of [[action + 1, 0xc3], [outcome, 9], [objects + 1, 10], [flag, 2]] as const) {
    const changed = encoded.slice();
    changed[offset] = value;
    assert.equal(await refusal(() => decodeEntry(changed)), "malformed", `byte ${offset} = ${value}`);
  }
});
