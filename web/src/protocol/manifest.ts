/**
 * What authors and readers sign about documents and threads (docs/PROTOCOL.md
 * 11.1 to 11.3 and 12.1): reader lists, version manifests, share and revocation
 * statements, thread membership links, message manifests.
 */

import { concat, constantTimeEqual, fromUtf8, readU16, readU32, readU64, toHex, u16, u32, u64, u8, utf8, uuidBytes, uuidText } from "./bytes.js";
import { malformed, unsupported } from "./errors.js";
import { sha256 } from "./primitives.js";
import { type Purpose, sign, verify } from "./signature.js";

const MAX_READERS = 0xffff;
const MAX_ADDRESS_BYTES = 320;
const MAX_INT63 = 2n ** 63n;
export const NO_PREVIOUS = new Uint8Array(32);

export interface Reader {
  accountId: string;
  email: string;
}


function checkRanges(version: number, signerKeyIndex: bigint, what: string): void {
  if (!Number.isInteger(version) || version < 1 || version > 0xffffffff || signerKeyIndex < 0n || signerKeyIndex >= MAX_INT63) {
    throw malformed(`${what} version or key index out of range`);
  }
}

export function encodeReader(reader: Reader): Uint8Array {
  const address = utf8(reader.email);
  if (address.length < 1 || address.length > MAX_ADDRESS_BYTES) throw malformed("a reader's address is 1 to 320 bytes");
  return concat(uuidBytes(reader.accountId), u16(address.length), address);
}

/** `u16(count) || reader...`, sorted by the 16 bytes of the account id, each account once. */
export function encodeReaders(readers: readonly Reader[]): Uint8Array {
  const ordered = [...readers].sort((a, b) => {
    const x = toHex(uuidBytes(a.accountId));
    const y = toHex(uuidBytes(b.accountId));
    return x < y ? -1 : x > y ? 1 : 0;
  });
  if (ordered.length < 1 || ordered.length > MAX_READERS) throw malformed("a reader list holds 1 to 65535 readers");
  if (new Set(ordered.map((r) => toHex(uuidBytes(r.accountId)))).size !== ordered.length) {
    throw malformed("a reader list names each account once");
  }
  return concat(u16(ordered.length), ...ordered.map(encodeReader));
}

function readReader(data: Uint8Array, at: number, what: string): [Reader, number] {
  if (data.length < at + 18) throw malformed(`${what} is truncated`);
  const accountId = uuidText(data.subarray(at, at + 16));
  const length = readU16(data, at + 16);
  const start = at + 18;
  if (data.length < start + length) throw malformed(`${what} is truncated`);
  const email = fromUtf8(data.subarray(start, start + length));
  return [{ accountId, email }, start + length];
}

/** The inverse of `encodeReaders`; refuses a list not in canonical form. */
export function decodeReaders(data: Uint8Array): Reader[] {
  if (data.length < 2) throw malformed("a reader list is too short");
  const count = readU16(data, 0);
  const readers: Reader[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const [reader, next] = readReader(data, at, "a reader list");
    readers.push(reader);
    at = next;
  }
  if (at !== data.length || !constantTimeEqual(encodeReaders(readers), data)) throw malformed("a reader list is not in canonical form");
  return readers;
}

// -- version manifests (11.2) -------------------------------------------------------

export interface VersionManifest {
  documentId: string;
  version: number;
  patientFileId: string;
  authorId: string;
  signerKeyIndex: bigint;
  contentDigest: Uint8Array;
  metadataDigest: Uint8Array;
  /** Version 2 of the format: both present. Version 1 (read only): both null. */
  previous: Uint8Array | null;
  readers: Reader[] | null;
}

export function encodeManifest(manifest: VersionManifest): Uint8Array {
  if (manifest.contentDigest.length !== 32 || manifest.metadataDigest.length !== 32) throw malformed("manifest digests are 32 bytes");
  checkRanges(manifest.version, manifest.signerKeyIndex, "manifest");
  let chained: Uint8Array = new Uint8Array(0);
  if (manifest.readers === null) {
    if (manifest.previous !== null) throw malformed("a version 1 manifest names no previous version");
  } else {
    if (manifest.previous === null || manifest.previous.length !== 32) throw malformed("a manifest's previous digest is 32 bytes");
    if ((manifest.version === 1) !== constantTimeEqual(manifest.previous, NO_PREVIOUS)) {
      throw malformed("only the first version has no previous one");
    }
    chained = concat(manifest.previous, encodeReaders(manifest.readers));
  }
  return concat(
    utf8("UHSV"),
    u8(manifest.readers === null ? 0x01 : 0x02),
    uuidBytes(manifest.documentId),
    u32(manifest.version),
    uuidBytes(manifest.patientFileId),
    uuidBytes(manifest.authorId),
    u64(manifest.signerKeyIndex),
    manifest.contentDigest,
    manifest.metadataDigest,
    chained,
  );
}

// -- share and revocation statements (11.3) -----------------------------------------

export interface ShareStatement {
  documentId: string;
  version: number;
  granterId: string;
  signerKeyIndex: bigint;
  recipient: Reader;
  /** Seconds since the epoch before which the recipient may not read the version (R28):
   * format 2; absent, the statement is format 1, unchanged. */
  availableFrom?: bigint;
}

export function encodeShareStatement(statement: ShareStatement): Uint8Array {
  checkRanges(statement.version, statement.signerKeyIndex, "statement");
  const delayed = statement.availableFrom !== undefined;
  if (delayed && !(statement.availableFrom! > 0n && statement.availableFrom! < 1n << 63n)) {
    throw new Error("statement availableFrom out of range");
  }
  return concat(
    utf8("UHSG"),
    u8(delayed ? 0x02 : 0x01),
    uuidBytes(statement.documentId),
    u32(statement.version),
    uuidBytes(statement.granterId),
    u64(statement.signerKeyIndex),
    ...(delayed ? [u64(statement.availableFrom!)] : []),
    encodeReader(statement.recipient),
  );
}

export interface RevocationStatement {
  documentId: string;
  version: number;
  revokerId: string;
  signerKeyIndex: bigint;
  reader: Reader;
}

const REVOCATION_MAGIC = utf8("UHSX");
const REVOCATION_MIN_SIZE = 4 + 1 + 16 + 4 + 16 + 8 + 18;

export function encodeRevocationStatement(statement: RevocationStatement): Uint8Array {
  checkRanges(statement.version, statement.signerKeyIndex, "statement");
  return concat(
    REVOCATION_MAGIC,
    u8(0x01),
    uuidBytes(statement.documentId),
    u32(statement.version),
    uuidBytes(statement.revokerId),
    u64(statement.signerKeyIndex),
    encodeReader(statement.reader),
  );
}

export function decodeRevocationStatement(data: Uint8Array): RevocationStatement {
  if (data.length < 5 || !constantTimeEqual(data.subarray(0, 4), REVOCATION_MAGIC)) throw malformed("not a revocation statement");
  if (data[4] !== 0x01) throw unsupported(`unknown revocation statement format ${data[4]}`);
  if (data.length < REVOCATION_MIN_SIZE) throw malformed("a revocation statement is truncated");
  const [reader, end] = readReader(data, 49, "a revocation statement");
  if (end !== data.length) throw malformed("bytes follow a revocation statement");
  const statement = {
    documentId: uuidText(data.subarray(5, 21)),
    version: readU32(data, 21),
    revokerId: uuidText(data.subarray(25, 41)),
    signerKeyIndex: readU64(data, 41),
    reader,
  };
  encodeRevocationStatement(statement); // the ranges, and the address's length
  return statement;
}

// -- thread membership (12.1) -------------------------------------------------------

export interface ThreadMembership {
  threadId: string;
  seq: number;
  actorId: string;
  signerKeyIndex: bigint;
  previous: Uint8Array;
  members: Reader[];
}

export function encodeMembership(link: ThreadMembership): Uint8Array {
  if (link.previous.length !== 32) throw malformed("a membership's previous digest is 32 bytes");
  checkRanges(link.seq, link.signerKeyIndex, "membership");
  if ((link.seq === 1) !== constantTimeEqual(link.previous, NO_PREVIOUS)) throw malformed("only the first membership has no previous one");
  return concat(
    utf8("UHST"),
    u8(0x01),
    uuidBytes(link.threadId),
    u32(link.seq),
    uuidBytes(link.actorId),
    u64(link.signerKeyIndex),
    link.previous,
    encodeReaders(link.members),
  );
}

/** A thread's id from its first link: SHA-256 of creator, nonce and members, as a version 8 UUID. */
export async function threadIdOf(creatorId: string, nonce: Uint8Array, members: readonly Reader[]): Promise<string> {
  if (nonce.length !== 32) throw malformed("a thread's nonce is 32 bytes");
  const digest = (await sha256(concat(utf8("UHST thread id"), u8(0), uuidBytes(creatorId), nonce, encodeReaders(members)))).slice(0, 16);
  digest[6] = (digest[6]! & 0x0f) | 0x80;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  return uuidText(digest);
}

/** Refuses (*malformed*) a first link not made by a member or not deriving its thread's id. */
export async function checkStartsThread(link: ThreadMembership, nonce: Uint8Array): Promise<void> {
  if (link.seq !== 1) throw malformed("a thread starts with membership 1");
  if (!link.members.some((m) => m.accountId.toLowerCase() === link.actorId.toLowerCase())) {
    throw malformed("a thread is started by one of its members");
  }
  if ((await threadIdOf(link.actorId, nonce, link.members)) !== link.threadId.toLowerCase()) {
    throw malformed("the first membership does not derive the thread's id");
  }
}

// -- message manifests (12) --------------------------------------------------------

export interface MessageManifest {
  messageId: string;
  threadId: string;
  senderId: string;
  signerKeyIndex: bigint;
  /** SHA-256 of the message's body envelope. */
  bodyDigest: Uint8Array;
}

export function encodeMessageManifest(manifest: MessageManifest): Uint8Array {
  if (manifest.bodyDigest.length !== 32) throw malformed("a message body digest is 32 bytes");
  checkRanges(1, manifest.signerKeyIndex, "message manifest");
  return concat(
    utf8("UHSM"),
    u8(0x01),
    uuidBytes(manifest.messageId),
    uuidBytes(manifest.threadId),
    uuidBytes(manifest.senderId),
    u64(manifest.signerKeyIndex),
    manifest.bodyDigest,
  );
}

// -- signatures ---------------------------------------------------------------------

/** The purpose each format is signed for: formats that share one start with distinct magic bytes. */
export const PURPOSES = { manifest: "document", share: "document", revocation: "document", membership: "message", message: "message" } as const;

export async function signEncoded(privateKey: CryptoKey, purpose: Purpose, encoded: Uint8Array): Promise<Uint8Array> {
  return sign(privateKey, purpose, await sha256(encoded));
}

export async function verifyEncoded(publicKey: Uint8Array, purpose: Purpose, encoded: Uint8Array, signature: Uint8Array): Promise<void> {
  return verify(publicKey, purpose, await sha256(encoded), signature);
}
