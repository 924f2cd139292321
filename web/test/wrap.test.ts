import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { decodeBundle, decodePrivateKeys, encodeBundle, importDecapsulationKeys, publicKeysOf } from "../src/protocol/keys.js";
import { type SuiteName, sealVersion1ForVectors, unwrapDocumentKey, wrapDocumentKey } from "../src/protocol/wrap.js";
import * as xwing from "../src/protocol/xwing.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("wrap.json");

test("wrap.json: every recipient's private keys give its bundle", async () => {
  for (const v of vectors.vectors) {
    const keys = decodePrivateKeys(fromHex(v.recipient_private_keys));
    assert.equal(toHex(encodeBundle(await publicKeysOf(keys))), v.recipient_public_bundle);
    assert.equal(toHex(encodeBundle(decodeBundle(fromHex(v.recipient_public_bundle)))), v.recipient_public_bundle);
  }
});

test("wrap.json: every wrapped key opens; the deterministic ones are reproduced from ikm_e", async () => {
  assert.ok(vectors.vectors.length > 0);
  for (const v of vectors.vectors) {
    const label = `v${v.version} ${v.suite}`;
    const keys = decodePrivateKeys(fromHex(v.recipient_private_keys));
    const header = fromHex(v.envelope_header);
    assert.equal(toHex(await unwrapDocumentKey(fromHex(v.wrapped_key), keys, header)), v.document_key, label);
    // As the crypto worker holds them: non-extractable CryptoKeys where WebCrypto can.
    const imported = await importDecapsulationKeys(keys);
    assert.equal(toHex(await unwrapDocumentKey(fromHex(v.wrapped_key), imported, header)), v.document_key, `${label}: imported`);
    if (!v.deterministic) continue;
    const recipient = decodeBundle(fromHex(v.recipient_public_bundle));
    const suite = v.suite as SuiteName;
    const wrapped = v.version === 2
      ? await wrapDocumentKey(fromHex(v.document_key), recipient, header, suite, fromHex(v.ikm_e))
      : await sealVersion1ForVectors(fromHex(v.document_key), recipient, header, suite, fromHex(v.ikm_e));
    assert.equal(toHex(wrapped), v.wrapped_key, `${label}: reproduced`);
  }
});

test("wrap.json: every refused wrapped key gets its identifier", async () => {
  assert.ok(vectors.invalid.length > 0);
  for (const v of vectors.invalid) {
    const keys = decodePrivateKeys(fromHex(v.recipient_private_keys));
    const got = await refusal(() => unwrapDocumentKey(fromHex(v.wrapped_key), keys, fromHex(v.envelope_header)));
    assert.equal(got, v.error, v.description);
    const imported = await importDecapsulationKeys(keys);
    const gotImported = await refusal(() => unwrapDocumentKey(fromHex(v.wrapped_key), imported, fromHex(v.envelope_header)));
    assert.equal(gotImported, v.error, `${v.description}: imported`);
  }
});

test("wrap: a fresh hybrid and classical key round-trip, and open for that document only", async () => {
  const v = vectors.vectors[0];
  const keys = decodePrivateKeys(fromHex(v.recipient_private_keys));
  const recipient = decodeBundle(fromHex(v.recipient_public_bundle));
  const header = fromHex(v.envelope_header);
  const documentKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
  for (const suite of ["HYBRID", "CLASSICAL"] as const) {
    const wrapped = await wrapDocumentKey(documentKey, recipient, header, suite);
    assert.equal(wrapped[0], 2);
    assert.equal(toHex(await unwrapDocumentKey(wrapped, keys, header)), toHex(documentKey));
    const other = header.slice();
    other[10]! ^= 1;
    assert.equal(await refusal(() => unwrapDocumentKey(wrapped, keys, other)), "decryption_failed", suite);
  }
});

test("wrap: the keys imported for unwrapping are non-extractable CryptoKeys, but for X-Wing's seed under the noble backend", async () => {
  const keys = decodePrivateKeys(fromHex(vectors.vectors[0].recipient_private_keys));
  const imported = await importDecapsulationKeys(keys);
  assert.ok(!(imported.x25519Private instanceof Uint8Array) && !imported.x25519Private.extractable);
  assert.equal(imported.x25519Private.algorithm.name, "X25519");
  if ((await xwing.backend()) === "native") {
    assert.ok(!(imported.xwingSeed instanceof Uint8Array) && !imported.xwingSeed.extractable);
    assert.equal(imported.xwingSeed.algorithm.name, "MLKEM768-X25519");
  } else {
    // A copy: zero-filling it leaves the caller's seed as it was.
    assert.ok(imported.xwingSeed instanceof Uint8Array);
    assert.equal(toHex(imported.xwingSeed), toHex(keys.xwingSeed));
    assert.notEqual(imported.xwingSeed.buffer, keys.xwingSeed.buffer);
  }
});
