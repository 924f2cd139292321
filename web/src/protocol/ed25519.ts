/**
 * Ed25519 public keys decoded and checked as docs/PROTOCOL.md section 4.1 requires,
 * then verification by WebCrypto.
 *
 * WebCrypto (OpenSSL in Node, BoringSSL in Chromium) imports any 32 bytes as a key,
 * small-order points included, so the decoding of RFC 8032 section 5.1.3 is done
 * here in integers before a key is used; the verification equation itself is
 * WebCrypto's cofactorless one, which is the rule of section 4.1.
 */

import { concat, fromHex } from "./bytes.js";
import { ProtocolError, malformed } from "./errors.js";
import { buf, subtle } from "./primitives.js";

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = mod(-121665n * inverse(121666n));
const SQRT_MINUS_ONE = modPow(2n, (P - 1n) / 4n);

export const PUBLIC_KEY_SIZE = 32;
export const SIGNATURE_SIZE = 64;

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function modPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function inverse(a: bigint): bigint {
  return modPow(a, P - 2n);
}

function littleEndian(data: Uint8Array): bigint {
  let n = 0n;
  for (let i = data.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(data[i]!);
  return n;
}

type Point = readonly [bigint, bigint];

function decodePoint(data: Uint8Array): Point {
  const encoded = littleEndian(data);
  const xSign = encoded >> 255n;
  const y = encoded & ((1n << 255n) - 1n);
  if (y >= P) throw new ProtocolError("invalid_public_key", "the Ed25519 public key is not canonically encoded (y >= p)");
  const y2 = (y * y) % P;
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  const v3 = (v * v * v) % P;
  const v7 = (v3 * v3 * v) % P;
  let x = (u * v3 % P) * modPow(u * v7, (P - 5n) / 8n) % P;
  const vx2 = (v * x * x) % P;
  if (vx2 === mod(-u)) x = (x * SQRT_MINUS_ONE) % P;
  if ((v * x * x) % P !== u) throw new ProtocolError("invalid_public_key", "the Ed25519 public key is not a point on the curve");
  if (x === 0n && xSign === 1n) {
    throw new ProtocolError("invalid_public_key", "the Ed25519 public key is not canonically encoded (x = 0, sign 1)");
  }
  if ((x & 1n) !== xSign) x = P - x;
  return [x, y];
}

/** Doubling on the twisted Edwards curve -x^2 + y^2 = 1 + d x^2 y^2 (affine, complete). */
function double([x, y]: Point): Point {
  const xy = (x * y) % P;
  const dxy2 = (D * xy * xy) % P;
  return [mod(2n * xy * inverse(1n + dxy2)), mod((y * y + x * x) * inverse(mod(1n - dxy2)))];
}

/** Refuses a key that section 4.1 forbids: wrong length, non-canonical, off the curve, small order. */
export function checkPublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== PUBLIC_KEY_SIZE) throw malformed("an Ed25519 public key is 32 bytes");
  let point = decodePoint(publicKey);
  for (let i = 0; i < 3; i++) point = double(point);
  if (point[0] === 0n && point[1] === 1n) {
    throw new ProtocolError("invalid_public_key", "the Ed25519 public key is a point of small order");
  }
}

/**
 * Keys already checked and imported, by their bytes: the check is integer arithmetic
 * of about a millisecond, and an inbox verifies one author's key for each of its
 * documents. Bounded, the oldest forgotten first.
 */
const importedKeys = new Map<string, Promise<CryptoKey>>();
const IMPORTED_KEYS = 1024;

/** Imports a public key after checking it (section 4.1). */
export async function importPublicKey(publicKey: Uint8Array): Promise<CryptoKey> {
  const id = String.fromCharCode(...publicKey);
  const known = importedKeys.get(id);
  if (known !== undefined) return known;
  checkPublicKey(publicKey);
  const imported = subtle.importKey("raw", buf(publicKey), { name: "Ed25519" }, true, ["verify"]);
  if (importedKeys.size >= IMPORTED_KEYS) importedKeys.delete(importedKeys.keys().next().value!);
  importedKeys.set(id, imported);
  imported.catch(() => importedKeys.delete(id));
  return imported;
}

/**
 * Verifies `signature` over `message` under a checked key; refuses with
 * *invalid_signature* a signature that is not 64 bytes, has `S >= L`, or fails.
 */
export async function verifyMessage(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<void> {
  const key = await importPublicKey(publicKey);
  if (signature.length !== SIGNATURE_SIZE) throw new ProtocolError("invalid_signature", "an Ed25519 signature is 64 bytes");
  // Checked here too, so the rule holds whatever library is under WebCrypto.
  if (littleEndian(signature.subarray(32)) >= L) {
    throw new ProtocolError("invalid_signature", "the Ed25519 signature is not canonical (S >= L)");
  }
  if (!(await subtle.verify({ name: "Ed25519" }, key, buf(signature), buf(message)))) {
    throw new ProtocolError("invalid_signature", "the signature does not verify for this key and content");
  }
}

// PKCS #8 for an Ed25519 private key (RFC 8410): a fixed prefix, then the 32-byte seed.
const PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");

export interface SigningKey {
  /** Non-extractable: the seed cannot be read back out of it. */
  privateKey: CryptoKey;
  publicKey: Uint8Array;
}

/** Imports a 32-byte Ed25519 seed as a non-extractable signing key, with its public key. */
export async function importSigningSeed(seed: Uint8Array): Promise<SigningKey> {
  if (seed.length !== 32) throw malformed("an Ed25519 private key is 32 bytes");
  const pkcs8 = concat(PKCS8_PREFIX, seed);
  try {
    // WebCrypto has no way to derive a public key from a private one but JWK export,
    // which needs an extractable key: that one is dropped at once.
    const extractable = await subtle.importKey("pkcs8", buf(pkcs8), { name: "Ed25519" }, true, ["sign"]);
    const jwk = await subtle.exportKey("jwk", extractable);
    const publicKey = fromBase64Url(jwk.x ?? "");
    const privateKey = await subtle.importKey("pkcs8", buf(pkcs8), { name: "Ed25519" }, false, ["sign"]);
    return { privateKey, publicKey };
  } finally {
    pkcs8.fill(0);
  }
}

export async function signMessage(privateKey: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.sign({ name: "Ed25519" }, privateKey, buf(message)));
}

function fromBase64Url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
