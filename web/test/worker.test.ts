import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { decodePrivateKeys } from "../src/protocol/keys.js";
import { verify } from "../src/protocol/signature.js";
import { bytesSink, bytesSource } from "../src/protocol/streams.js";
import * as xwing from "../src/protocol/xwing.js";
import { DESCRIBE_KEYS } from "../src/worker/messages.js";
import { CryptoService } from "../src/worker/service.js";
import { loadVectors, refusal } from "./vectors.js";

const v = loadVectors("keystore.json").vectors[0];
const secretKeys = decodePrivateKeys(fromHex(v.private_keys));
const secrets = [secretKeys.signingSeed, secretKeys.xwingSeed, secretKeys.x25519Private].map(toHex);

/** Every byte array in an answer, as hex, to look for key bytes in. */
function hexOf(value: unknown): string {
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(hexOf).join(" ");
  if (value !== null && typeof value === "object") return Object.values(value).map(hexOf).join(" ");
  return String(value);
}

test("worker: unlocked by password, it seals to itself and opens, signs, and no answer holds a private key", async () => {
  const service = new CryptoService();
  const answers: unknown[] = [];
  const unlocked = await service.handle("unlockWithPassword", { keystore: fromHex(v.keystore), password: v.password });
  answers.push(unlocked);
  assert.equal(toHex(unlocked.bundle), v.public_bundle);
  assert.equal(toHex(unlocked.authSecret), v.auth_secret);

  const plaintext = Uint8Array.from({ length: 3 * 4096 + 5 }, (_, i) => (i * 7) & 0xff);
  const sealed = bytesSink();
  const seal = await service.handle("seal", {
    source: bytesSource(plaintext, 1000),
    sink: sealed.sink,
    recipients: [unlocked.bundle, unlocked.bundle],
    chunkLog2: 12,
  });
  answers.push(seal);
  assert.equal(seal.wrappedKeys.length, 2);
  assert.equal(toHex(seal.header), toHex(sealed.bytes().subarray(0, 78)));
  for (const wrappedKey of seal.wrappedKeys) {
    const opened = bytesSink();
    const open = await service.handle("open", { source: bytesSource(sealed.bytes(), 777), sink: opened.sink, wrappedKey });
    answers.push(open);
    assert.equal(toHex(opened.bytes()), toHex(plaintext));
    assert.equal(toHex(open.contentDigest), toHex(seal.contentDigest));
  }

  const digest = new Uint8Array(32).fill(9);
  const signed = await service.handle("sign", { purpose: "document", digest });
  answers.push(signed, service.handle("publicBundle", {}));
  await verify(fromHex(v.public_bundle).subarray(5, 37), "document", digest, signed.signature);

  const seen = hexOf(await Promise.all(answers));
  for (const secret of secrets) assert.ok(!seen.includes(secret), "a private key in an answer");
});

test("worker: the recovery words unlock; a wrong password, a locked worker and an unknown operation are refused by name", async () => {
  const service = new CryptoService();
  assert.equal(await refusal(() => service.handle("unlockWithPassword", { keystore: fromHex(v.keystore), password: "wrong" })), "wrong_password");
  assert.equal(await refusal(() => service.handle("sign", { purpose: "document", digest: new Uint8Array(32) })), "locked");
  assert.equal(await refusal(() => service.handle("constructor" as "lock", {})), "unknown_operation");
  const { bundle } = await service.handle("unlockWithRecoveryWords", { keystore: fromHex(v.keystore), words: v.recovery_words });
  assert.equal(toHex(bundle), v.public_bundle);
  await service.handle("sign", { purpose: "request", digest: new Uint8Array(32) });
  service.handle("lock", {});
  assert.equal(await refusal(() => service.handle("publicBundle", {})), "locked");
});

test("worker: a sealed document opened with a wrapped key of another document, or cut short, is refused as the protocol names it", async () => {
  const service = new CryptoService();
  const { bundle } = await service.handle("unlockWithPassword", { keystore: fromHex(v.keystore), password: v.password });
  const sealOne = async () => {
    const sink = bytesSink();
    const result = await service.handle("seal", { source: bytesSource(new Uint8Array(5000)), sink: sink.sink, recipients: [bundle], chunkLog2: 12 });
    return { bytes: sink.bytes(), wrapped: result.wrappedKeys[0]! };
  };
  const first = await sealOne();
  const second = await sealOne();
  const open = (data: Uint8Array, wrappedKey: Uint8Array) =>
    service.handle("open", { source: bytesSource(data), sink: bytesSink().sink, wrappedKey });
  assert.equal(await refusal(() => open(first.bytes, second.wrapped)), "decryption_failed");
  assert.equal(await refusal(() => open(first.bytes.subarray(0, 40), first.wrapped)), "truncated");
  assert.equal(await refusal(() => open(first.bytes.subarray(0, first.bytes.length - 1), first.wrapped)), "chunk_authentication:1");
  assert.equal(await refusal(() => service.handle("seal", { source: bytesSource(new Uint8Array(1)), sink: bytesSink().sink, recipients: [new Uint8Array(10)] })), "malformed");
});

test("worker: unlocked, it holds non-extractable CryptoKeys (X-Wing's seed as bytes without native X-Wing); locked, nothing", async () => {
  const service = new CryptoService();
  assert.deepEqual(service.describeKeys(), { unlocked: false, signing: null, x25519: null, xwing: null });
  await service.handle("unlockWithPassword", { keystore: fromHex(v.keystore), password: v.password });
  const held = service.describeKeys();
  assert.deepEqual(held.signing, { kind: "CryptoKey", algorithm: "Ed25519", extractable: false, usages: ["sign"] });
  assert.deepEqual(held.x25519, { kind: "CryptoKey", algorithm: "X25519", extractable: false, usages: ["deriveBits"] });
  const nativeXWing = (await xwing.backend()) === "native";
  assert.deepEqual(
    held.xwing,
    nativeXWing
      ? { kind: "CryptoKey", algorithm: "MLKEM768-X25519", extractable: false, usages: ["decapsulateBits"] }
      : { kind: "bytes", length: 32 },
  );
  await service.handle("lock", {});
  assert.deepEqual(service.describeKeys(), { unlocked: false, signing: null, x25519: null, xwing: null });
  // Not an operation: only the app-tests build's worker.ts answers it.
  assert.equal(await refusal(() => service.handle(DESCRIBE_KEYS as never, {} as never)), "unknown_operation");
});
