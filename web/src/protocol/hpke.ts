/**
 * HPKE base mode (RFC 9180), single-shot, with DHKEM(X25519, HKDF-SHA256) and
 * X-Wing (KEM 0x647a, draft-ietf-hpke-pq-04, PROTOCOL 6.4): a small key schedule
 * of our own over WebCrypto (HMAC-SHA256, AES-GCM, X25519).
 *
 * Why not @hpke/core with @hpke/hybridkem-x-wing: the recipient key must come from
 * the protocol's 32-byte X-Wing seed as draft-connolly-06 expands it, whereas the
 * library derives its own key pairs (another draft's DeriveKeyPair), and the
 * vectors need a derandomized Encap (ikmE), which its public API does not take. The
 * schedule is some 60 lines checked against rfc9180.json and hpke_pq_xwing.json,
 * and leaves WebCrypto doing the symmetric work with non-extractable keys.
 */

import { concat, u16, utf8 } from "./bytes.js";
import { ProtocolError, malformed } from "./errors.js";
import { aesGcmOpen, aesGcmSeal, buf, hmac, subtle } from "./primitives.js";
import * as x25519 from "./x25519.js";
import * as xwing from "./xwing.js";

export const KEM_X25519 = 0x0020;
export const KEM_XWING = 0x647a;
export const KDF_HKDF_SHA256 = 0x0001;
export const AEAD_AES_128_GCM = 0x0001;
export const AEAD_AES_256_GCM = 0x0002;
export const AEAD_CHACHA20_POLY1305 = 0x0003;

const MODE_BASE = 0x00;
const HASH_SIZE = 32;
const NONCE_SIZE = 12;
const VERSION_LABEL = utf8("HPKE-v1");

/** An AEAD of HPKE; AES-GCM is WebCrypto's, others may be supplied (tests use ChaCha20-Poly1305). */
export interface Aead {
  id: number;
  keySize: number;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** Returns null when the tag does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | null>;
}

function aesGcm(id: number, keySize: number): Aead {
  const importKey = (key: Uint8Array) => subtle.importKey("raw", buf(key), "AES-GCM", false, ["encrypt", "decrypt"]);
  return {
    id,
    keySize,
    seal: async (key, nonce, aad, plaintext) => aesGcmSeal(await importKey(key), nonce, plaintext, aad),
    open: async (key, nonce, aad, ciphertext) => aesGcmOpen(await importKey(key), nonce, ciphertext, aad),
  };
}

export const AES_128_GCM: Aead = aesGcm(AEAD_AES_128_GCM, 16);
export const AES_256_GCM: Aead = aesGcm(AEAD_AES_256_GCM, 32);

// -- HKDF-SHA256 in its two halves, which WebCrypto's HKDF does not expose apart -----

/** An empty salt is HashLen zero bytes (RFC 5869); WebCrypto refuses an empty HMAC key. */
async function extract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
  return hmac(salt.length === 0 ? new Uint8Array(HASH_SIZE) : salt, ikm);
}

async function expand(prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let block: Uint8Array = new Uint8Array(0);
  for (let i = 1, offset = 0; offset < length; i++) {
    block = await hmac(prk, concat(block, info, Uint8Array.of(i)));
    out.set(block.subarray(0, Math.min(block.length, length - offset)), offset);
    offset += block.length;
  }
  return out;
}

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Promise<Uint8Array> {
  return extract(salt, concat(VERSION_LABEL, suiteId, utf8(label), ikm));
}

function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Promise<Uint8Array> {
  return expand(prk, concat(u16(length), VERSION_LABEL, suiteId, utf8(label), info), length);
}

// -- KEMs -----------------------------------------------------------------------------

export interface Kem {
  id: number;
  encSize: number;
  /** Encap; `ikmE` derandomizes it (vectors only). */
  encap(recipientPublic: Uint8Array, ikmE?: Uint8Array): Promise<{ sharedSecret: Uint8Array; enc: Uint8Array }>;
  /** Decap, with the private key as bytes or as a non-extractable CryptoKey (x25519.ts, xwing.ts). */
  decap(enc: Uint8Array, recipientPrivate: Uint8Array | CryptoKey): Promise<Uint8Array>;
}

const DHKEM_SUITE = concat(utf8("KEM"), u16(KEM_X25519));

/** DeriveKeyPair of DHKEM(X25519) (RFC 9180 7.1.3): the private key from `ikm`. */
export async function deriveX25519PrivateKey(ikm: Uint8Array): Promise<Uint8Array> {
  const prk = await labeledExtract(DHKEM_SUITE, new Uint8Array(0), "dkp_prk", ikm);
  return labeledExpand(DHKEM_SUITE, prk, "sk", new Uint8Array(0), 32);
}

async function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Promise<Uint8Array> {
  const prk = await labeledExtract(DHKEM_SUITE, new Uint8Array(0), "eae_prk", dh);
  return labeledExpand(DHKEM_SUITE, prk, "shared_secret", kemContext, 32);
}

export const DHKEM_X25519: Kem = {
  id: KEM_X25519,
  encSize: 32,
  async encap(recipientPublic, ikmE) {
    const ephemeral = ikmE === undefined
      ? globalThis.crypto.getRandomValues(new Uint8Array(32))
      : await deriveX25519PrivateKey(ikmE);
    const enc = await x25519.publicKeyOf(ephemeral);
    const dh = await x25519.sharedSecret(ephemeral, recipientPublic);
    return { sharedSecret: await extractAndExpand(dh, concat(enc, recipientPublic)), enc };
  },
  async decap(enc, recipientPrivate) {
    if (enc.length !== 32) throw malformed("a DHKEM(X25519) enc is 32 bytes");
    const dh = await x25519.sharedSecret(recipientPrivate, enc);
    const recipientPublic = await x25519.publicKeyOf(recipientPrivate);
    return extractAndExpand(dh, concat(enc, recipientPublic));
  },
};

/** X-Wing as an HPKE KEM: its shared secret is HPKE's as it is (no ExtractAndExpand). */
export const XWING: Kem = {
  id: KEM_XWING,
  encSize: xwing.CIPHERTEXT_SIZE,
  async encap(recipientPublic, ikmE) {
    const { sharedSecret, ciphertext } = await xwing.encapsulate(recipientPublic, ikmE);
    return { sharedSecret, enc: ciphertext };
  },
  decap: (enc, recipientPrivate) => xwing.decapsulate(recipientPrivate, enc),
};

// -- key schedule and context -------------------------------------------------------

export interface Suite {
  kem: Kem;
  aead: Aead;
}

export function suiteId(suite: Suite): Uint8Array {
  return concat(utf8("HPKE"), u16(suite.kem.id), u16(KDF_HKDF_SHA256), u16(suite.aead.id));
}

export class Context {
  private sequence = 0;

  constructor(
    private readonly suite: Suite,
    readonly key: Uint8Array,
    readonly baseNonce: Uint8Array,
    readonly exporterSecret: Uint8Array,
  ) {}

  nonce(sequence: number): Uint8Array {
    const nonce = this.baseNonce.slice();
    let s = sequence;
    for (let i = NONCE_SIZE - 1; i >= 0 && s > 0; i--) {
      nonce[i]! ^= s & 0xff;
      s = Math.floor(s / 256);
    }
    return nonce;
  }

  /** Seals at `sequence` (the next one unless given: the vectors skip some). */
  async seal(aad: Uint8Array, plaintext: Uint8Array, sequence = this.sequence): Promise<Uint8Array> {
    const out = await this.suite.aead.seal(this.key, this.nonce(sequence), aad, plaintext);
    this.sequence = sequence + 1;
    return out;
  }

  async open(aad: Uint8Array, ciphertext: Uint8Array, sequence = this.sequence): Promise<Uint8Array> {
    const out = await this.suite.aead.open(this.key, this.nonce(sequence), aad, ciphertext);
    if (out === null) throw new ProtocolError("decryption_failed", "the HPKE ciphertext does not open");
    this.sequence = sequence + 1;
    return out;
  }

  export(exporterContext: Uint8Array, length: number): Promise<Uint8Array> {
    return labeledExpand(suiteId(this.suite), this.exporterSecret, "sec", exporterContext, length);
  }
}

export async function keySchedule(suite: Suite, sharedSecret: Uint8Array, info: Uint8Array): Promise<Context> {
  const id = suiteId(suite);
  const empty = new Uint8Array(0);
  const pskIdHash = await labeledExtract(id, empty, "psk_id_hash", empty);
  const infoHash = await labeledExtract(id, empty, "info_hash", info);
  const context = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = await labeledExtract(id, sharedSecret, "secret", empty);
  return new Context(
    suite,
    await labeledExpand(id, secret, "key", context, suite.aead.keySize),
    await labeledExpand(id, secret, "base_nonce", context, NONCE_SIZE),
    await labeledExpand(id, secret, "exp", context, HASH_SIZE),
  );
}

export async function setupBaseSender(
  suite: Suite,
  recipientPublic: Uint8Array,
  info: Uint8Array,
  ikmE?: Uint8Array,
): Promise<{ enc: Uint8Array; context: Context; sharedSecret: Uint8Array }> {
  const { sharedSecret, enc } = await suite.kem.encap(recipientPublic, ikmE);
  return { enc, context: await keySchedule(suite, sharedSecret, info), sharedSecret };
}

export async function setupBaseRecipient(
  suite: Suite,
  enc: Uint8Array,
  recipientPrivate: Uint8Array | CryptoKey,
  info: Uint8Array,
): Promise<Context> {
  return keySchedule(suite, await suite.kem.decap(enc, recipientPrivate), info);
}
