import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import {
  decodeCommitment,
  decodeEntry,
  decodeMapValue,
  encodeCommitment,
  encodeEntry,
  encodeMapValue,
  mapKey,
  pairSafetyNumber,
  safetyNumber,
  verifyMapProof,
} from "../src/protocol/directory.js";
import { leafHash } from "../src/protocol/merkle.js";
import { loadVectors, refusal } from "./vectors.js";

const exchange = loadVectors("exchange.json");
const accountMap = loadVectors("account_map.json");

const proofOf = (p: any) => ({ depth: p.depth, present: fromHex(p.present), siblings: p.siblings.map(fromHex) });

test("exchange.json: every directory entry is encoded byte for byte, with its leaf hash and safety number", async () => {
  assert.ok(exchange.directory_entries.length > 0);
  for (const v of exchange.directory_entries) {
    const entry = { accountId: v.account_id, keyVersion: v.key_version, kind: v.kind, email: v.email, bundle: fromHex(v.bundle) };
    assert.equal(toHex(encodeEntry(entry)), v.encoded, v.email);
    assert.deepEqual(decodeEntry(fromHex(v.encoded)), entry, v.email);
    assert.equal(toHex(await leafHash(fromHex(v.encoded))), v.leaf_hash, v.email);
    assert.equal(await safetyNumber(entry.bundle, entry.email), v.safety_number, v.email);
  }
});

test("exchange.json: both people of a pair compute the same safety number", async () => {
  assert.ok(exchange.pair_safety_numbers.length > 0);
  for (const v of exchange.pair_safety_numbers) {
    const [one, other] = v.emails.map((email: string) => {
      const found = exchange.directory_entries.find((e: any) => e.email === email);
      return { email, bundle: fromHex(found.bundle) };
    });
    assert.equal(await pairSafetyNumber(one, other), v.safety_number);
    assert.equal(await pairSafetyNumber(other, one), v.safety_number);
  }
});

test("account_map.json: every account's key, value and proof lead to the committed root", async () => {
  const commitment = decodeCommitment(fromHex(accountMap.commitment));
  assert.equal(toHex(commitment.root), accountMap.root);
  assert.equal(toHex(encodeCommitment(commitment)), accountMap.commitment);
  assert.ok(accountMap.entries.length > 0);
  for (const v of accountMap.entries) {
    const key = await mapKey(v.account_id);
    assert.equal(toHex(key), v.key, v.account_id);
    assert.equal(toHex(encodeMapValue(decodeMapValue(fromHex(v.value)))), v.value);
    await verifyMapProof(commitment.root, key, fromHex(v.value), proofOf(v.proof));
  }
});

test("account_map.json: every refused proof is refused", async () => {
  const root = fromHex(accountMap.root);
  assert.ok(accountMap.invalid.length > 0);
  for (const v of accountMap.invalid) {
    const got = await refusal(async () => verifyMapProof(root, await mapKey(v.account_id), fromHex(v.value), proofOf(v.proof)));
    assert.equal(got, "invalid_proof", v.description);
  }
});
