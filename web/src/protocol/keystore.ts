/**
 * The keystore (docs/PROTOCOL.md section 7): the private key set sealed under an
 * Argon2id password key and under a recovery key shown as 24 BIP-39 words.
 *
 * Version 2 (7.5) also holds, after key rotations, the former private key sets,
 * sealed under a key derived from the current set.
 *
 * Argon2id runs in hash-wasm (WebAssembly), with @noble/hashes where WebAssembly
 * is unavailable: a page's CSP must allow 'wasm-unsafe-eval' for the fast path.
 */

import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { entropyToMnemonic, mnemonicToEntropy } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { argon2id as wasmArgon2id } from "hash-wasm";

import { concat, constantTimeEqual, fromBase64Url, readU16, readU32, toBase64Url, u16, u32, u8, utf8 } from "./bytes.js";
import { ProtocolError, malformed, unsupported } from "./errors.js";
import {
  BUNDLE_SIZE,
  type PrivateKeys,
  type PublicKeys,
  decodeBundle,
  decodePrivateKeys,
  encodeBundle,
  encodePrivateKeys,
  generatePrivateKeys,
  publicKeysOf,
} from "./keys.js";
import { aesGcmOpen, aesGcmSeal, hkdf, importAesGcmKey } from "./primitives.js";

export const MAGIC = utf8("UHSK");
export const VERSION = 0x01;
export const VERSION_FORMER_KEYS = 0x02;
export const KEYSTORE_SIZE = 1568;
export const SLOT_PASSWORD = 0x01;
export const SLOT_RECOVERY = 0x02;
export const SLOT_FORMER_KEYS = 0x03;
export const MAX_FORMER_KEY_SETS = 64;
const FORMER_HEADER_SIZE = 7;
const FORMER_ITEM_SIZE = 4 + 97;
export const KDF_ARGON2ID = 0x01;
export const SALT_SIZE = 16;
export const RECOVERY_KEY_SIZE = 32;
const NONCE_SIZE = 12;
const SEALED_SIZE = 97 + 16;
const PARAMS_SIZE = 26;
const MAX_PASSWORD_BYTES = 1024;

/** Floor and budget of section 7.1. */
export const LIMITS = {
  minMemoryKib: 19456,
  minIterations: 2,
  minParallelism: 1,
  maxMemoryKib: 262144,
  maxIterations: 8,
  maxParallelism: 4,
  maxWorkKib: 786432,
} as const;

export interface Argon2Params {
  memoryKib: number;
  iterations: number;
  parallelism: number;
  salt: Uint8Array;
}

export function defaultParams(): Argon2Params {
  return { memoryKib: 65536, iterations: 3, parallelism: 1, salt: globalThis.crypto.getRandomValues(new Uint8Array(SALT_SIZE)) };
}

/** Refuses parameters below the floor, then above the budget, before any work is done. */
export function checkParams(params: Argon2Params): void {
  if (params.salt.length !== SALT_SIZE) throw malformed(`an Argon2id salt is ${SALT_SIZE} bytes`);
  const { memoryKib: m, iterations: t, parallelism: p } = params;
  if (p < LIMITS.minParallelism) throw new ProtocolError("weak_parameters", "Argon2id parallelism must be at least 1");
  if (t < LIMITS.minIterations) throw new ProtocolError("weak_parameters", `Argon2id iterations must be at least ${LIMITS.minIterations}`);
  if (m < Math.max(LIMITS.minMemoryKib, 8 * p)) {
    throw new ProtocolError("weak_parameters", `Argon2id memory must be at least ${LIMITS.minMemoryKib} KiB`);
  }
  if (p > LIMITS.maxParallelism || t > LIMITS.maxIterations || m > LIMITS.maxMemoryKib || m * t > LIMITS.maxWorkKib) {
    throw new ProtocolError("parameters_above_budget", "Argon2id parameters above the client budget");
  }
}

export function encodeParams(params: Argon2Params): Uint8Array {
  return concat(u8(KDF_ARGON2ID), u32(params.memoryKib), u32(params.iterations), u8(params.parallelism), params.salt);
}

export function decodeParams(data: Uint8Array): Argon2Params {
  if (data.length !== PARAMS_SIZE) throw malformed("Argon2id parameters have the wrong length");
  if (data[0] !== KDF_ARGON2ID) throw unsupported(`unsupported key-derivation function ${data[0]}`);
  const params = { memoryKib: readU32(data, 1), iterations: readU32(data, 5), parallelism: data[9]!, salt: data.slice(10, 26) };
  checkParams(params);
  return params;
}

/** The `argon2_params` of `/auth/prelogin`: checked against the budget before any work. */
export function decodePreloginParams(text: string): Argon2Params {
  return decodeParams(fromBase64Url(text));
}

export function encodePreloginParams(params: Argon2Params): string {
  return toBase64Url(encodeParams(params));
}

export function normalizePassword(password: string): Uint8Array {
  const bytes = utf8(password.normalize("NFKC"));
  if (bytes.length === 0) throw malformed("the password is empty");
  if (bytes.length > MAX_PASSWORD_BYTES) throw malformed(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  return bytes;
}

async function argon2id(password: Uint8Array, params: Argon2Params): Promise<Uint8Array> {
  const options = {
    password,
    salt: params.salt,
    iterations: params.iterations,
    parallelism: params.parallelism,
    memorySize: params.memoryKib,
    hashLength: 32,
  };
  try {
    return await wasmArgon2id({ ...options, outputType: "binary" });
  } catch (error) {
    if (typeof WebAssembly !== "undefined" && !(error instanceof WebAssembly.CompileError)) throw error;
    return nobleArgon2id(password, params.salt, { t: params.iterations, m: params.memoryKib, p: params.parallelism, dkLen: 32 });
  }
}

export interface PasswordSecrets {
  /** Sent to the server at sign-in; tells nothing of the password key. */
  authSecret: Uint8Array;
  passwordKey: Uint8Array;
}

export async function derivePasswordSecrets(password: string, params: Argon2Params): Promise<PasswordSecrets> {
  checkParams(params);
  const passwordBytes = normalizePassword(password);
  const master = await argon2id(passwordBytes, params);
  passwordBytes.fill(0);
  try {
    const empty = new Uint8Array(0);
    return {
      authSecret: await hkdf(master, empty, utf8("uhealthsec/v1/auth-secret"), 32),
      passwordKey: await hkdf(master, empty, utf8("uhealthsec/v1/keystore/password-key"), 32),
    };
  } finally {
    master.fill(0);
  }
}

// -- recovery key and words (7.2) ---------------------------------------------------

export function recoveryWords(recoveryKey: Uint8Array): string {
  if (recoveryKey.length !== RECOVERY_KEY_SIZE) throw malformed(`a recovery key is ${RECOVERY_KEY_SIZE} bytes`);
  return entropyToMnemonic(recoveryKey, wordlist);
}

/** Reads 24 words in any case, separated by any run of spaces, tabs or line breaks
 * (ASCII ones only, as every reader of PROTOCOL 7.2 does). */
export function recoveryKeyFromWords(text: string): Uint8Array {
  const words = text.toLowerCase().split(/[ \t\r\n]+/).filter((w) => w.length > 0);
  if (words.length !== 24) throw malformed("a recovery key is 24 words");
  if (words.some((w) => !wordlist.includes(w))) throw malformed("a word is not in the BIP-39 English list");
  try {
    return mnemonicToEntropy(words.join(" "), wordlist);
  } catch {
    throw malformed("the recovery words' checksum does not match");
  }
}

async function recoverySlotKey(recoveryKey: Uint8Array): Promise<Uint8Array> {
  if (recoveryKey.length !== RECOVERY_KEY_SIZE) throw malformed(`a recovery key is ${RECOVERY_KEY_SIZE} bytes`);
  return hkdf(recoveryKey, new Uint8Array(0), utf8("uhealthsec/v1/keystore/recovery-key"), 32);
}

// -- layout (7.3) -------------------------------------------------------------------

export interface Keystore {
  bundle: Uint8Array;
  publicKeys: PublicKeys;
  params: Argon2Params;
  passwordNonce: Uint8Array;
  passwordSealed: Uint8Array;
  recoveryNonce: Uint8Array;
  recoverySealed: Uint8Array;
  /** Version 2 only: the key sets held before rotations, sealed under the current one (7.5). */
  former?: FormerKeysSlot;
}

export interface FormerKeysSlot {
  currentVersion: number;
  count: number;
  nonce: Uint8Array;
  sealed: Uint8Array;
}

export interface FormerKeys {
  keyVersion: number;
  keys: PrivateKeys;
}

function prefixOf(keystore: Keystore): Uint8Array {
  return concat(MAGIC, u8(keystore.former === undefined ? VERSION : VERSION_FORMER_KEYS), keystore.bundle);
}

function formerHeader(slot: FormerKeysSlot): Uint8Array {
  return concat(u8(SLOT_FORMER_KEYS), u32(slot.currentVersion), u16(slot.count));
}

function passwordAad(keystore: Keystore): Uint8Array {
  return concat(prefixOf(keystore), u8(SLOT_PASSWORD), encodeParams(keystore.params));
}

function recoveryAad(keystore: Keystore): Uint8Array {
  return concat(prefixOf(keystore), u8(SLOT_RECOVERY));
}

export function encodeKeystore(keystore: Keystore): Uint8Array {
  return concat(
    prefixOf(keystore),
    u8(SLOT_PASSWORD),
    encodeParams(keystore.params),
    keystore.passwordNonce,
    keystore.passwordSealed,
    u8(SLOT_RECOVERY),
    keystore.recoveryNonce,
    keystore.recoverySealed,
    ...(keystore.former === undefined ? [] : [formerHeader(keystore.former), keystore.former.nonce, keystore.former.sealed]),
  );
}

/** Reads a keystore in the order of checks of section 7.3, all before running Argon2id. */
export function decodeKeystore(data: Uint8Array): Keystore {
  if (data.length < KEYSTORE_SIZE || !constantTimeEqual(data.subarray(0, 4), MAGIC)) throw malformed("not a U-HealthSec keystore");
  if (data[4] !== VERSION && data[4] !== VERSION_FORMER_KEYS) throw unsupported(`unsupported keystore version ${data[4]}`);
  if (data[4] === VERSION && data.length !== KEYSTORE_SIZE) throw malformed("not a U-HealthSec keystore");
  let offset = 5;
  const bundle = data.slice(offset, offset + BUNDLE_SIZE);
  const publicKeys = decodeBundle(bundle);
  offset += BUNDLE_SIZE;
  if (data[offset] !== SLOT_PASSWORD) throw malformed("keystore: password slot expected");
  const params = decodeParams(data.subarray(offset + 1, offset + 1 + PARAMS_SIZE));
  offset += 1 + PARAMS_SIZE;
  const passwordNonce = data.slice(offset, offset + NONCE_SIZE);
  const passwordSealed = data.slice(offset + NONCE_SIZE, offset + NONCE_SIZE + SEALED_SIZE);
  offset += NONCE_SIZE + SEALED_SIZE;
  if (data[offset] !== SLOT_RECOVERY) throw malformed("keystore: recovery slot expected");
  offset += 1;
  const recoveryNonce = data.slice(offset, offset + NONCE_SIZE);
  const recoverySealed = data.slice(offset + NONCE_SIZE, offset + NONCE_SIZE + SEALED_SIZE);
  offset += NONCE_SIZE + SEALED_SIZE;
  const keystore: Keystore = { bundle, publicKeys, params, passwordNonce, passwordSealed, recoveryNonce, recoverySealed };
  if (data[4] === VERSION_FORMER_KEYS) keystore.former = decodeFormer(data.subarray(offset));
  return keystore;
}

function decodeFormer(data: Uint8Array): FormerKeysSlot {
  if (data.length < FORMER_HEADER_SIZE + NONCE_SIZE + FORMER_ITEM_SIZE + 16) throw malformed("not a U-HealthSec keystore");
  if (data[0] !== SLOT_FORMER_KEYS) throw malformed("keystore: former keys' slot expected");
  const currentVersion = readU32(data, 1);
  const count = readU16(data, 5);
  if (count < 1 || count > MAX_FORMER_KEY_SETS || currentVersion < 2) {
    throw malformed("keystore: the former keys' slot has a wrong count or version");
  }
  if (data.length !== FORMER_HEADER_SIZE + NONCE_SIZE + count * FORMER_ITEM_SIZE + 16) throw malformed("not a U-HealthSec keystore");
  return {
    currentVersion,
    count,
    nonce: data.slice(FORMER_HEADER_SIZE, FORMER_HEADER_SIZE + NONCE_SIZE),
    sealed: data.slice(FORMER_HEADER_SIZE + NONCE_SIZE),
  };
}

/** The former key sets of a keystore, oldest first, opened with its current keys (as an
 * unlock returns them); none for version 1. Refused as malformed if the slot does not
 * open under these keys or holds versions out of order (7.5). */
export async function openFormerKeys(keystore: Keystore, current: PrivateKeys): Promise<FormerKeys[]> {
  const slot = keystore.former;
  if (slot === undefined) return [];
  const slotKey = await formerSlotKey(current);
  const plain = await aesGcmOpen(await importAesGcmKey(slotKey), slot.nonce, slot.sealed, concat(prefixOf(keystore), formerHeader(slot)));
  slotKey.fill(0);
  if (plain === null) throw malformed("the keystore's former keys do not open with its keys");
  const former: FormerKeys[] = [];
  for (let at = 0; at < plain.length; at += FORMER_ITEM_SIZE) {
    const keyVersion = readU32(plain, at);
    const previous = former.length > 0 ? former[former.length - 1]!.keyVersion : 0;
    if (!(previous < keyVersion && keyVersion < slot.currentVersion)) throw malformed("the keystore's former key versions are out of order");
    former.push({ keyVersion, keys: decodePrivateKeys(plain.subarray(at + 4, at + FORMER_ITEM_SIZE)) });
  }
  plain.fill(0);
  return former;
}

async function openSlot(
  keystore: Keystore,
  slotKey: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
  what: string,
): Promise<PrivateKeys> {
  const expected = keystore.bundle;
  const encoded = await aesGcmOpen(await importAesGcmKey(slotKey), nonce, sealed, aad);
  if (encoded === null) throw new ProtocolError("wrong_password", `the keystore could not be opened with this ${what}`);
  const keys = decodePrivateKeys(encoded);
  encoded.fill(0);
  if (!constantTimeEqual(encodeBundle(await publicKeysOf(keys)), expected)) {
    // Only a holder of the slot key could produce this; the keys must not be used.
    throw malformed("the keystore's private keys do not match its public keys");
  }
  await openFormerKeys(keystore, keys); // a version 2 keystore opens whole or not at all
  return keys;
}

export async function unlockWithPassword(keystore: Keystore, password: string): Promise<{ keys: PrivateKeys; authSecret: Uint8Array }> {
  const secrets = await derivePasswordSecrets(password, keystore.params);
  try {
    const keys = await openSlot(keystore, secrets.passwordKey, keystore.passwordNonce, keystore.passwordSealed, passwordAad(keystore), "password");
    return { keys, authSecret: secrets.authSecret };
  } finally {
    secrets.passwordKey.fill(0);
  }
}

export async function unlockWithRecoveryKey(keystore: Keystore, recoveryKey: Uint8Array): Promise<PrivateKeys> {
  const slotKey = await recoverySlotKey(recoveryKey);
  try {
    return await openSlot(keystore, slotKey, keystore.recoveryNonce, keystore.recoverySealed, recoveryAad(keystore), "recovery key");
  } finally {
    slotKey.fill(0);
  }
}

async function sealSlot(slotKey: Uint8Array, nonce: Uint8Array, keys: PrivateKeys, aad: Uint8Array): Promise<Uint8Array> {
  const encoded = encodePrivateKeys(keys);
  try {
    return await aesGcmSeal(await importAesGcmKey(slotKey), nonce, encoded, aad);
  } finally {
    encoded.fill(0);
  }
}

const randomNonce = () => globalThis.crypto.getRandomValues(new Uint8Array(NONCE_SIZE));

async function formerSlotKey(current: PrivateKeys): Promise<Uint8Array> {
  const encoded = encodePrivateKeys(current);
  try {
    return await hkdf(encoded, new Uint8Array(0), utf8("uhealthsec/v2/keystore/former-keys"), 32);
  } finally {
    encoded.fill(0);
  }
}

/** Seals `former` (oldest first, versions increasing and below `currentVersion`) in `draft`'s former slot (7.5). */
async function sealFormer(draft: Keystore, current: PrivateKeys, currentVersion: number, former: FormerKeys[]): Promise<void> {
  if (former.length < 1 || former.length > MAX_FORMER_KEY_SETS) throw malformed(`a keystore holds 1 to ${MAX_FORMER_KEY_SETS} former key sets`);
  const versions = former.map((f) => f.keyVersion);
  if (versions.some((v, i) => v < 1 || v >= currentVersion || (i > 0 && v <= versions[i - 1]!))) {
    throw malformed("former key versions are increasing and below the current one");
  }
  const slot: FormerKeysSlot = { currentVersion, count: former.length, nonce: randomNonce(), sealed: new Uint8Array(0) };
  draft.former = slot;
  const plain = concat(...former.flatMap((f) => [u32(f.keyVersion), encodePrivateKeys(f.keys)]));
  const key = await formerSlotKey(current);
  try {
    slot.sealed = await aesGcmSeal(await importAesGcmKey(key), slot.nonce, plain, concat(prefixOf(draft), formerHeader(slot)));
  } finally {
    key.fill(0);
    plain.fill(0);
  }
}

/**
 * A version 2 keystore for new keys (key version `currentVersion + 1`), holding `current`
 * and every former set of `keystore`, sealed under the same password and parameters (so
 * the same auth secret) and a new recovery key, shown once (PROTOCOL 10.6).
 */
export async function rotateKeystore(
  keystore: Keystore,
  current: PrivateKeys,
  currentVersion: number,
  password: string,
): Promise<{ keystore: Keystore; recoveryKey: Uint8Array; authSecret: Uint8Array; keys: PrivateKeys }> {
  if (!constantTimeEqual(encodeBundle(await publicKeysOf(current)), keystore.bundle)) throw malformed("these keys do not belong to this keystore");
  const former = [...(await openFormerKeys(keystore, current)), { keyVersion: currentVersion, keys: current }];
  return createKeystore(password, generatePrivateKeys(), keystore.params, { currentVersion: currentVersion + 1, sets: former });
}

/** A new keystore for `keys` (fresh ones unless given); the recovery key is shown to the user once. */
export async function createKeystore(
  password: string,
  keys: PrivateKeys = generatePrivateKeys(),
  params: Argon2Params = defaultParams(),
  former?: { currentVersion: number; sets: FormerKeys[] },
): Promise<{ keystore: Keystore; recoveryKey: Uint8Array; authSecret: Uint8Array; keys: PrivateKeys }> {
  const publicKeys = await publicKeysOf(keys);
  const bundle = encodeBundle(publicKeys);
  const recoveryKey = globalThis.crypto.getRandomValues(new Uint8Array(RECOVERY_KEY_SIZE));
  const secrets = await derivePasswordSecrets(password, params);
  const draft: Keystore = {
    bundle,
    publicKeys,
    params,
    passwordNonce: randomNonce(),
    passwordSealed: new Uint8Array(0),
    recoveryNonce: randomNonce(),
    recoverySealed: new Uint8Array(0),
  };
  // Sealed first: the slots' AAD starts with the prefix, whose version says whether it is there.
  if (former !== undefined) await sealFormer(draft, keys, former.currentVersion, former.sets);
  draft.passwordSealed = await sealSlot(secrets.passwordKey, draft.passwordNonce, keys, passwordAad(draft));
  secrets.passwordKey.fill(0);
  const slotKey = await recoverySlotKey(recoveryKey);
  draft.recoverySealed = await sealSlot(slotKey, draft.recoveryNonce, keys, recoveryAad(draft));
  slotKey.fill(0);
  return { keystore: draft, recoveryKey, authSecret: secrets.authSecret, keys };
}

/**
 * Re-seals the same keys under a new password with a fresh salt and nonce (7.4);
 * the bundle and the recovery slot are kept. Returns the new auth secret too.
 */
export async function changePassword(
  keystore: Keystore,
  keys: PrivateKeys,
  newPassword: string,
  params?: Argon2Params,
): Promise<{ keystore: Keystore; authSecret: Uint8Array }> {
  if (!constantTimeEqual(encodeBundle(await publicKeysOf(keys)), keystore.bundle)) {
    throw malformed("these keys do not belong to this keystore");
  }
  const newParams = params ?? { ...keystore.params, salt: globalThis.crypto.getRandomValues(new Uint8Array(SALT_SIZE)) };
  const secrets = await derivePasswordSecrets(newPassword, newParams);
  const draft: Keystore = { ...keystore, params: newParams, passwordNonce: randomNonce() };
  draft.passwordSealed = await sealSlot(secrets.passwordKey, draft.passwordNonce, keys, passwordAad(draft));
  secrets.passwordKey.fill(0);
  return { keystore: draft, authSecret: secrets.authSecret };
}
