/** Domain-separated Ed25519 signatures (docs/PROTOCOL.md section 4). */

import { concat, u8, utf8 } from "./bytes.js";
import { malformed } from "./errors.js";
import { signMessage, verifyMessage } from "./ed25519.js";

export type Purpose = "document" | "message" | "request" | "keystore-change" | "factor-change" | "key-rotation";

const DOMAIN = utf8("uhealthsec/v1/signature");
const MIN_DIGEST = 16;
const MAX_DIGEST = 64;

/** The message actually signed: always built by the verifier from what it expects. */
export function signedMessage(purpose: Purpose, digest: Uint8Array): Uint8Array {
  if (digest.length < MIN_DIGEST || digest.length > MAX_DIGEST) throw malformed("a signed digest is 16 to 64 bytes");
  const purposeBytes = utf8(purpose);
  return concat(DOMAIN, u8(0), u8(purposeBytes.length), purposeBytes, u8(digest.length), digest);
}

export function sign(privateKey: CryptoKey, purpose: Purpose, digest: Uint8Array): Promise<Uint8Array> {
  return signMessage(privateKey, signedMessage(purpose, digest));
}

/** Refuses with *invalid_public_key*, *malformed* or *invalid_signature*. */
export function verify(publicKey: Uint8Array, purpose: Purpose, digest: Uint8Array, signature: Uint8Array): Promise<void> {
  return verifyMessage(publicKey, signedMessage(purpose, digest), signature);
}
