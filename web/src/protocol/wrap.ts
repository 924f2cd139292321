/**
 * Wrapped document keys (docs/PROTOCOL.md section 6.3): version 2 written,
 * versions 2 and 1 read, each with the HYBRID (X-Wing) or CLASSICAL (X25519) suite.
 */

import { concat, readU16, u16, u8, utf8 } from "./bytes.js";
import { ProtocolError, malformed, unsupported } from "./errors.js";
import { AES_256_GCM, DHKEM_X25519, KDF_HKDF_SHA256, type Suite, XWING, setupBaseRecipient, setupBaseSender } from "./hpke.js";
import type { DecapsulationKeys, PublicKeys } from "./keys.js";
import { sha256 } from "./primitives.js";
import * as x25519 from "./x25519.js";

export type SuiteName = "HYBRID" | "CLASSICAL";

export const WRAP_VERSION = 0x02;
export const WRAP_VERSION_V1 = 0x01;
export const PREFIX_SIZE = 7;
const ENVELOPE_HEADER_SIZE = 78;
const DOCUMENT_KEY_SIZE = 32;
const TAG_SIZE = 16;

// A Map, not an object: a name such as "constructor" or "__proto__" finds nothing.
const SUITES = new Map<SuiteName, Suite>([
  ["HYBRID", { kem: XWING, aead: AES_256_GCM }],
  ["CLASSICAL", { kem: DHKEM_X25519, aead: AES_256_GCM }],
]);

const INFO_LABELS = new Map<number, Uint8Array>([
  [WRAP_VERSION_V1, utf8("uhealthsec/v1/document-key")],
  [WRAP_VERSION, utf8("uhealthsec/v2/document-key")],
]);

/** The suite named `name`, refused as *malformed* unless it is one of section 6.3's. */
function suiteOf(name: unknown): Suite {
  const suite = SUITES.get(name as SuiteName);
  if (suite === undefined) throw malformed("not a suite for document keys: HYBRID or CLASSICAL");
  return suite;
}

/** `name` as a suite name, refused as *malformed* unless it is one of section 6.3's. */
export function checkSuite(name: unknown): SuiteName {
  suiteOf(name);
  return name as SuiteName;
}

/** The recipient's public key that `suite` encrypts to. */
function recipientKeyFor(recipient: PublicKeys, suite: SuiteName): Uint8Array {
  return suite === "HYBRID" ? recipient.xwing : recipient.x25519;
}

/**
 * Refuses, as *malformed*, a recipient whose X25519 key for `suite` (the classical key,
 * or X-Wing's X25519 part) is of small order: encrypting to it gives an all-zero secret.
 * A bundle holding one is read (5.1, as Python does); only wrapping to it is refused,
 * and a sealer checks every recipient with this before reading the document.
 */
export function checkRecipient(recipient: PublicKeys, suite: SuiteName): void {
  const key = recipientKeyFor(recipient, checkSuite(suite));
  if (x25519.isSmallOrder(key.subarray(key.length - x25519.X25519_KEY_SIZE))) {
    throw malformed("the recipient's public key cannot be encrypted to");
  }
}

export function wrappedKeySize(suite: SuiteName): number {
  return PREFIX_SIZE + suiteOf(suite).kem.encSize + DOCUMENT_KEY_SIZE + TAG_SIZE;
}

function prefixOf(version: number, suite: SuiteName): Uint8Array {
  const { kem, aead } = suiteOf(suite);
  return concat(u8(version), u16(kem.id), u16(KDF_HKDF_SHA256), u16(aead.id));
}

/** `info` by the rule of the prefix's version: version 2 binds the prefix, version 1 does not. */
async function infoFor(prefix: Uint8Array, envelopeHeader: Uint8Array): Promise<Uint8Array> {
  if (envelopeHeader.length !== ENVELOPE_HEADER_SIZE) throw malformed("an envelope header is required to bind the wrapped key");
  const version = prefix[0]!;
  const bound = version === WRAP_VERSION ? prefix : new Uint8Array(0);
  return concat(INFO_LABELS.get(version)!, u8(0), bound, await sha256(envelopeHeader));
}

/** The version and suite a wrapped key's prefix names, and its length checked (no key needed). */
export function checkWrappedKey(wrapped: Uint8Array): { version: number; suite: SuiteName } {
  if (wrapped.length < PREFIX_SIZE) throw malformed("wrapped key too short");
  const version = wrapped[0]!;
  if (!INFO_LABELS.has(version)) throw unsupported(`unsupported wrapped key version ${version}`);
  const kemId = readU16(wrapped, 1);
  const kdfId = readU16(wrapped, 3);
  const aeadId = readU16(wrapped, 5);
  const suite = [...SUITES].find(([, { kem, aead }]) => kem.id === kemId && kdfId === KDF_HKDF_SHA256 && aead.id === aeadId)?.[0];
  if (suite === undefined) throw unsupported("this HPKE suite is not accepted for document keys");
  if (wrapped.length !== wrappedKeySize(suite)) throw malformed("wrapped key has the wrong length for its suite");
  return { version, suite };
}

/** Wraps `documentKey` for `recipient` as a version 2 wrapped key; `ikmE` only for vectors. */
export async function wrapDocumentKey(
  documentKey: Uint8Array,
  recipient: PublicKeys,
  envelopeHeader: Uint8Array,
  suite: SuiteName = "HYBRID",
  ikmE?: Uint8Array,
): Promise<Uint8Array> {
  if (documentKey.length !== DOCUMENT_KEY_SIZE) throw malformed(`a document key is ${DOCUMENT_KEY_SIZE} bytes`);
  checkRecipient(recipient, suite);
  const prefix = prefixOf(WRAP_VERSION, suite);
  const info = await infoFor(prefix, envelopeHeader);
  let sender;
  try {
    sender = await setupBaseSender(suiteOf(suite), recipientKeyFor(recipient, suite), info, ikmE);
  } catch (error) {
    // A recipient X25519 key of small order gives an all-zero secret.
    if (error instanceof ProtocolError && error.identifier === "decryption_failed") {
      throw malformed("the recipient's public key cannot be encrypted to");
    }
    throw error;
  }
  return concat(prefix, sender.enc, await sender.context.seal(new Uint8Array(0), documentKey));
}

/**
 * Opens a wrapped key of version 2 or 1 for `keys` (bytes as stored, or CryptoKeys)
 * and the envelope header it belongs to.
 */
export async function unwrapDocumentKey(wrapped: Uint8Array, keys: DecapsulationKeys, envelopeHeader: Uint8Array): Promise<Uint8Array> {
  const { version, suite } = checkWrappedKey(wrapped);
  const prefix = wrapped.subarray(0, PREFIX_SIZE);
  const info = await infoFor(prefix, envelopeHeader);
  const encEnd = PREFIX_SIZE + suiteOf(suite).kem.encSize;
  const recipientKey = suite === "HYBRID" ? keys.xwingSeed : keys.x25519Private;
  try {
    const context = await setupBaseRecipient(suiteOf(suite), wrapped.subarray(PREFIX_SIZE, encEnd), recipientKey, info);
    // Version 1 bound the prefix as the AAD; version 2 binds it through info.
    const aad = version === WRAP_VERSION_V1 ? prefix : new Uint8Array(0);
    return await context.open(aad, wrapped.subarray(encEnd));
  } catch (error) {
    if (error instanceof ProtocolError && error.identifier === "decryption_failed") {
      // One error for every failure of Decap and Open (6.3), whatever failed.
      throw new ProtocolError(
        "decryption_failed",
        "the document key could not be unwrapped: it is not for this recipient, not for this document, or it was modified",
      );
    }
    throw error;
  }
}

/** Version 1, which no writer produces any more: only to reproduce the stored vectors. */
export async function sealVersion1ForVectors(
  documentKey: Uint8Array,
  recipient: PublicKeys,
  envelopeHeader: Uint8Array,
  suite: SuiteName,
  ikmE: Uint8Array,
): Promise<Uint8Array> {
  const prefix = prefixOf(WRAP_VERSION_V1, suite);
  const info = await infoFor(prefix, envelopeHeader);
  const sender = await setupBaseSender(suiteOf(suite), recipientKeyFor(recipient, suite), info, ikmE);
  return concat(prefix, sender.enc, await sender.context.seal(prefix, documentKey));
}
