import assert from "node:assert/strict";
import { test } from "node:test";

import {
  type FactorAction,
  factorChangeDigest,
  keystoreChangeDigest,
  keystoreRecoveryDigest,
  signFactorChange,
  signKeystoreChange,
  verifyFactorChange,
  verifyKeystoreChange,
} from "../src/protocol/account_changes.js";
import { fromHex, toHex } from "../src/protocol/bytes.js";
import { importSigningSeed } from "../src/protocol/ed25519.js";
import { decodePrivateKeys, encodePrivateKeys } from "../src/protocol/keys.js";
import { decodeKeystore, unlockWithPassword, unlockWithRecoveryKey } from "../src/protocol/keystore.js";
import { loadVectors, refusal } from "./vectors.js";

const keystoreChange = loadVectors("keystore_change.json");
const factorChange = loadVectors("factor_change.json");
const keystores = loadVectors("keystore.json");
const keystoreRecovery = loadVectors("keystore_recovery.json");

/** The signing key of the keystore vector whose public key is `publicKey` (the vectors share it). */
async function signerOf(publicKey: string): Promise<CryptoKey> {
  for (const v of keystores.vectors) {
    const key = await importSigningSeed(decodePrivateKeys(fromHex(v.private_keys)).signingSeed);
    if (toHex(key.publicKey) === publicKey) return key.privateKey;
  }
  throw new Error("no keystore vector holds this signing key");
}

test("keystore_change.json: the digest is reproduced, signed byte for byte, and verifies", async () => {
  assert.ok(keystoreChange.vectors.length > 0);
  for (const v of keystoreChange.vectors) {
    const digest = await keystoreChangeDigest(v.account_id, fromHex(v.current_keystore), fromHex(v.new_keystore), fromHex(v.new_auth_secret));
    assert.equal(toHex(digest), v.digest);
    assert.equal(toHex(await signKeystoreChange(await signerOf(v.signing_public_key), digest)), v.signature);
    await verifyKeystoreChange(fromHex(v.signing_public_key), digest, fromHex(v.signature));
    const other = await keystoreChangeDigest(v.account_id, fromHex(v.current_keystore), fromHex(v.new_keystore), new Uint8Array(32));
    assert.equal(await refusal(() => verifyKeystoreChange(fromHex(v.signing_public_key), other, fromHex(v.signature))), "invalid_signature");
  }
});

test("factor_change.json: every action's digest is reproduced, signed byte for byte, and verifies for that action only", async () => {
  assert.ok(factorChange.vectors.length > 0);
  for (const v of factorChange.vectors) {
    const action = v.action as FactorAction;
    const digest = await factorChangeDigest(v.account_id, action, fromHex(v.subject), fromHex(v.nonce));
    assert.equal(toHex(digest), v.digest, action);
    assert.equal(toHex(await signFactorChange(await signerOf(v.signing_public_key), digest)), v.signature, action);
    await verifyFactorChange(fromHex(v.signing_public_key), digest, fromHex(v.signature));
    assert.equal(
      await refusal(() => verifyKeystoreChange(fromHex(v.signing_public_key), digest, fromHex(v.signature))),
      "invalid_signature",
      `${action} as a keystore change`,
    );
  }
});

test("keystore_recovery.json: the words open the handed-over keystore, the new one opens with the new password, the statement is signed byte for byte", async () => {
  assert.ok(keystoreRecovery.vectors.length > 0);
  for (const v of keystoreRecovery.vectors) {
    const recovered = await unlockWithRecoveryKey(decodeKeystore(fromHex(v.recovery_keystore)), fromHex(v.recovery_key));
    const { keys, authSecret } = await unlockWithPassword(decodeKeystore(fromHex(v.new_keystore)), v.new_password);
    assert.equal(toHex(authSecret), v.new_auth_secret);
    assert.deepEqual(encodePrivateKeys(keys), encodePrivateKeys(recovered));
    const digest = await keystoreRecoveryDigest(v.account_id, fromHex(v.nonce), fromHex(v.new_keystore), fromHex(v.new_auth_secret));
    assert.equal(toHex(digest), v.digest);
    const signer = await importSigningSeed(recovered.signingSeed);
    assert.equal(toHex(signer.publicKey), v.signing_public_key);
    assert.equal(toHex(await signKeystoreChange(signer.privateKey, digest)), v.signature);
    // A statement is for its nonce only.
    const replayed = await keystoreRecoveryDigest(v.account_id, new Uint8Array(32), fromHex(v.new_keystore), fromHex(v.new_auth_secret));
    assert.equal(await refusal(() => verifyKeystoreChange(fromHex(v.signing_public_key), replayed, fromHex(v.signature))), "invalid_signature");
  }
});
