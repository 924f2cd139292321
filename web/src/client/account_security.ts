/**
 * The signed-in account's sensitive changes, as the SDK's AuthClient makes them: a
 * second factor proven again (the step-up, docs/PROTOCOL.md "Sign-in values on the
 * wire"), the password changed (16.2), the recovery codes renewed (16.4) and the keys
 * replaced (10.6). Each change is signed with the account's key, so a copied session
 * cannot make it.
 */

import { keystoreChangeDigest, signKeystoreChange } from "../protocol/account_changes.js";
import { constantTimeEqual, toBase64Url } from "../protocol/bytes.js";
import { importSigningSeed } from "../protocol/ed25519.js";
import { encodeRotation, signRotation } from "../protocol/key_rotation.js";
import { encodeBundle, type PrivateKeys, publicKeysOf } from "../protocol/keys.js";
import { changePassword, decodeKeystore, encodeKeystore, openFormerKeys, rotateKeystore, unlockWithPassword } from "../protocol/keystore.js";
import { type SecondFactor, fetchKeystore } from "./auth.js";
import { ClientRefusal } from "./http.js";
import { type PasskeyOptions, signedChange } from "./passkeys.js";
import { passwordProblem, passwordProblemMessage, recoveryCodesIn } from "./registration.js";
import type { Session } from "./session.js";
import { Wire } from "./wire.js";

/** Options for navigator.credentials.get() to prove the step-up's factor with a passkey. */
export async function stepUpOptions(session: Session): Promise<PasskeyOptions> {
  const wire = new Wire("malformed_answer", "the passkey options");
  return wire.object(await session.json("POST", "/auth/step-up/webauthn-options", wire));
}

/**
 * Proves `proof` again: the session's access token is replaced by the one the server
 * gives, which allows sensitive actions for a few minutes.
 */
export async function stepUp(session: Session, proof: SecondFactor): Promise<void> {
  const wire = new Wire("malformed_answer", "the step-up");
  // Counted from the request, as a sign-in's token: a slow answer does not lengthen it.
  const started = Date.now();
  const answer = wire.object(await session.json("POST", "/auth/step-up", wire, { json: proof, solveProofOfWork: true }));
  session.useAccessToken(wire.string(answer, "access_token"), wire.integer(answer, "expires_in"), started);
}

/**
 * Re-seals the account's keys under `newPassword` (refused here if weak, as at
 * registration; `identity` is the person's address and name) and signs the change
 * with the key the current keystore holds. The keystore the server serves must open
 * with `current` to the keys this session unlocked (`heldBundle`): another one is
 * refused before anything is signed.
 */
export async function changeAccountPassword(session: Session, heldBundle: Uint8Array, current: string, newPassword: string, identity: string[]): Promise<void> {
  const problem = passwordProblem(newPassword, identity);
  if (problem !== null) throw new ClientRefusal("weak_password", passwordProblemMessage(problem));
  const currentBytes = await fetchKeystore(session.http, await session.accessToken());
  const keystore = decodeKeystore(currentBytes);
  // A wrong current password is the protocol's wrong_password: the page says it as such.
  const { keys, authSecret } = await unlockWithPassword(keystore, current);
  authSecret.fill(0);
  try {
    if (!constantTimeEqual(keystore.bundle, heldBundle)) {
      throw new ClientRefusal("exchange_refused", "the server served a keystore of other keys than this session's: nothing was changed; tell your security contact");
    }
    const resealed = await changePassword(keystore, keys, newPassword);
    const newBytes = encodeKeystore(resealed.keystore);
    const { id } = await session.account();
    const signer = await importSigningSeed(keys.signingSeed);
    const signature = await signKeystoreChange(signer.privateKey, await keystoreChangeDigest(id, currentBytes, newBytes, resealed.authSecret));
    const body = { auth_secret: toBase64Url(resealed.authSecret), keystore: toBase64Url(newBytes), signature: toBase64Url(signature) };
    resealed.authSecret.fill(0);
    await session.call("PUT", "/accounts/me/password", { json: body });
  } finally {
    for (const key of Object.values(keys)) key.fill(0);
  }
}

/** What a rotation made: the keys to hold from now on, the former ones (newest first) and
 * the new recovery key, shown once. */
export interface RotatedKeys {
  keys: PrivateKeys;
  former: PrivateKeys[];
  bundle: Uint8Array;
  recoveryKey: Uint8Array;
  keyVersion: number;
}

/**
 * Replaces the account's keys (PROTOCOL 10.6): new keys in a version 2 keystore that
 * keeps the former ones, sealed under the same password, and the statement the current
 * and the new signing keys sign, sent with them. The keystore the server serves must
 * open with `password` to the keys this session unlocked (`heldBundle`).
 */
export async function rotateAccountKeys(session: Session, heldBundle: Uint8Array, password: string): Promise<RotatedKeys> {
  const keystore = decodeKeystore(await fetchKeystore(session.http, await session.accessToken()));
  const { keys, authSecret } = await unlockWithPassword(keystore, password);
  authSecret.fill(0);
  try {
    if (!constantTimeEqual(keystore.bundle, heldBundle)) {
      throw new ClientRefusal("exchange_refused", "the server served a keystore of other keys than this session's: nothing was changed; tell your security contact");
    }
    const mine = (await session.myEntry()).entry;
    const rotated = await rotateKeystore(keystore, keys, mine.keyVersion, password);
    rotated.authSecret.fill(0);
    const bundle = encodeBundle(await publicKeysOf(rotated.keys));
    const next = { ...mine, keyVersion: mine.keyVersion + 1, bundle };
    const newBytes = encodeKeystore(rotated.keystore);
    const signers = await Promise.all([importSigningSeed(keys.signingSeed), importSigningSeed(rotated.keys.signingSeed)]);
    const statement = await signRotation(mine, next, newBytes, signers[0].privateKey, signers[1].privateKey);
    const body = { bundle: toBase64Url(bundle), keystore: toBase64Url(newBytes), statement: toBase64Url(encodeRotation(statement)) };
    await session.call("POST", "/keys/rotations", { json: body });
    const former = (await openFormerKeys(rotated.keystore, rotated.keys)).reverse().map((f) => f.keys);
    return { keys: rotated.keys, former, bundle, recoveryKey: rotated.recoveryKey, keyVersion: next.keyVersion };
  } finally {
    for (const key of Object.values(keys)) key.fill(0);
  }
}

/** New recovery codes (the old ones stop working), the owner's consent signed by `sign`. */
export async function renewRecoveryCodes(session: Session, sign: (digest: Uint8Array) => Promise<Uint8Array>): Promise<string[]> {
  const change = await signedChange(session, "renew-recovery-codes", new Uint8Array(0), sign);
  const wire = new Wire("malformed_answer", "the new recovery codes");
  return recoveryCodesIn(wire, await session.json("POST", "/auth/recovery-codes", wire, { json: change }));
}
