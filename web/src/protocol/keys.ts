/** Key bundles and private key sets (docs/PROTOCOL.md section 5). */

import { concat, constantTimeEqual, utf8 } from "./bytes.js";
import { malformed, unsupported } from "./errors.js";
import { checkPublicKey as checkEd25519, importSigningSeed } from "./ed25519.js";
import { sha256 } from "./primitives.js";
import * as x25519 from "./x25519.js";
import * as xwing from "./xwing.js";

export const BUNDLE_MAGIC = utf8("UHSP");
export const BUNDLE_VERSION = 0x01;
export const BUNDLE_SIZE = 1285;
export const PRIVATE_KEYS_VERSION = 0x01;
export const PRIVATE_KEYS_SIZE = 97;

export interface PublicKeys {
  signing: Uint8Array;
  xwing: Uint8Array;
  x25519: Uint8Array;
}

/** The three private keys as stored: seeds and the raw X25519 key. */
export interface PrivateKeys {
  signingSeed: Uint8Array;
  xwingSeed: Uint8Array;
  x25519Private: Uint8Array;
}

/**
 * The two keys that unwrap document keys (6.3), as `unwrapDocumentKey` takes them:
 * the stored bytes (PrivateKeys fits), or what `importDecapsulationKeys` makes of them.
 */
export interface DecapsulationKeys {
  xwingSeed: Uint8Array | CryptoKey;
  x25519Private: Uint8Array | CryptoKey;
}

/**
 * The decapsulation keys of `keys` as non-extractable CryptoKeys where WebCrypto can
 * hold them: X25519 always; the X-Wing seed with the native backend only, a copy of
 * its bytes otherwise (xwing.ts), which the holder zero-fills. `keys` is left as it is.
 */
export async function importDecapsulationKeys(keys: PrivateKeys): Promise<DecapsulationKeys> {
  return {
    xwingSeed: await xwing.decapsulationKey(keys.xwingSeed),
    x25519Private: await x25519.importPrivateKey(keys.x25519Private),
  };
}

export function encodeBundle(keys: PublicKeys): Uint8Array {
  return concat(BUNDLE_MAGIC, Uint8Array.of(BUNDLE_VERSION), keys.signing, keys.xwing, keys.x25519);
}

/** Reads a bundle, refusing it as section 5.1 says (each key checked at the door, not at use). */
export function decodeBundle(data: Uint8Array): PublicKeys {
  if (data.length !== BUNDLE_SIZE || !constantTimeEqual(data.subarray(0, 4), BUNDLE_MAGIC)) {
    throw malformed("not a U-HealthSec public key bundle");
  }
  if (data[4] !== BUNDLE_VERSION) throw unsupported(`unsupported public key bundle version ${data[4]}`);
  const keys = {
    signing: data.slice(5, 37),
    xwing: data.slice(37, 37 + xwing.PUBLIC_KEY_SIZE),
    x25519: data.slice(37 + xwing.PUBLIC_KEY_SIZE),
  };
  checkEd25519(keys.signing);
  xwing.checkPublicKey(keys.xwing);
  return keys;
}

export function fingerprint(bundle: Uint8Array): Promise<Uint8Array> {
  return sha256(bundle);
}

export function encodePrivateKeys(keys: PrivateKeys): Uint8Array {
  return concat(Uint8Array.of(PRIVATE_KEYS_VERSION), keys.signingSeed, keys.xwingSeed, keys.x25519Private);
}

export function decodePrivateKeys(data: Uint8Array): PrivateKeys {
  if (data.length !== PRIVATE_KEYS_SIZE) throw malformed("sealed private keys have the wrong length");
  if (data[0] !== PRIVATE_KEYS_VERSION) throw unsupported(`unsupported private key set version ${data[0]}`);
  return { signingSeed: data.slice(1, 33), xwingSeed: data.slice(33, 65), x25519Private: data.slice(65, 97) };
}

/** The public keys of a private key set, re-derived (a keystore compares them with its bundle). */
export async function publicKeysOf(keys: PrivateKeys): Promise<PublicKeys> {
  return {
    signing: (await importSigningSeed(keys.signingSeed)).publicKey,
    xwing: await xwing.publicKeyOf(keys.xwingSeed),
    x25519: await x25519.publicKeyOf(keys.x25519Private),
  };
}

export function generatePrivateKeys(): PrivateKeys {
  const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));
  return { signingSeed: random(32), xwingSeed: random(32), x25519Private: random(32) };
}
