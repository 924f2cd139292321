/**
 * The key directory (docs/PROTOCOL.md section 10): entries, safety numbers, and
 * the map that names each account's only entry (10.4).
 */

import { concat, constantTimeEqual, fromUtf8, readU16, readU32, readU64, u16, u32, u64, u8, utf8, uuidBytes, uuidText } from "./bytes.js";
import { ProtocolError, malformed, unsupported } from "./errors.js";
import { BUNDLE_SIZE, decodeBundle } from "./keys.js";
import { sha256, sha512 } from "./primitives.js";

export const ENTRY_MAGIC = utf8("UHSD");
export const ENTRY_VERSION = 0x01;
const MAX_EMAIL_BYTES = 320;
export const AccountKind = { PRACTITIONER: 1, PATIENT: 2 } as const;

export interface DirectoryEntry {
  accountId: string;
  keyVersion: number;
  kind: number;
  email: string;
  bundle: Uint8Array;
}


export function encodeEntry(entry: DirectoryEntry): Uint8Array {
  const email = utf8(entry.email);
  if (email.length < 1 || email.length > MAX_EMAIL_BYTES) throw malformed("a directory address is 1 to 320 bytes");
  if (entry.bundle.length !== BUNDLE_SIZE) throw malformed("a directory entry holds one public key bundle");
  if (!Number.isInteger(entry.keyVersion) || entry.keyVersion < 1 || entry.keyVersion > 0xffffffff) {
    throw malformed("key versions start at 1");
  }
  return concat(ENTRY_MAGIC, u8(ENTRY_VERSION), uuidBytes(entry.accountId), u32(entry.keyVersion), u8(entry.kind), u16(email.length), email, entry.bundle);
}

/** Reads an entry; its bundle is checked as 5.1 says (keys refused at the door). */
export function decodeEntry(data: Uint8Array): DirectoryEntry {
  if (data.length < 28 || !constantTimeEqual(data.subarray(0, 4), ENTRY_MAGIC)) throw malformed("not a U-HealthSec key directory entry");
  if (data[4] !== ENTRY_VERSION) throw unsupported(`unsupported directory entry version ${data[4]}`);
  const keyVersion = readU32(data, 21);
  const kind = data[25]!;
  const emailLength = readU16(data, 26);
  if (data.length !== 28 + emailLength + BUNDLE_SIZE || keyVersion === 0) throw malformed("a key directory entry has the wrong length");
  if (kind !== AccountKind.PRACTITIONER && kind !== AccountKind.PATIENT) throw malformed("a key directory entry has an invalid field");
  const email = fromUtf8(data.subarray(28, 28 + emailLength));
  const bundle = data.slice(28 + emailLength);
  decodeBundle(bundle);
  return { accountId: uuidText(data.subarray(5, 21)), keyVersion, kind, email, bundle };
}

/** Six groups of five digits from the bundle and the address, compared out of band (rule 5). */
export async function safetyNumber(bundle: Uint8Array, email: string): Promise<string> {
  const digest = await sha512(concat(utf8("uhealthsec/v1/safety-number"), u8(0), bundle, utf8(email)));
  const groups: string[] = [];
  for (let i = 0; i < 6; i++) {
    let value = 0n;
    for (const byte of digest.subarray(5 * i, 5 * i + 5)) value = (value << 8n) | BigInt(byte);
    groups.push((value % 100000n).toString().padStart(5, "0"));
  }
  return groups.join(" ");
}

/** The number two people compare (rule 5): both safety numbers, the smaller first, so both sides see the same twelve groups. */
export async function pairSafetyNumber(
  one: { bundle: Uint8Array; email: string },
  other: { bundle: Uint8Array; email: string },
): Promise<string> {
  const numbers = [await safetyNumber(one.bundle, one.email), await safetyNumber(other.bundle, other.email)];
  return numbers.sort().join(" ");
}

// -- the map (10.4) -----------------------------------------------------------------

export const COMMITMENT_MAGIC = utf8("UHSM");
export const COMMITMENT_VERSION = 0x01;
const COMMITMENT_SIZE = 45;
const EMPTY = new Uint8Array(32);
const KEY_BITS = 256;

export interface MapCommitment {
  entries: bigint;
  root: Uint8Array;
}

export interface MapValue {
  index: bigint;
  leafHash: Uint8Array;
  count: number;
}

export interface MapProof {
  depth: number;
  present: Uint8Array;
  siblings: Uint8Array[];
}

export function mapKey(accountId: string): Promise<Uint8Array> {
  return sha256(concat(utf8("uhealthsec/v1/directory-map"), u8(0), uuidBytes(accountId)));
}

export function encodeMapValue(value: MapValue): Uint8Array {
  if (value.leafHash.length !== 32) throw malformed("a map value holds a 32-byte leaf hash");
  return concat(u64(value.index), value.leafHash, u32(value.count));
}

export function decodeMapValue(data: Uint8Array): MapValue {
  if (data.length !== 44) throw malformed("a map value is 44 bytes");
  return { index: readU64(data, 0), leafHash: data.slice(8, 40), count: readU32(data, 40) };
}

export function encodeCommitment(commitment: MapCommitment): Uint8Array {
  return concat(COMMITMENT_MAGIC, u8(COMMITMENT_VERSION), u64(commitment.entries), commitment.root);
}

export function decodeCommitment(data: Uint8Array): MapCommitment {
  if (data.length !== COMMITMENT_SIZE || !constantTimeEqual(data.subarray(0, 4), COMMITMENT_MAGIC)) {
    throw malformed("not a key directory map commitment");
  }
  if (data[4] !== COMMITMENT_VERSION) throw unsupported(`unsupported map commitment version ${data[4]}`);
  return { entries: readU64(data, 5), root: data.slice(13) };
}

function invalidProof(message: string): ProtocolError {
  return new ProtocolError("invalid_proof", message);
}

/** Refuses (*invalid_proof*) unless the map of `root` gives `key` the value `value`. */
export async function verifyMapProof(root: Uint8Array, key: Uint8Array, value: Uint8Array, proof: MapProof): Promise<void> {
  const { depth, present, siblings } = proof;
  if (key.length !== 32 || !Number.isInteger(depth) || depth < 0 || depth > KEY_BITS) {
    throw invalidProof("a map proof has a depth of 0 to 256");
  }
  if (present.length !== Math.ceil(depth / 8)) throw invalidProof("a map proof has one bit per depth");
  const flags = Array.from({ length: present.length * 8 }, (_, i) => (present[i >> 3]! >> (7 - (i & 7))) & 1);
  if (flags.slice(depth).some((f) => f === 1) || flags.reduce((a, b) => a + b, 0) !== siblings.length) {
    throw invalidProof("a map proof's bits do not match its siblings");
  }
  // The key would be alone one level up: a canonical proof starts where it is alone.
  if (depth > 0 && flags[0] === 0) throw invalidProof("a map proof must start where the key is alone");
  if (siblings.some((s) => s.length !== 32 || constantTimeEqual(s, EMPTY))) {
    throw invalidProof("a map proof's siblings are 32-byte, non-empty hashes");
  }
  let node = await sha256(concat(Uint8Array.of(0x00), key, value));
  let next = 0;
  for (let i = 0; i < depth; i++) {
    const sibling = flags[i] ? siblings[next++]! : EMPTY;
    // The branch taken from depth d - 1 to d is bit d - 1 of the key, most significant first.
    const d = depth - i;
    const bit = (key[(d - 1) >> 3]! >> (7 - ((d - 1) & 7))) & 1;
    node = await sha256(bit ? concat(Uint8Array.of(0x01), sibling, node) : concat(Uint8Array.of(0x01), node, sibling));
  }
  if (!constantTimeEqual(node, root)) throw invalidProof("the map proof does not lead to the committed root");
}
