/**
 * The primitives of docs/PROTOCOL.md section 1, over WebCrypto (`crypto.subtle`),
 * which both Node 20 and the browsers provide; SHA-256 over a stream, which
 * WebCrypto does not offer, comes from hash-wasm with @noble/hashes as the fallback
 * where WebAssembly is unavailable.
 */

import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { createSHA256 } from "hash-wasm";

export const subtle: SubtleCrypto = globalThis.crypto.subtle;

/** A view WebCrypto accepts on every platform (an ArrayBuffer-backed Uint8Array). */
export function buf(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : new Uint8Array(data);
}

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest("SHA-256", buf(data)));
}

export async function sha512(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest("SHA-512", buf(data)));
}

/** HKDF-SHA256, extract then expand; an empty salt is 32 zero bytes (RFC 5869). */
export async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  const key = await subtle.importKey("raw", buf(ikm), "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: buf(salt), info: buf(info) },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

export async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const hmacKey = await subtle.importKey("raw", buf(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", hmacKey, buf(data)));
}

export async function importAesGcmKey(key: Uint8Array): Promise<CryptoKey> {
  return subtle.importKey("raw", buf(key), "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function aesGcmSeal(
  key: CryptoKey,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array> {
  const out = await subtle.encrypt(
    { name: "AES-GCM", iv: buf(nonce), additionalData: buf(aad), tagLength: 128 },
    key,
    buf(plaintext),
  );
  return new Uint8Array(out);
}

/** Opens, or returns null when the tag does not verify. */
export async function aesGcmOpen(
  key: CryptoKey,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array | null> {
  try {
    const out = await subtle.decrypt(
      { name: "AES-GCM", iv: buf(nonce), additionalData: buf(aad), tagLength: 128 },
      key,
      buf(sealed),
    );
    return new Uint8Array(out);
  } catch {
    return null;
  }
}

export interface IncrementalHash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** SHA-256 fed piece by piece (the content digest of a version 1 envelope, or of bytes that are none). */
export async function createStreamingSha256(): Promise<IncrementalHash> {
  try {
    const hasher = await createSHA256();
    hasher.init();
    return {
      update: (data) => void hasher.update(data),
      digest: () => hasher.digest("binary"),
    };
  } catch {
    const hasher = nobleSha256.create();
    return {
      update: (data) => void hasher.update(data),
      digest: () => hasher.digest(),
    };
  }
}
