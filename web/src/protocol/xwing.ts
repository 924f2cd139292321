/**
 * X-Wing (draft-connolly-cfrg-xwing-kem-06, PROTOCOL 6.2), by one of two backends:
 *
 * - "native": WebCrypto's `MLKEM768-X25519` where `SubtleCrypto.supports` reports it
 *   (Chromium 156): the seed imported as a non-extractable key ("raw-seed"), which is
 *   the draft's 32-byte seed, so keys are the protocol's; a holder of keys imports it
 *   once (`decapsulationKey`) and keeps only the CryptoKey;
 * - "noble": built from its parts, ML-KEM-768 from @noble/post-quantum, X25519 from
 *   WebCrypto, SHA3/SHAKE from @noble/hashes, everywhere else (Node 20, other
 *   browsers), and always for a derandomized encapsulation (vectors only), which
 *   WebCrypto does not offer. It needs the seed's bytes, so with it a holder of keys
 *   keeps them (and zero-fills them when done).
 *
 * Both refuse a ciphertext or public key whose X25519 part gives the all-zero
 * secret (PROTOCOL 6.2) with the same identifier; `useBackend` forces one (tests).
 */

import { sha3_256, shake256 } from "@noble/hashes/sha3.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";

import { concat, utf8 } from "./bytes.js";
import { ProtocolError, malformed } from "./errors.js";
import { buf, subtle } from "./primitives.js";
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

// -- backends --------------------------------------------------------------------------

export type Backend = "native" | "noble";

const NATIVE = "MLKEM768-X25519";
let forced: Backend | null = null;
let probed: Promise<boolean> | null = null;

/** Whether this platform's WebCrypto has X-Wing (asked once). */
export function nativeAvailable(): Promise<boolean> {
  probed ??= (async () => {
    const supports = (globalThis.SubtleCrypto as { supports?: (op: string, alg: string) => boolean } | undefined)?.supports;
    if (typeof supports !== "function") return false;
    try {
      return ["importKey", "encapsulateBits", "decapsulateBits"].every((op) => supports.call(globalThis.SubtleCrypto, op, NATIVE));
    } catch {
      return false;
    }
  })();
  return probed;
}

/** Forces a backend ("native" only where available), or back to the best one with null. */
export async function useBackend(backend: Backend | null): Promise<void> {
  if (backend === "native" && !(await nativeAvailable())) throw new Error("WebCrypto has no X-Wing here");
  forced = backend;
}

export async function backend(): Promise<Backend> {
  return forced ?? ((await nativeAvailable()) ? "native" : "noble");
}

/** The parts of WebCrypto's KEM interface used here, not yet in TypeScript's DOM types. */
interface KemSubtle {
  getPublicKey(key: CryptoKey, usages: string[]): Promise<CryptoKey>;
  encapsulateBits(algorithm: { name: string }, key: CryptoKey): Promise<{ sharedKey: ArrayBuffer; ciphertext: ArrayBuffer }>;
  decapsulateBits(algorithm: { name: string }, key: CryptoKey, ciphertext: BufferSource): Promise<ArrayBuffer>;
}
const kem = subtle as unknown as KemSubtle;

/** Key usages of the KEM operations, which TypeScript's KeyUsage does not list yet. */
const usages = (usage: string): KeyUsage[] => [usage as KeyUsage];

function importSeed(seed: Uint8Array): Promise<CryptoKey> {
  return subtle.importKey("raw-seed" as "raw", buf(seed), { name: NATIVE }, false, usages("decapsulateBits"));
}

function refuseSmallOrder(x25519Part: Uint8Array): void {
  if (x25519.isSmallOrder(x25519Part)) throw new ProtocolError("decryption_failed", "X25519 produced a degenerate shared secret");
}

// -- operations --------------------------------------------------------------------------

export async function publicKeyOf(seed: Uint8Array): Promise<Uint8Array> {
  if ((await backend()) === "noble") return (await expand(seed)).publicKey;
  if (seed.length !== SEED_SIZE) throw malformed(`an X-Wing private key is a ${SEED_SIZE}-byte seed`);
  const publicKey = await kem.getPublicKey(await importSeed(seed), usages("encapsulateBits"));
  return new Uint8Array(await subtle.exportKey("raw-public" as "raw", publicKey));
}

/** Encaps; `eseed` (64 bytes: ML-KEM's m, then the X25519 ephemeral key) is random unless given. */
export async function encapsulate(
  publicKey: Uint8Array,
  eseed?: Uint8Array,
): Promise<{ sharedSecret: Uint8Array; ciphertext: Uint8Array }> {
  checkPublicKey(publicKey);
  if (eseed === undefined && (await backend()) === "native") {
    refuseSmallOrder(publicKey.subarray(MLKEM_PUBLIC_KEY_SIZE));
    const key = await subtle.importKey("raw-public" as "raw", buf(publicKey), { name: NATIVE }, false, usages("encapsulateBits"));
    const { sharedKey, ciphertext } = await kem.encapsulateBits({ name: NATIVE }, key);
    return { sharedSecret: new Uint8Array(sharedKey), ciphertext: new Uint8Array(ciphertext) };
  }
  return encapsulateNoble(publicKey, eseed ?? globalThis.crypto.getRandomValues(new Uint8Array(64)));
}

async function encapsulateNoble(publicKey: Uint8Array, eseed: Uint8Array): Promise<{ sharedSecret: Uint8Array; ciphertext: Uint8Array }> {
  if (eseed.length !== 64) throw malformed("an X-Wing encapsulation seed is 64 bytes");
  const pkM = publicKey.subarray(0, MLKEM_PUBLIC_KEY_SIZE);
  const pkX = publicKey.subarray(MLKEM_PUBLIC_KEY_SIZE);
  const { cipherText: ctM, sharedSecret: ssM } = ml_kem768.encapsulate(pkM, eseed.subarray(0, 32));
  const ekX = eseed.subarray(32, 64);
  const ctX = await x25519.publicKeyOf(ekX);
  const ssX = await x25519.sharedSecret(ekX, pkX);
  return { sharedSecret: combiner(ssM, ssX, ctX, pkX), ciphertext: concat(ctM, ctX) };
}

/**
 * The seed as the key `decapsulate` takes: with the native backend, a non-extractable
 * CryptoKey, so that a holder of keys (the crypto worker) keeps no seed bytes; with
 * the noble backend, which computes from the seed itself, a copy of the seed, which
 * its holder zero-fills when done with it.
 */
export async function decapsulationKey(seed: Uint8Array): Promise<Uint8Array | CryptoKey> {
  if ((await backend()) === "noble") return seed.slice();
  if (seed.length !== SEED_SIZE) throw malformed(`an X-Wing private key is a ${SEED_SIZE}-byte seed`);
  return importSeed(seed);
}

/** Decaps with the seed, or with the CryptoKey of `decapsulationKey` (native backend only). */
export async function decapsulate(privateKey: Uint8Array | CryptoKey, ciphertext: Uint8Array): Promise<Uint8Array> {
  if (ciphertext.length !== CIPHERTEXT_SIZE) throw malformed(`an X-Wing ciphertext is ${CIPHERTEXT_SIZE} bytes`);
  if (!(privateKey instanceof Uint8Array) || (await backend()) === "native") {
    if (privateKey instanceof Uint8Array && privateKey.length !== SEED_SIZE) {
      throw malformed(`an X-Wing private key is a ${SEED_SIZE}-byte seed`);
    }
    refuseSmallOrder(ciphertext.subarray(MLKEM_CIPHERTEXT_SIZE));
    const key = privateKey instanceof Uint8Array ? await importSeed(privateKey) : privateKey;
    // Implicit rejection as in the noble path: a modified ct_M gives an unrelated secret.
    return new Uint8Array(await kem.decapsulateBits({ name: NATIVE }, key, buf(ciphertext)));
  }
  const key = await expand(privateKey);
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
