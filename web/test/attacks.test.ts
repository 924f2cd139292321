/**
 * A hostile server against the browser client: what it may send, and what the
 * client must not do with it (allocate beyond its bounds, leave secrets where they
 * cannot be wiped, buffer a whole download, close a sink on a refused envelope).
 * The proof of work's running time is checked from tests/web/test_differential.py,
 * which can kill a solver that does not stop.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { openStream, seal } from "../src/protocol/envelope.js";
import { verifyConsistency, verifyInclusion } from "../src/protocol/merkle.js";
import { subtle } from "../src/protocol/primitives.js";
import { UnsolvableChallenge, solve } from "../src/protocol/proof_of_work.js";
import * as x25519 from "../src/protocol/x25519.js";
import * as xwing from "../src/protocol/xwing.js";
import { refusal } from "./vectors.js";

const KEY = fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

test("proof of work: a challenge above the memory, pass or lane bounds is refused before any key is derived", async () => {
  const base = { algorithm: "ARGON2ID", nonce: "00", salt: "00".repeat(8), cost: 1, memoryCost: 8192, parallelism: 1, keyLength: 32, keyPrefix: "00" };
  const changes = [
    { memoryCost: 65537 },
    { memoryCost: 2 ** 32 },
    { memoryCost: 8.5 },
    { memoryCost: "8192" },
    { cost: 5 },
    { cost: 0 },
    { parallelism: 5 },
    { parallelism: 2, memoryCost: 15 },
    { keyLength: 65 },
    { keyPrefix: "00".repeat(33) },
    { salt: "00".repeat(7) },
    { nonce: "00".repeat(65) },
    { nonce: "AA" },
    { algorithm: "SHA-256" },
  ];
  for (const change of changes) {
    await assert.rejects(solve({ parameters: { ...base, ...change }, signature: "00" }), UnsolvableChallenge, JSON.stringify(change));
  }
});

test("X25519 public keys are derived without exporting the private key as a JWK string", async () => {
  // A JWK export puts the private key in `d`, a JS string no one can wipe; X25519(k, 9)
  // by deriveBits needs no export. X-Wing derives its X25519 public key on every
  // decapsulation, so the recipient's secret would be copied into the heap each time.
  const exported: string[] = [];
  const original = subtle.exportKey.bind(subtle);
  (subtle as { exportKey: unknown }).exportKey = async (format: string, key: CryptoKey) => {
    exported.push(`${format} ${key.type}`);
    return original(format as "jwk", key);
  };
  try {
    const publicKey = await x25519.publicKeyOf(KEY);
    assert.equal(toHex(publicKey), "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f");
    await xwing.publicKeyOf(KEY);
  } finally {
    (subtle as { exportKey: unknown }).exportKey = original;
  }
  assert.deepEqual(exported.filter((e) => e.endsWith("private")), []);
});

/** A source that serves `data` in 4 KiB slices and then hangs, recording how far it was read. */
function hangingSource(data: Uint8Array): { stream: ReadableStream<Uint8Array>; served: () => number } {
  let offset = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.length) return new Promise<void>(() => undefined); // never ends
      controller.enqueue(data.slice(offset, offset + 4096));
      offset += 4096;
      return undefined;
    },
  });
  return { stream, served: () => offset };
}

test("envelope: opening streams chunk by chunk and never waits for the whole input", async () => {
  const plaintext = new Uint8Array(4096 * 8).fill(7);
  const sealed = await seal(KEY, plaintext, { chunkLog2: 12 });
  const { stream, served } = hangingSource(sealed.subarray(0, 78 + 3 * (4096 + 16)));
  const received: number[] = [];
  const sink = new WritableStream<Uint8Array>({ write: (chunk) => void received.push(chunk.length) });
  void openStream(KEY, stream, sink).catch(() => undefined);
  for (let i = 0; i < 50 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  // Chunks 0 and 1 are out while chunk 3 has not arrived: nothing buffers the input.
  assert.deepEqual(received.slice(0, 2), [4096, 4096]);
  assert.ok(served() < sealed.length);
});

test("envelope: when a later chunk fails, the sink that received the earlier ones is aborted, not closed", async () => {
  const sealed = await seal(KEY, new Uint8Array(4096 * 3 + 5).fill(1), { chunkLog2: 12 });
  const tampered = sealed.slice();
  tampered[78 + 2 * (4096 + 16) + 3]! ^= 1;
  const events: string[] = [];
  const sink = new WritableStream<Uint8Array>({
    write: (chunk) => void events.push(`write ${chunk.length}`),
    close: () => void events.push("close"),
    abort: () => void events.push("abort"),
  });
  const source = new Blob([tampered]).stream();
  assert.equal(await refusal(() => openStream(KEY, source, sink)), "chunk_authentication:2");
  assert.deepEqual(events, ["write 4096", "write 4096", "abort"]);
});

test("Merkle proofs: size 0, an index past the end and an endless proof are refused without hashing the proof", async () => {
  const hash = new Uint8Array(32);
  assert.equal(await refusal(() => verifyInclusion(hash, 0, 0, [], hash)), "invalid_proof");
  assert.equal(await refusal(() => verifyInclusion(hash, 5, 5, [], hash)), "invalid_proof");
  assert.equal(await refusal(() => verifyInclusion(hash, -1, 5, [], hash)), "invalid_proof");
  assert.equal(await refusal(() => verifyConsistency(0, 5, hash, hash, [hash])), "invalid_proof");
  const endless = Array.from({ length: 200_000 }, () => hash);
  const started = performance.now();
  assert.equal(await refusal(() => verifyInclusion(hash, 3n, 2n ** 62n, endless, hash)), "invalid_proof");
  assert.equal(await refusal(() => verifyConsistency(3n, 2n ** 62n, hash, hash, endless)), "invalid_proof");
  assert.ok(performance.now() - started < 2000, "the walk stops at the tree's depth");
  assert.equal(await refusal(() => verifyInclusion(new Uint8Array(31), 0, 1, [], hash)), "invalid_proof");
});
