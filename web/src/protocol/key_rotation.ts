/**
 * Key rotation (docs/PROTOCOL.md 10.6): an entry of key version v > 1 is taken only
 * with a statement signed by the keys of entry v - 1 (which a hostile server does not
 * hold) and by its own; a reader checks the whole chain of the account's entries.
 */

import { concat, constantTimeEqual, readU32, u32, u8, utf8, uuidBytes, uuidText } from "./bytes.js";
import { type DirectoryEntry, decodeEntry, encodeEntry } from "./directory.js";
import { ProtocolError, malformed, unsupported } from "./errors.js";
import { decodeBundle } from "./keys.js";
import { leafHash } from "./merkle.js";
import { sha256 } from "./primitives.js";
import { sign, verify } from "./signature.js";

export const STATEMENT_MAGIC = utf8("UHSR");
export const STATEMENT_VERSION = 0x01;
export const STATEMENT_SIZE = 249;

export interface RotationStatement {
  accountId: string;
  newVersion: number;
  previousLeafHash: Uint8Array;
  newLeafHash: Uint8Array;
  keystoreDigest: Uint8Array;
  signaturePrevious: Uint8Array;
  signatureNew: Uint8Array;
}

function fields(s: RotationStatement): Uint8Array {
  return concat(uuidBytes(s.accountId), u32(s.newVersion), s.previousLeafHash, s.newLeafHash, s.keystoreDigest);
}

/** What both signing keys sign, with the purpose "key-rotation". */
export function rotationDigest(s: RotationStatement): Promise<Uint8Array> {
  return sha256(concat(utf8("uhealthsec/v1/key-rotation"), u8(0), u8(STATEMENT_VERSION), fields(s)));
}

export function encodeRotation(s: RotationStatement): Uint8Array {
  return concat(STATEMENT_MAGIC, u8(STATEMENT_VERSION), fields(s), s.signaturePrevious, s.signatureNew);
}

export function decodeRotation(data: Uint8Array): RotationStatement {
  if (data.length !== STATEMENT_SIZE || !constantTimeEqual(data.subarray(0, 4), STATEMENT_MAGIC)) {
    throw malformed("not a U-HealthSec key rotation statement");
  }
  if (data[4] !== STATEMENT_VERSION) throw unsupported(`unsupported key rotation statement version ${data[4]}`);
  const newVersion = readU32(data, 21);
  if (newVersion < 2) throw malformed("a rotation makes key version 2 or later");
  return {
    accountId: uuidText(data.subarray(5, 21)),
    newVersion,
    previousLeafHash: data.slice(25, 57),
    newLeafHash: data.slice(57, 89),
    keystoreDigest: data.slice(89, 121),
    signaturePrevious: data.slice(121, 185),
    signatureNew: data.slice(185, 249),
  };
}

/** Checks that `s` links `previous` to `next` and that both entries' signing keys signed it. */
export async function verifyRotation(s: RotationStatement, previous: DirectoryEntry, next: DirectoryEntry): Promise<void> {
  if (
    previous.accountId !== s.accountId ||
    next.accountId !== s.accountId ||
    next.keyVersion !== s.newVersion ||
    previous.keyVersion !== s.newVersion - 1 ||
    !constantTimeEqual(await leafHash(encodeEntry(previous)), s.previousLeafHash) ||
    !constantTimeEqual(await leafHash(encodeEntry(next)), s.newLeafHash)
  ) {
    throw new ProtocolError("invalid_proof", "the rotation statement names other entries");
  }
  const digest = await rotationDigest(s);
  await verify(decodeBundle(previous.bundle).signing, "key-rotation", digest, s.signaturePrevious);
  await verify(decodeBundle(next.bundle).signing, "key-rotation", digest, s.signatureNew);
}

/** The statement replacing `previous` by `next` (with the new `keystore`), signed by both signing keys. */
export async function signRotation(
  previous: DirectoryEntry,
  next: DirectoryEntry,
  keystore: Uint8Array,
  previousKey: CryptoKey,
  newKey: CryptoKey,
): Promise<RotationStatement> {
  if (next.accountId !== previous.accountId || next.keyVersion !== previous.keyVersion + 1) {
    throw malformed("a rotation publishes the next key version of the same account");
  }
  const statement: RotationStatement = {
    accountId: previous.accountId,
    newVersion: next.keyVersion,
    previousLeafHash: await leafHash(encodeEntry(previous)),
    newLeafHash: await leafHash(encodeEntry(next)),
    keystoreDigest: await sha256(keystore),
    signaturePrevious: new Uint8Array(0),
    signatureNew: new Uint8Array(0),
  };
  const digest = await rotationDigest(statement);
  statement.signaturePrevious = await sign(previousKey, "key-rotation", digest);
  statement.signatureNew = await sign(newKey, "key-rotation", digest);
  return statement;
}

/** An account's entries, oldest first, each version v > 1 carried by the statement at the
 * same position (10.6, rules 1 and 2). */
export async function verifyChain(leaves: readonly Uint8Array[], statements: readonly (Uint8Array | null)[]): Promise<DirectoryEntry[]> {
  if (leaves.length === 0 || leaves.length !== statements.length) {
    throw new ProtocolError("invalid_proof", "a chain of rotations holds one statement per entry");
  }
  const entries = leaves.map(decodeEntry);
  const first = entries[0]!;
  for (let position = 0; position < entries.length; position++) {
    const entry = entries[position]!;
    const raw = statements[position] ?? null;
    if (entry.keyVersion !== position + 1) throw new ProtocolError("invalid_proof", "a chain of rotations with a missing or repeated version");
    if (entry.accountId !== first.accountId || entry.kind !== first.kind) throw new ProtocolError("invalid_proof", "a chain of rotations mixes accounts");
    if (position === 0) {
      if (raw !== null) throw new ProtocolError("invalid_proof", "the first keys of an account are not a rotation");
      continue;
    }
    if (raw === null) throw new ProtocolError("invalid_proof", `keys of version ${entry.keyVersion} without a rotation statement`);
    await verifyRotation(decodeRotation(raw), entries[position - 1]!, entry);
  }
  return entries;
}
