import assert from "node:assert/strict";
import { test } from "node:test";

import { chacha20poly1305 } from "@noble/ciphers/chacha.js";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import {
  AES_128_GCM,
  type Aead,
  DHKEM_X25519,
  type Kem,
  XWING,
  deriveX25519PrivateKey,
  keySchedule,
  setupBaseRecipient,
  setupBaseSender,
} from "../src/protocol/hpke.js";
import * as x25519 from "../src/protocol/x25519.js";
import * as xwing from "../src/protocol/xwing.js";
import { loadVectors } from "./vectors.js";

// ChaCha20-Poly1305 is in the published vectors but in none of our suites, and not
// in WebCrypto: the tests bring it.
const CHACHA20_POLY1305: Aead = {
  id: 0x0003,
  keySize: 32,
  seal: async (key, nonce, aad, plaintext) => chacha20poly1305(key, nonce, aad).encrypt(plaintext),
  open: async (key, nonce, aad, ciphertext) => {
    try {
      return chacha20poly1305(key, nonce, aad).decrypt(ciphertext);
    } catch {
      return null;
    }
  },
};

const AEADS = new Map<number, Aead>([
  [AES_128_GCM.id, AES_128_GCM],
  [CHACHA20_POLY1305.id, CHACHA20_POLY1305],
]);
const KEMS = new Map<number, Kem>([
  [DHKEM_X25519.id, DHKEM_X25519],
  [XWING.id, XWING],
]);

async function checkVector(v: any, recipientPrivate: Uint8Array, label: string): Promise<void> {
  assert.equal(v.mode, 0);
  assert.equal(v.kdf_id, 1);
  const suite = { kem: KEMS.get(v.kem_id)!, aead: AEADS.get(v.aead_id)! };
  assert.ok(suite.kem && suite.aead, label);
  const info = fromHex(v.info);
  const sender = await setupBaseSender(suite, fromHex(v.pkRm), info, fromHex(v.ikmE));
  assert.equal(toHex(sender.enc), v.enc, `${label}: enc`);
  assert.equal(toHex(sender.sharedSecret), v.shared_secret, `${label}: shared secret`);
  assert.equal(toHex(sender.context.key), v.key, `${label}: key`);
  assert.equal(toHex(sender.context.baseNonce), v.base_nonce, `${label}: base nonce`);
  assert.equal(toHex(sender.context.exporterSecret), v.exporter_secret, `${label}: exporter secret`);
  const recipient = await setupBaseRecipient(suite, fromHex(v.enc), recipientPrivate, info);
  assert.equal(toHex(recipient.key), v.key, `${label}: recipient key`);
  for (const [i, e] of v.encryptions.entries()) {
    const sequence = e.sequence_number ?? i;
    assert.equal(toHex(sender.context.nonce(sequence)), e.nonce, `${label}: nonce ${sequence}`);
    assert.equal(toHex(await sender.context.seal(fromHex(e.aad), fromHex(e.pt), sequence)), e.ct, `${label}: seal ${sequence}`);
    assert.equal(toHex(await recipient.open(fromHex(e.aad), fromHex(e.ct), sequence)), e.pt, `${label}: open ${sequence}`);
  }
  for (const x of v.exports) {
    assert.equal(toHex(await recipient.export(fromHex(x.exporter_context), x.L)), x.exported_value, `${label}: export`);
  }
}

test("rfc9180.json: every DHKEM(X25519) vector, keys to exports", async () => {
  const vectors = loadVectors("rfc9180.json").vectors;
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    const label = `aead ${v.aead_id}`;
    assert.equal(toHex(await deriveX25519PrivateKey(fromHex(v.ikmE))), v.skEm, `${label}: skE`);
    assert.equal(toHex(await deriveX25519PrivateKey(fromHex(v.ikmR))), v.skRm, `${label}: skR`);
    assert.equal(toHex(await x25519.publicKeyOf(fromHex(v.skRm))), v.pkRm, `${label}: pkR`);
    const context = await keySchedule({ kem: DHKEM_X25519, aead: AEADS.get(v.aead_id)! }, fromHex(v.shared_secret), fromHex(v.info));
    assert.equal(toHex(context.key), v.key, `${label}: key schedule`);
    await checkVector(v, fromHex(v.skRm), label);
  }
});

test("hpke_pq_xwing.json: the X-Wing vector, keys to exports", async () => {
  const vectors = loadVectors("hpke_pq_xwing.json").vectors;
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    const seed = xwing.deriveSeed(fromHex(v.ikmR));
    assert.equal(toHex(seed), v.skRm, "DeriveKeyPair");
    assert.equal(toHex(await xwing.publicKeyOf(seed)), v.pkRm, "pkR");
    await checkVector(v, seed, "X-Wing");
  }
});
