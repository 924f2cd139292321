import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { EnvelopeDigest, contentDigest, open, openStream, seal } from "../src/protocol/envelope.js";
import { leafHash, rootOf } from "../src/protocol/merkle.js";
import { sha256 } from "../src/protocol/primitives.js";
import { bytesSink, bytesSource } from "../src/protocol/streams.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("envelope.json");

test("envelope: every valid vector opens, with its content digest; version 2 ones are reproduced byte for byte", async () => {
  assert.deepEqual(new Set(vectors.valid.map((v: { version: number }) => v.version)), new Set([1, 2]));
  for (const v of vectors.valid) {
    const key = fromHex(v.document_key);
    const envelope = fromHex(v.envelope);
    assert.equal(envelope[4], v.version, v.description);
    if (v.version === 2) {
      const sealed = await seal(key, fromHex(v.plaintext), {
        chunkLog2: v.chunk_log2,
        salt: fromHex(v.salt),
        noncePrefix: fromHex(v.nonce_prefix),
      });
      assert.equal(toHex(sealed), v.envelope, v.description);
    }
    const opened = await open(key, envelope);
    assert.equal(toHex(opened.plaintext), v.plaintext, v.description);
    assert.equal(toHex(opened.contentDigest), v.content_digest, v.description);
    assert.equal(toHex(await contentDigest(envelope)), v.content_digest, v.description);
    // EnvelopeDigest cuts the chunks itself, however the bytes come.
    for (const slice of [1000, 4113]) {
      const digest = new EnvelopeDigest();
      for (let at = 0; at < envelope.length; at += slice) await digest.update(envelope.subarray(at, at + slice));
      assert.equal(toHex(await digest.digest()), v.content_digest, `${v.description}, slices of ${slice}`);
    }
  }
});

test("envelope: bytes that start with no header of a known version are digested as SHA-256 of them all", async () => {
  assert.ok(vectors.digest_of_other_bytes.length > 0);
  for (const v of vectors.digest_of_other_bytes) {
    const data = fromHex(v.data);
    assert.equal(toHex(await contentDigest(data)), v.content_digest, v.description);
    assert.equal(toHex(await sha256(data)), v.content_digest, v.description);
  }
});

test("envelope property: the version 2 digest is the tree hash over the header and the sealed chunks, any slicing", async () => {
  const { default: fc } = await import("fast-check");
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 9 * 4096 }), fc.integer({ min: 1, max: 9000 }), async (length, slice) => {
      const key = globalThis.crypto.getRandomValues(new Uint8Array(32));
      const envelope = await seal(key, globalThis.crypto.getRandomValues(new Uint8Array(length)), { chunkLog2: 12 });
      const leaves = [envelope.subarray(0, 78)];
      for (let at = 78; at < envelope.length; at += 4096 + 16) leaves.push(envelope.subarray(at, at + 4096 + 16));
      const expected = toHex(await rootOf(await Promise.all(leaves.map(leafHash))));
      const digest = new EnvelopeDigest();
      for (let at = 0; at < envelope.length; at += slice) await digest.update(envelope.subarray(at, at + slice));
      assert.equal(toHex(await digest.digest()), expected);
      assert.equal(toHex((await open(key, envelope)).contentDigest), expected);
    }),
    { numRuns: 40 },
  );
});

test("envelope: every invalid vector is refused with its identifier", async () => {
  assert.ok(vectors.invalid.length > 0);
  for (const v of vectors.invalid) {
    const got = await refusal(() => open(fromHex(v.document_key), fromHex(v.envelope)));
    assert.equal(got, v.error, v.description);
  }
});

test("envelope: reading does not depend on how the source is sliced", async () => {
  for (const v of [...vectors.valid, ...vectors.invalid]) {
    const envelope = fromHex(v.envelope);
    // Byte-by-byte reads only for the short ones: the branch points are the same.
    for (const slice of envelope.length < 1024 ? [1, 7, 4113] : [7, 4113]) {
      const out = bytesSink();
      const got = await refusal(() => openStream(fromHex(v.document_key), bytesSource(envelope, slice), out.sink));
      assert.equal(got, v.error ?? null, `${v.description}, slices of ${slice}`);
    }
  }
});

test("envelope property: any plaintext round-trips through any slicing; any flipped bit or cut is refused by name", async () => {
  const { default: fc } = await import("fast-check");
  const chunk = 4096;
  const lengths = fc.oneof(
    fc.integer({ min: 0, max: 3 * chunk + 17 }),
    fc.constantFrom(0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, 3 * chunk),
  );
  await fc.assert(
    fc.asyncProperty(lengths, fc.integer({ min: 1, max: 9000 }), fc.nat(), fc.nat(), async (length, slice, flip, cut) => {
      const key = globalThis.crypto.getRandomValues(new Uint8Array(32));
      const plaintext = globalThis.crypto.getRandomValues(new Uint8Array(length));
      const envelope = await seal(key, plaintext, { chunkLog2: 12 });
      const chunks = Math.max(1, Math.ceil(length / chunk));
      assert.equal(envelope.length, 78 + length + 16 * chunks);
      const out = bytesSink();
      await openStream(key, bytesSource(envelope, slice), out.sink);
      assert.equal(toHex(out.bytes()), toHex(plaintext));
      const flipped = envelope.slice();
      const bit = flip % (envelope.length * 8);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      const got = await refusal(() => open(key, flipped));
      assert.ok(got !== null && /^(malformed|unsupported|header_authentication|chunk_authentication:\d+|truncated|trailing_data)$/.test(got), `bit ${bit}: ${got}`);
      const shorter = envelope.subarray(0, cut % envelope.length);
      assert.ok((await refusal(() => open(key, shorter))) !== null, `cut at ${shorter.length}`);
    }),
    { numRuns: 60 },
  );
});
