import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import * as xwing from "../src/protocol/xwing.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("xwing.json");

test("xwing.json: every key pair, encapsulation and decapsulation is reproduced", async () => {
  assert.ok(vectors.vectors.length > 0);
  for (const [i, v] of vectors.vectors.entries()) {
    const seed = fromHex(v.seed);
    assert.equal(v.sk, v.seed);
    assert.equal(toHex(await xwing.publicKeyOf(seed)), v.pk, `vector ${i}: public key`);
    const { sharedSecret, ciphertext } = await xwing.encapsulate(fromHex(v.pk), fromHex(v.eseed));
    assert.equal(toHex(ciphertext), v.ct, `vector ${i}: ciphertext`);
    assert.equal(toHex(sharedSecret), v.ss, `vector ${i}: shared secret`);
    assert.equal(toHex(await xwing.decapsulate(seed, fromHex(v.ct))), v.ss, `vector ${i}: decapsulation`);
  }
});

test("xwing: a public key with a coefficient not below q, or a ciphertext of another length, is malformed", async () => {
  const v = vectors.vectors[0];
  const pk = fromHex(v.pk);
  pk[0] = 0xff;
  pk[1] = 0x0f; // first coefficient 4095
  assert.equal(await refusal(() => xwing.encapsulate(pk)), "malformed");
  assert.equal(await refusal(() => xwing.decapsulate(fromHex(v.seed), fromHex(v.ct).subarray(1))), "malformed");
});

test("xwing: an all-zero X25519 output is a decryption failure", async () => {
  const v = vectors.vectors[0];
  const ct = fromHex(v.ct);
  ct.fill(0, 1088); // ct_X = 0: the point of small order
  assert.equal(await refusal(() => xwing.decapsulate(fromHex(v.seed), ct)), "decryption_failed");
});
