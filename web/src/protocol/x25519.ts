/**
 * X25519 (RFC 7748) over WebCrypto, from raw 32-byte private keys as the protocol
 * stores them, or from the non-extractable CryptoKeys `importPrivateKey` makes of them.
 */

import { concat, fromHex } from "./bytes.js";
import { ProtocolError, malformed } from "./errors.js";
import { buf, subtle } from "./primitives.js";

export const X25519_KEY_SIZE = 32;

// PKCS #8 for an X25519 private key (RFC 8410): a fixed prefix, then the 32 bytes.
const PKCS8_PREFIX = fromHex("302e020100300506032b656e04220420");

export async function importPrivateKey(privateKey: Uint8Array, extractable = false): Promise<CryptoKey> {
  if (privateKey.length !== X25519_KEY_SIZE) throw malformed("an X25519 private key is 32 bytes");
  const pkcs8 = concat(PKCS8_PREFIX, privateKey);
  try {
    return await subtle.importKey("pkcs8", buf(pkcs8), { name: "X25519" }, extractable, ["deriveBits"]);
  } finally {
    pkcs8.fill(0);
  }
}

/** The base point, u = 9 (RFC 7748, 4.1). */
const BASE_POINT = Uint8Array.from({ length: X25519_KEY_SIZE }, (_, i) => (i === 0 ? 9 : 0));

/** X25519(k, 9), by a non-extractable key (given, or imported from the bytes): an export
 * would copy the private key into a JWK string, which nothing can wipe. */
export async function publicKeyOf(privateKey: Uint8Array | CryptoKey): Promise<Uint8Array> {
  return sharedSecret(privateKey, BASE_POINT);
}

/**
 * X25519(k, u). An all-zero output (a peer key of small order) is refused as
 * *decryption_failed*: no honest peer produces one (PROTOCOL 6.2).
 */
export async function sharedSecret(privateKey: Uint8Array | CryptoKey, peerPublic: Uint8Array): Promise<Uint8Array> {
  if (peerPublic.length !== X25519_KEY_SIZE) throw malformed("an X25519 public key is 32 bytes");
  const key = privateKey instanceof Uint8Array ? await importPrivateKey(privateKey) : privateKey;
  let out: Uint8Array;
  try {
    const peer = await subtle.importKey("raw", buf(peerPublic), { name: "X25519" }, false, []);
    out = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: peer }, key, 256));
  } catch {
    // WebCrypto itself refuses an all-zero result in some engines.
    throw new ProtocolError("decryption_failed", "X25519 produced a degenerate shared secret");
  }
  if (out.every((b) => b === 0)) throw new ProtocolError("decryption_failed", "X25519 produced a degenerate shared secret");
  return out;
}

const P = 2n ** 255n - 19n;
// The u-coordinates, mod p, of the points X25519 maps every private key to zero from
// (small order on the curve or its twist), as in libsodium's blocklist.
const SMALL_ORDER_U = new Set<bigint>([
  0n,
  1n,
  P - 1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
]);

/** True when X25519 with any private key and `publicKey` gives the all-zero output:
 * for code that does not see that output (WebCrypto's native X-Wing). */
export function isSmallOrder(publicKey: Uint8Array): boolean {
  if (publicKey.length !== X25519_KEY_SIZE) throw malformed("an X25519 public key is 32 bytes");
  let u = 0n;
  for (let i = X25519_KEY_SIZE - 1; i >= 0; i--) u = (u << 8n) | BigInt(publicKey[i]!);
  // RFC 7748 5: the top bit is ignored, non-canonical values are taken mod p.
  u &= (1n << 255n) - 1n;
  return SMALL_ORDER_U.has(u % P);
}
