import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import {
  COSIGNATURE_ED25519,
  cosignatureLine,
  cosignatureMessage,
  noteCosignatures,
  openCheckpoint,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  verifierKey,
  verifyCosignature,
} from "../src/protocol/checkpoint.js";
import { importSigningSeed } from "../src/protocol/ed25519.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("checkpoint.json");

test("checkpoint.json: the log's verifier key names its key", async () => {
  const parsed = await parseVerifierKey(vectors.log_verifier_key);
  assert.equal(parsed.name, vectors.log_origin);
  assert.equal(toHex(parsed.key), vectors.log_public_key);
  assert.equal(await verifierKey(vectors.log_origin, fromHex(vectors.log_public_key)), vectors.log_verifier_key);
});

test("checkpoint.json: every checkpoint is signed byte for byte and opens", async () => {
  const log = await importSigningSeed(fromHex(vectors.log_private_seed));
  assert.equal(toHex(log.publicKey), vectors.log_public_key);
  assert.ok(vectors.checkpoints.length > 0);
  for (const v of vectors.checkpoints) {
    const checkpoint = { origin: vectors.log_origin, size: BigInt(v.size), root: fromHex(v.root) };
    assert.equal(await signCheckpoint(checkpoint, log.privateKey, log.publicKey), v.note, `size ${v.size}`);
    const opened = await openCheckpoint(v.note, vectors.log_origin, log.publicKey);
    assert.equal(opened.size, BigInt(v.size));
    assert.equal(toHex(opened.root), v.root);
  }
});

test("checkpoint.json: the cosigned checkpoint opens, and its witness line verifies", async () => {
  const c = vectors.cosignature;
  const witness = await parseVerifierKey(c.witness_verifier_key, COSIGNATURE_ED25519);
  assert.equal(witness.name, c.witness_name);
  assert.equal(toHex(witness.key), c.witness_public_key);
  const checkpoint = await openCheckpoint(c.note, vectors.log_origin, fromHex(vectors.log_public_key));
  const timestamp = BigInt(c.timestamp);
  assert.equal(new TextDecoder().decode(cosignatureMessage(checkpoint, timestamp)), c.signed_message);
  const found = await noteCosignatures(c.note, c.witness_name, witness.key);
  assert.equal(found.length, 1);
  assert.equal(found[0]!.timestamp, timestamp);
  await verifyCosignature(checkpoint, witness.key, timestamp, found[0]!.signature);
  const line = await cosignatureLine(c.witness_name, witness.key, timestamp, found[0]!.signature);
  assert.ok(c.note.endsWith(line));
  const other = { ...checkpoint, size: checkpoint.size + 1n };
  assert.equal(await refusal(() => verifyCosignature(other, witness.key, timestamp, found[0]!.signature)), "invalid_signature");
});

test("checkpoint.json: the Go implementation's example note is reproduced and opens", async () => {
  const r = vectors.reference_note;
  const signer = parseSignerKey(r.signer_key);
  const key = await importSigningSeed(signer.seed);
  const verifier = await parseVerifierKey(r.verifier_key);
  assert.equal(toHex(key.publicKey), toHex(verifier.key));
  assert.equal(await signNote(r.text, signer.name, key.privateKey, key.publicKey), r.note);
  assert.equal(await openNote(r.note, verifier.name, verifier.key), r.text);
});

test("checkpoint.json: every refused note is refused with its identifier", async () => {
  assert.ok(vectors.refused_checkpoints.length > 0);
  for (const v of vectors.refused_checkpoints) {
    const got = await refusal(() => openCheckpoint(v.note, vectors.log_origin, fromHex(vectors.log_public_key)));
    assert.equal(got, v.error, v.description);
  }
});
