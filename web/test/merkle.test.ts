import assert from "node:assert/strict";
import { test } from "node:test";

import fc from "fast-check";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { RootBuilder, leafHash, nodeHash, rootOf, verifyConsistency, verifyInclusion } from "../src/protocol/merkle.js";
import { consistencyProof, inclusionPath } from "./merkle_proofs.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("rfc9162.json");

test("rfc9162.json: the root of every prefix of the reference tree", async () => {
  const leaves = (vectors.leaves as string[]).map(fromHex);
  const hashes = await Promise.all(leaves.map(leafHash));
  assert.equal(vectors.roots.length, leaves.length + 1);
  for (let size = 0; size <= leaves.length; size++) {
    assert.equal(toHex(await rootOf(hashes.slice(0, size))), vectors.roots[size], `size ${size}`);
  }
});

test("the stack of subtree roots, folded right to left, is the tree hash of the list for 1 to 70 leaves", async () => {
  const builder = new RootBuilder();
  const leaves: Uint8Array[] = [];
  for (let n = 1; n <= 70; n++) {
    const leaf = await leafHash(new Uint8Array(n).fill(n));
    leaves.push(leaf);
    await builder.add(leaf);
    const bits = n.toString(2);
    assert.equal(builder.depth, bits.replaceAll("0", "").length, `n = ${n}`);
    assert.ok(builder.depth <= bits.length);
    assert.equal(toHex(await builder.root()), toHex(await rootOf(leaves)), `n = ${n}`);
  }
});

test("rfc9162.json: every inclusion proof is accepted or refused as the reference says", async () => {
  assert.ok(vectors.inclusion.length > 0);
  for (const v of vectors.inclusion) {
    const got = await refusal(() =>
      verifyInclusion(fromHex(v.leaf_hash), v.leaf_index, v.tree_size, v.proof.map(fromHex), fromHex(v.root)),
    );
    assert.equal(got, v.valid ? null : "invalid_proof", v.case);
  }
});

test("rfc9162.json: every consistency proof is accepted or refused as the reference says", async () => {
  assert.ok(vectors.consistency.length > 0);
  for (const v of vectors.consistency) {
    const got = await refusal(() =>
      verifyConsistency(v.size1, v.size2, fromHex(v.root1), fromHex(v.root2), v.proof.map(fromHex)),
    );
    assert.equal(got, v.valid ? null : "invalid_proof", v.case);
  }
});

const tree = fc
  .integer({ min: 1, max: 70 })
  .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 1, max: size })));

test("merkle property: a proof built from the definition verifies, and any flipped bit is refused", async () => {
  await fc.assert(
    fc.asyncProperty(tree, fc.nat(), async ([size, index, oldSize], flip) => {
      const hashes = await Promise.all(Array.from({ length: size }, (_, i) => leafHash(Uint8Array.of(i, size))));
      const root = await rootOf(hashes);
      const path = await inclusionPath(index, hashes);
      await verifyInclusion(hashes[index]!, index, size, path, root);
      const oldRoot = await rootOf(hashes.slice(0, oldSize));
      const proof = await consistencyProof(oldSize, hashes, true);
      await verifyConsistency(oldSize, size, oldRoot, root, proof);
      if (path.length > 0) {
        const bit = flip % (path.length * 256);
        const bad = path.map((h) => h.slice());
        bad[Math.floor(bit / 256)]![(bit % 256) >> 3]! ^= 1 << (bit & 7);
        assert.equal(await refusal(() => verifyInclusion(hashes[index]!, index, size, bad, root)), "invalid_proof");
      }
      if (proof.length > 0) {
        const bit = flip % (proof.length * 256);
        const bad = proof.map((h) => h.slice());
        bad[Math.floor(bit / 256)]![(bit % 256) >> 3]! ^= 1 << (bit & 7);
        assert.equal(await refusal(() => verifyConsistency(oldSize, size, oldRoot, root, bad)), "invalid_proof");
      }
    }),
    { numRuns: 60 },
  );
});

test("merkle: node and leaf hashes are domain-separated as RFC 9162", async () => {
  const leaf = await leafHash(new Uint8Array(0));
  assert.equal(toHex(leaf), vectors.roots[1]);
  assert.notEqual(toHex(await nodeHash(leaf, leaf)), toHex(leaf));
});
