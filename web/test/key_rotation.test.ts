import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { decodeEntry, safetyNumber } from "../src/protocol/directory.js";
import { decodeRotation, encodeRotation, rotationDigest, verifyChain, verifyRotation } from "../src/protocol/key_rotation.js";
import { encodeBundle, encodePrivateKeys } from "../src/protocol/keys.js";
import { changePassword, decodeKeystore, encodeKeystore, openFormerKeys, unlockWithPassword, unlockWithRecoveryKey } from "../src/protocol/keystore.js";
import { leafHash } from "../src/protocol/merkle.js";
import { loadVectors, refusal } from "./vectors.js";

const rotation = loadVectors("key_rotation.json");
const keystores = loadVectors("keystore.json");

const leaves = (): Uint8Array[] => rotation.entries.map((e: { leaf: string }) => fromHex(e.leaf));
const statements = (): (Uint8Array | null)[] => [null, ...rotation.rotations.map((r: { statement: string }) => fromHex(r.statement))];

test("key_rotation.json: the chain verifies, each statement decodes, encodes and verifies as written", async () => {
  const entries = await verifyChain(leaves(), statements());
  assert.deepEqual(
    entries.map((e) => e.keyVersion),
    [1, 2, 3],
  );
  for (const [i, e] of entries.entries()) {
    const vector = rotation.entries[i];
    assert.equal(e.accountId, rotation.account_id);
    assert.equal(toHex(await leafHash(leaves()[i]!)), vector.leaf_hash);
    assert.equal(await safetyNumber(e.bundle, e.email), vector.safety_number);
  }
  for (const [i, r] of rotation.rotations.entries()) {
    const statement = decodeRotation(fromHex(r.statement));
    assert.equal(toHex(encodeRotation(statement)), r.statement);
    assert.equal(toHex(await rotationDigest(statement)), r.digest);
    await verifyRotation(statement, decodeEntry(leaves()[i]!), decodeEntry(leaves()[i + 1]!));
  }
});

test("key_rotation.json: every refused chain gets its identifier", async () => {
  assert.ok(rotation.invalid_chains.length > 0);
  for (const v of rotation.invalid_chains) {
    const got = await refusal(() =>
      verifyChain(
        v.leaves.map((leaf: string) => fromHex(leaf)),
        v.statements.map((s: string | null) => (s === null ? null : fromHex(s))),
      ),
    );
    assert.equal(got, v.error, v.description);
  }
});

test("keystore.json: version 2 keystores open with the password and the recovery key, former keys and all", async () => {
  assert.ok(keystores.vectors_v2.length > 0);
  for (const v of keystores.vectors_v2) {
    const keystore = decodeKeystore(fromHex(v.keystore));
    assert.equal(toHex(encodeKeystore(keystore)), v.keystore);
    assert.equal(toHex(encodeBundle(keystore.publicKeys)), v.public_bundle);
    assert.equal(keystore.former?.currentVersion, v.key_version);
    const expected = v.former_keys.map((f: { key_version: number; private_keys: string }) => [f.key_version, f.private_keys]);
    const { keys, authSecret } = await unlockWithPassword(keystore, v.password);
    assert.equal(toHex(encodePrivateKeys(keys)), v.private_keys);
    assert.equal(toHex(authSecret), v.auth_secret);
    const recovered = await unlockWithRecoveryKey(keystore, fromHex(v.recovery_key));
    for (const current of [keys, recovered]) {
      const former = await openFormerKeys(keystore, current);
      assert.deepEqual(
        former.map((f) => [f.keyVersion, toHex(encodePrivateKeys(f.keys))]),
        expected,
      );
    }
    // A password change keeps the former keys as they are.
    const changed = decodeKeystore(encodeKeystore((await changePassword(keystore, keys, v.new_password)).keystore));
    assert.equal(toHex(changed.former!.sealed), toHex(keystore.former!.sealed));
    const reopened = await unlockWithPassword(changed, v.new_password);
    assert.equal((await openFormerKeys(changed, reopened.keys)).length, expected.length);
    const stored = decodeKeystore(fromHex(v.keystore_after_password_change));
    assert.equal(toHex(encodePrivateKeys((await unlockWithPassword(stored, v.new_password)).keys)), v.private_keys);
  }
});

test("keystore.json: every refused version 2 keystore gets its identifier", async () => {
  assert.ok(keystores.invalid_v2.length > 0);
  for (const v of keystores.invalid_v2) {
    const got = await refusal(async () => unlockWithPassword(decodeKeystore(fromHex(v.keystore)), v.password));
    assert.equal(got, v.error, v.description);
  }
});

test("worker: unlocked with a version 2 keystore, it opens what was wrapped to a former key set", async () => {
  const { CryptoService } = await import("../src/worker/service.js");
  const { bytesSink, bytesSource } = await import("../src/protocol/streams.js");
  const before = new CryptoService();
  const v1 = keystores.vectors[0];
  const unlocked = await before.handle("unlockWithPassword", { keystore: fromHex(v1.keystore), password: v1.password });
  const plaintext = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff);
  const sealed = bytesSink();
  const seal = await before.handle("seal", { source: bytesSource(plaintext, 999), sink: sealed.sink, recipients: [unlocked.bundle], chunkLog2: 12 });
  for (const v of keystores.vectors_v2) {
    const after = new CryptoService();
    await after.handle("unlockWithPassword", { keystore: fromHex(v.keystore), password: v.password });
    const opened = bytesSink();
    await after.handle("open", { source: bytesSource(sealed.bytes(), 777), sink: opened.sink, wrappedKey: seal.wrappedKeys[0]! });
    assert.equal(toHex(opened.bytes()), toHex(plaintext), `key version ${v.key_version}`);
  }
  // A keystore without that key set among its former ones: one error, as for any stranger.
  const stranger = new CryptoService();
  const other = keystores.vectors[1];
  await stranger.handle("unlockWithPassword", { keystore: fromHex(other.keystore), password: other.password });
  const refused = await refusal(() => stranger.handle("open", { source: bytesSource(sealed.bytes(), 777), sink: bytesSink().sink, wrappedKey: seal.wrappedKeys[0]! }));
  assert.equal(refused, "decryption_failed");
});
