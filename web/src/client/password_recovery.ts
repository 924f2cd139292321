/**
 * A forgotten password replaced with the 24 recovery words (docs/PROTOCOL.md 16.5), as
 * the SDK's PasswordRecoveryCalls does (client/password_recovery.py): a code mailed to
 * the address, that code and a second factor proven, then, on this device only, the
 * keystore the server hands over opened with the recovery key, re-sealed under the new
 * password and signed with the signing key it holds. Wrong words fail here and never
 * reach the server, nor does the new password; the server cannot open either slot.
 */

import { keystoreRecoveryDigest, signKeystoreChange } from "../protocol/account_changes.js";
import { toBase64Url } from "../protocol/bytes.js";
import { importSigningSeed } from "../protocol/ed25519.js";
import { ProtocolError } from "../protocol/errors.js";
import type { PrivateKeys } from "../protocol/keys.js";
import { type Keystore, changePassword, decodeKeystore, encodeKeystore, recoveryKeyFromWords, unlockWithRecoveryKey } from "../protocol/keystore.js";
import type { SecondFactor } from "./auth.js";
import { ApiError, ClientRefusal, type Http, checkResponse } from "./http.js";
import { passwordProblem, passwordProblemMessage } from "./registration.js";
import { Wire, jsonOf } from "./wire.js";

/** A recovery whose code and second factor are proven: what the keys are re-sealed from. */
export interface ProvenRecovery {
  email: string;
  accountId: string;
  nonce: Uint8Array;
  /** The account's keystore with its password slot zeroed: only the recovery key opens it. */
  keystore: Keystore;
}

/** Has a one-time code mailed to the owner of `email` (the server answers alike for any address). */
export async function startPasswordRecovery(http: Http, email: string): Promise<void> {
  await checkResponse(await http.postWithProof("/accounts/password-recoveries", { email }));
}

/**
 * The mailed `code` and a second factor proven. The server answers a wrong, expired or
 * used code 400 and a wrong factor 401 (16.5): each is said as what it is.
 */
export async function provePasswordRecovery(http: Http, email: string, code: string, secondFactor: SecondFactor): Promise<ProvenRecovery> {
  const wire = new Wire("malformed_answer", "the recovery");
  let answer: Response;
  try {
    answer = await checkResponse(await http.postWithProof("/accounts/password-recoveries/proof", { email, code, second_factor: secondFactor }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) throw new ClientRefusal("recovery_code_refused", "the mailed code is wrong, expired or was already used");
    if (error instanceof ApiError && error.status === 401) throw new ClientRefusal("recovery_factor_refused", "the second factor was not accepted");
    throw error;
  }
  const proven = wire.object(await jsonOf(answer, wire));
  let keystore: Keystore;
  try {
    keystore = decodeKeystore(wire.bytes(proven, "recovery_keystore"));
  } catch (error) {
    if (error instanceof ProtocolError) throw wire.refuse("holds no keystore");
    throw error;
  }
  return { email, accountId: wire.uuid(proven, "account_id"), nonce: wire.bytes(proven, "nonce", 32), keystore };
}

/** The keys the words open, or a refusal that says the words are wrong (not the password). */
async function openWithWords(keystore: Keystore, words: string): Promise<PrivateKeys> {
  let recoveryKey: Uint8Array | null = null;
  try {
    recoveryKey = recoveryKeyFromWords(words);
    return await unlockWithRecoveryKey(keystore, recoveryKey);
  } catch (error) {
    if (error instanceof ProtocolError && (error.identifier === "malformed" || error.identifier === "wrong_password")) {
      throw new ClientRefusal("wrong_recovery_words", "these recovery words do not open this account's keys");
    }
    throw error;
  } finally {
    recoveryKey?.fill(0);
  }
}

/**
 * Opens `recovery`'s keystore with the 24 `words`, re-seals the keys under
 * `newPassword` (refused here if weak, as at registration; `identity` is the person's
 * address and name), signs the statement with the signing key opened, and sends it.
 * The server then ends every session of the account and mails its owner.
 */
export async function finishPasswordRecovery(http: Http, recovery: ProvenRecovery, words: string, newPassword: string, identity: string[]): Promise<void> {
  const problem = passwordProblem(newPassword, identity);
  if (problem !== null) throw new ClientRefusal("weak_password", passwordProblemMessage(problem));
  const keys = await openWithWords(recovery.keystore, words);
  try {
    const resealed = await changePassword(recovery.keystore, keys, newPassword);
    const keystore = encodeKeystore(resealed.keystore);
    const signer = await importSigningSeed(keys.signingSeed);
    const digest = await keystoreRecoveryDigest(recovery.accountId, recovery.nonce, keystore, resealed.authSecret);
    const signature = await signKeystoreChange(signer.privateKey, digest);
    const body = {
      account_id: recovery.accountId,
      nonce: toBase64Url(recovery.nonce),
      auth_secret: toBase64Url(resealed.authSecret),
      keystore: toBase64Url(keystore),
      signature: toBase64Url(signature),
    };
    resealed.authSecret.fill(0);
    await http.request("POST", "/accounts/password-recoveries/completion", { json: body });
  } finally {
    for (const key of Object.values(keys)) key.fill(0);
  }
}
