import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { checkPublicKey, importSigningSeed, verifyMessage } from "../src/protocol/ed25519.js";
import { type Purpose, sign, signedMessage, verify } from "../src/protocol/signature.js";
import { loadVectors, refusal } from "./vectors.js";

const signatures = loadVectors("signature.json");
const keys = loadVectors("ed25519_keys.json");

test("signature.json: every signed message and signature is reproduced and verifies", async () => {
  assert.ok(signatures.vectors.length > 0);
  for (const v of signatures.vectors) {
    const purpose = v.purpose as Purpose;
    const digest = fromHex(v.digest);
    assert.equal(toHex(signedMessage(purpose, digest)), v.signed_message, v.purpose);
    const key = await importSigningSeed(fromHex(v.private_seed));
    assert.equal(toHex(key.publicKey), v.public_key, v.purpose);
    assert.equal(key.privateKey.extractable, false);
    // Ed25519 is deterministic: the same seed and message give the same signature.
    assert.equal(toHex(await sign(key.privateKey, purpose, digest)), v.signature, v.purpose);
    await verify(fromHex(v.public_key), purpose, digest, fromHex(v.signature));
  }
});

test("signature.json: a signature for one purpose does not verify for another", async () => {
  const all = signatures.vectors as { purpose: Purpose }[];
  for (const v of signatures.vectors) {
    for (const other of all) {
      if (other.purpose === v.purpose) continue;
      const got = await refusal(() => verify(fromHex(v.public_key), other.purpose, fromHex(v.digest), fromHex(v.signature)));
      assert.equal(got, "invalid_signature", `${v.purpose} as ${other.purpose}`);
    }
  }
});

test("signature: a digest outside 16..64 bytes is malformed", async () => {
  const v = signatures.vectors[0];
  for (const length of [0, 15, 65]) {
    assert.equal(await refusal(() => signedMessage("document", new Uint8Array(length))), "malformed");
  }
  assert.equal(await refusal(() => verify(fromHex(v.public_key), "document", new Uint8Array(15), fromHex(v.signature))), "malformed");
});

test("ed25519_keys.json: the message is the signed message of a zero digest", () => {
  assert.equal(toHex(signedMessage("document", new Uint8Array(32))), keys.message);
});

test("ed25519_keys.json: every refused key is refused with its identifier, also with its signature", async () => {
  assert.ok(keys.refused_keys.length > 0);
  for (const v of keys.refused_keys) {
    assert.equal(await refusal(() => checkPublicKey(fromHex(v.public_key))), v.error, v.description);
    // Keys given without a signature are refused before any signature is read.
    const signature = v.signature === null ? new Uint8Array(64) : fromHex(v.signature);
    const got = await refusal(() => verifyMessage(fromHex(v.public_key), fromHex(keys.message), signature));
    assert.equal(got, v.error, v.description);
  }
});

test("ed25519_keys.json: every accepted key is accepted", async () => {
  assert.ok(keys.accepted_keys.length > 0);
  for (const v of keys.accepted_keys) {
    assert.equal(await refusal(() => checkPublicKey(fromHex(v.public_key))), null, v.description);
  }
});

test("ed25519_keys.json: every signature under a valid key verifies or is refused with its identifier", async () => {
  assert.ok(keys.signatures.length > 0);
  for (const v of keys.signatures) {
    const got = await refusal(() => verifyMessage(fromHex(v.public_key), fromHex(keys.message), fromHex(v.signature)));
    assert.equal(got, v.error, v.description);
  }
});

test("ed25519: a key or signature of the wrong length is refused by name", async () => {
  const v = keys.signatures[0];
  assert.equal(await refusal(() => checkPublicKey(new Uint8Array(31))), "malformed");
  const got = await refusal(() => verifyMessage(fromHex(v.public_key), fromHex(keys.message), fromHex(v.signature).subarray(0, 63)));
  assert.equal(got, "invalid_signature");
});
