/**
 * X-Wing (draft-connolly-cfrg-xwing-kem-06, PROTOCOL 6.2): ML-KEM-768 from
 * @noble/post-quantum, X25519 from WebCrypto, SHA3/SHAKE from @noble/hashes.
 *
 * Built from its parts rather than taken whole from a library because keys must
 * come from the protocol's 32-byte seed exactly as the draft expands it, and the
 * HPKE vector needs a derandomized encapsulation.
 */

import { sha3_256, shake256 } from "@noble/hashes/sha3.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";

import { concat, utf8 } from "./bytes.js";
import { ProtocolError, malformed } from "./errors.js";
import * as x25519 from "./x25519.js";

export const SEED_SIZE = 32;
export const PUBLIC_KEY_SIZE = 1216;
export const CIPHERTEXT_SIZE = 1120;
const MLKEM_PUBLIC_KEY_SIZE = 1184;
const MLKEM_CIPHERTEXT_SIZE = 1088;
const Q = 3329;
const LABEL = Uint8Array.of(0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c); // "\.//^\"

/** FIPS 203 section 7.2: every 12-bit coefficient of the encoded vector is below q. */
export function checkMlKemPublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== MLKEM_PUBLIC_KEY_SIZE) throw malformed("an ML-KEM-768 public key is 1184 bytes");
  for (let i = 0; i < 1152; i += 3) {
    const b0 = publicKey[i]!;
    const b1 = publicKey[i + 1]!;
    const b2 = publicKey[i + 2]!;
    if ((b0 | ((b1 & 0x0f) << 8)) >= Q || ((b1 >> 4) | (b2 << 4)) >= Q) {
      throw malformed("invalid ML-KEM-768 public key in X-Wing key (a coefficient is not below q)");
    }
  }
}

export function checkPublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== PUBLIC_KEY_SIZE) throw malformed(`an X-Wing public key is ${PUBLIC_KEY_SIZE} bytes`);
  checkMlKemPublicKey(publicKey.subarray(0, MLKEM_PUBLIC_KEY_SIZE));
}

function combiner(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Uint8Array {
  return sha3_256(concat(ssM, ssX, ctX, pkX, LABEL));
}

export interface ExpandedKey {
  mlkemSecret: Uint8Array;
  x25519Private: Uint8Array;
  publicKey: Uint8Array;
}

export async function expand(seed: Uint8Array): Promise<ExpandedKey> {
  if (seed.length !== SEED_SIZE) throw malformed(`an X-Wing private key is a ${SEED_SIZE}-byte seed`);
  const expanded = shake256(seed, { dkLen: 96 });
  const { publicKey: pkM, secretKey: mlkemSecret } = ml_kem768.keygen(expanded.subarray(0, 64));
  const x25519Private = expanded.slice(64, 96);
  expanded.fill(0);
  const publicKey = concat(pkM, await x25519.publicKeyOf(x25519Private));
  return { mlkemSecret, x25519Private, publicKey };
}

export async function publicKeyOf(seed: Uint8Array): Promise<Uint8Array> {
  return (await expand(seed)).publicKey;
}

/** Encaps; `eseed` (64 bytes: ML-KEM's m, then the X25519 ephemeral key) is random unless given. */
export async function encapsulate(
  publicKey: Uint8Array,
  eseed: Uint8Array = globalThis.crypto.getRandomValues(new Uint8Array(64)),
): Promise<{ sharedSecret: Uint8Array; ciphertext: Uint8Array }> {
  checkPublicKey(publicKey);
  if (eseed.length !== 64) throw malformed("an X-Wing encapsulation seed is 64 bytes");
  const pkM = publicKey.subarray(0, MLKEM_PUBLIC_KEY_SIZE);
  const pkX = publicKey.subarray(MLKEM_PUBLIC_KEY_SIZE);
  const { cipherText: ctM, sharedSecret: ssM } = ml_kem768.encapsulate(pkM, eseed.subarray(0, 32));
  const ekX = eseed.subarray(32, 64);
  const ctX = await x25519.publicKeyOf(ekX);
  const ssX = await x25519.sharedSecret(ekX, pkX);
  return { sharedSecret: combiner(ssM, ssX, ctX, pkX), ciphertext: concat(ctM, ctX) };
}

export async function decapsulate(seed: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  if (ciphertext.length !== CIPHERTEXT_SIZE) throw malformed(`an X-Wing ciphertext is ${CIPHERTEXT_SIZE} bytes`);
  const key = await expand(seed);
  try {
    let ssM: Uint8Array;
    try {
      // Implicit rejection: a modified ct_M gives an unrelated secret, not an error.
      ssM = ml_kem768.decapsulate(ciphertext.subarray(0, MLKEM_CIPHERTEXT_SIZE), key.mlkemSecret);
    } catch {
      throw new ProtocolError("decryption_failed", "ML-KEM-768 decapsulation failed");
    }
    const ctX = ciphertext.subarray(MLKEM_CIPHERTEXT_SIZE);
    const ssX = await x25519.sharedSecret(key.x25519Private, ctX);
    return combiner(ssM, ssX, ctX, key.publicKey.subarray(MLKEM_PUBLIC_KEY_SIZE));
  } finally {
    key.mlkemSecret.fill(0);
    key.x25519Private.fill(0);
  }
}

/** HPKE DeriveKeyPair for KEM 0x647a (draft-ietf-hpke-pq-04): only to reproduce its vector. */
export function deriveSeed(ikm: Uint8Array): Uint8Array {
  const labeled = concat(
    ikm,
    utf8("HPKE-v1"),
    utf8("KEM"),
    Uint8Array.of(0x64, 0x7a),
    Uint8Array.of(0x00, 13),
    utf8("DeriveKeyPair"),
    Uint8Array.of(0x00, 32),
  );
  return shake256(labeled, { dkLen: 32 });
}
