/**
 * Changes to an account that the current key signs (docs/PROTOCOL.md 16.2, 16.4
 * and 16.5): a password change (a new keystore), a change of second factors, and a
 * forgotten password's recovery.
 */

import { concat, fromHex, u8, utf8 } from "./bytes.js";
import { malformed } from "./errors.js";
import { sha256 } from "./primitives.js";
import { sign, verify } from "./signature.js";

export type FactorAction = "add-totp" | "add-passkey" | "remove-totp" | "remove-passkey" | "renew-recovery-codes" | "link-e-cps" | "unlink-e-cps";

function accountIdBytes(accountId: string): Uint8Array {
  const hex = accountId.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw malformed("an account id is a UUID");
  return fromHex(hex);
}

/** The digest a password change signs: it names the keystore replaced, the new one and the new auth secret. */
export async function keystoreChangeDigest(
  accountId: string,
  currentKeystore: Uint8Array,
  newKeystore: Uint8Array,
  newAuthSecret: Uint8Array,
): Promise<Uint8Array> {
  return sha256(
    concat(
      utf8("uhealthsec/v1/keystore-change"),
      u8(0),
      u8(1),
      accountIdBytes(accountId),
      await sha256(currentKeystore),
      await sha256(newKeystore),
      await sha256(newAuthSecret),
    ),
  );
}

/**
 * The digest a forgotten password's recovery signs (16.5), with the purpose of a
 * password change: the device never saw the keystore it replaces, so the server's
 * single-use nonce stands for it.
 */
export async function keystoreRecoveryDigest(
  accountId: string,
  nonce: Uint8Array,
  newKeystore: Uint8Array,
  newAuthSecret: Uint8Array,
): Promise<Uint8Array> {
  return sha256(
    concat(
      utf8("uhealthsec/v1/keystore-recovery"),
      u8(0),
      u8(1),
      accountIdBytes(accountId),
      await sha256(nonce),
      await sha256(newKeystore),
      await sha256(newAuthSecret),
    ),
  );
}

/** The digest a change of second factors signs: the action, its subject and the server's nonce. */
export async function factorChangeDigest(
  accountId: string,
  action: FactorAction,
  subject: Uint8Array,
  nonce: Uint8Array,
): Promise<Uint8Array> {
  const actionBytes = utf8(action);
  return sha256(
    concat(
      utf8("uhealthsec/v1/factor-change"),
      u8(0),
      u8(1),
      accountIdBytes(accountId),
      u8(actionBytes.length),
      actionBytes,
      await sha256(subject),
      await sha256(nonce),
    ),
  );
}

export const signKeystoreChange = (key: CryptoKey, digest: Uint8Array) => sign(key, "keystore-change", digest);
export const verifyKeystoreChange = (publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array) =>
  verify(publicKey, "keystore-change", digest, signature);
export const signFactorChange = (key: CryptoKey, digest: Uint8Array) => sign(key, "factor-change", digest);
export const verifyFactorChange = (publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array) =>
  verify(publicKey, "factor-change", digest, signature);
