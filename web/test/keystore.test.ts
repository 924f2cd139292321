import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toBase64Url, toHex } from "../src/protocol/bytes.js";
import { encodeBundle, encodePrivateKeys, fingerprint } from "../src/protocol/keys.js";
import {
  changePassword,
  decodeKeystore,
  decodePreloginParams,
  derivePasswordSecrets,
  encodeKeystore,
  encodePreloginParams,
  normalizePassword,
  recoveryKeyFromWords,
  recoveryWords,
  unlockWithPassword,
  unlockWithRecoveryKey,
} from "../src/protocol/keystore.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("keystore.json");

test("keystore.json: every keystore opens with its password and its recovery key, and yields its auth secret", async () => {
  assert.ok(vectors.vectors.length > 0);
  for (const v of vectors.vectors) {
    assert.equal(toHex(normalizePassword(v.password)), v.password_bytes, v.password);
    const keystore = decodeKeystore(fromHex(v.keystore));
    assert.equal(toHex(encodeKeystore(keystore)), v.keystore);
    assert.equal(toHex(encodeBundle(keystore.publicKeys)), v.public_bundle);
    assert.equal(toHex(await fingerprint(keystore.bundle)), v.public_fingerprint);
    const unlocked = await unlockWithPassword(keystore, v.password);
    assert.equal(toHex(encodePrivateKeys(unlocked.keys)), v.private_keys);
    assert.equal(toHex(unlocked.authSecret), v.auth_secret);
    assert.equal(recoveryWords(fromHex(v.recovery_key)), v.recovery_words);
    assert.equal(toHex(recoveryKeyFromWords(v.recovery_words)), v.recovery_key);
    const recovered = await unlockWithRecoveryKey(keystore, fromHex(v.recovery_key));
    assert.equal(toHex(encodePrivateKeys(recovered)), v.private_keys);
    // Sign-in on the wire: the prelogin answer and the auth secret sent.
    assert.equal(encodePreloginParams(keystore.params), v.prelogin_argon2_params);
    const secrets = await derivePasswordSecrets(v.password, decodePreloginParams(v.prelogin_argon2_params));
    assert.equal(toBase64Url(secrets.authSecret), v.login_auth_secret);
  }
});

test("keystore.json: the keystore after a password change opens with the new password only", async () => {
  for (const v of vectors.vectors) {
    const after = decodeKeystore(fromHex(v.keystore_after_password_change));
    const before = decodeKeystore(fromHex(v.keystore));
    assert.equal(toHex(after.bundle), toHex(before.bundle));
    assert.equal(toHex(after.recoverySealed), toHex(before.recoverySealed));
    assert.notEqual(toHex(after.params.salt), toHex(before.params.salt));
    const unlocked = await unlockWithPassword(after, v.new_password);
    assert.equal(toHex(encodePrivateKeys(unlocked.keys)), v.private_keys);
    assert.equal(toHex(unlocked.authSecret), v.new_auth_secret);
    assert.equal(await refusal(() => unlockWithPassword(after, v.password)), "wrong_password");
  }
});

test("keystore: a password changed here opens here, keeps the recovery slot, and refuses the old password", async () => {
  const v = vectors.vectors[0];
  const keystore = decodeKeystore(fromHex(v.keystore));
  const { keys } = await unlockWithPassword(keystore, v.password);
  const changed = await changePassword(keystore, keys, v.new_password);
  const reread = decodeKeystore(encodeKeystore(changed.keystore));
  const unlocked = await unlockWithPassword(reread, v.new_password);
  assert.equal(toHex(encodePrivateKeys(unlocked.keys)), v.private_keys);
  assert.equal(toHex(unlocked.authSecret), toHex(changed.authSecret));
  assert.equal(toHex(reread.recoverySealed), toHex(keystore.recoverySealed));
  assert.equal(await refusal(() => unlockWithPassword(reread, v.password)), "wrong_password");
});

test("keystore.json: every refused keystore gets its identifier", async () => {
  assert.ok(vectors.invalid.length > 0);
  for (const v of vectors.invalid) {
    const got = await refusal(async () => unlockWithPassword(decodeKeystore(fromHex(v.keystore)), v.password));
    assert.equal(got, v.error, v.description);
  }
});

test("keystore: recovery words in any case and spacing are read; a wrong count, word or checksum is malformed", async () => {
  const v = vectors.vectors[0];
  const words: string[] = v.recovery_words.split(" ");
  const messy = words.map((w, i) => (i % 2 ? w.toUpperCase() : w)).join("  \n ");
  assert.equal(toHex(recoveryKeyFromWords(`  ${messy}\n`)), v.recovery_key);
  assert.equal(await refusal(() => recoveryKeyFromWords(words.slice(1).join(" "))), "malformed");
  assert.equal(await refusal(() => recoveryKeyFromWords([...words.slice(1), "notaword"].join(" "))), "malformed");
  const swapped = [...words];
  [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
  if (swapped[0] !== swapped[1]) assert.equal(await refusal(() => recoveryKeyFromWords(swapped.join(" "))), "malformed");
});

test("keystore: an empty password or one above 1024 bytes is malformed", async () => {
  assert.equal(await refusal(() => normalizePassword("")), "malformed");
  assert.equal(await refusal(() => normalizePassword("é".repeat(513))), "malformed");
  assert.equal(normalizePassword("a".repeat(1024)).length, 1024);
});
