/**
 * Journal entries and request digests (docs/PROTOCOL.md section 13): one leaf of
 * the journal's Merkle log per action, and the digest a client signs per request.
 */

import { concat, readU16, readU64, toBase64Url, toHex, u16, u64, u8, utf8, uuidBytes, uuidText } from "./bytes.js";
import { malformed, unsupported } from "./errors.js";
import { sha256 } from "./primitives.js";
import { sign, verify } from "./signature.js";

export const ENTRY_MAGIC = utf8("UHSJ");
export const ENTRY_VERSION = 0x02;
/** Entries written before chains existed: read, never written. */
export const ENTRY_VERSION_UNCHAINED = 0x01;
const REQUEST_MAGIC = utf8("UHSR");
/** A signed request's digest (13.0): also covers when it was signed and its single-use value. */
const SIGNED_REQUEST_MAGIC = utf8("UHSS");
/** The longest single-use value (an `Idempotency-Key`), in bytes. */
const MAX_NONCE = 64;
const MAX_OBJECTS = 16;
const MAX_LINKS = 65535;
const MAX_INT63 = 2n ** 63n;

export const Outcome = { DONE: 1, DENIED: 2, REFUSED: 3, FAILED: 4 } as const;
export const ObjectKind = {
  ACCOUNT: 1,
  PATIENT: 2,
  PRACTICE: 3,
  PATIENT_FILE: 4,
  DOCUMENT: 5,
  THREAD: 6,
  MESSAGE: 7,
  SESSION: 8,
  UPLOAD: 9,
} as const;
const CHAINED_KINDS = new Set<number>([ObjectKind.PATIENT, ObjectKind.PRACTICE]);

/** A UUID in its usual text form; 16 bytes on the wire. */
export type Uuid = string;

export interface ChainLink {
  kind: number;
  subject: Uuid;
  sequence: bigint;
  previous: bigint;
}

export interface JournalEntry {
  version: number;
  timestampMs: bigint;
  actor: Uuid;
  action: string;
  outcome: number;
  status: number;
  objects: [number, Uuid][];
  client: string;
  requestDigest: Uint8Array;
  signature: { signerKeyIndex: bigint; signature: Uint8Array } | null;
  chain: ChainLink[];
}


function ascii(text: string, what: string): Uint8Array {
  if (!/^[\x00-\x7f]*$/.test(text)) throw malformed(`a journal ${what} is ASCII`);
  return utf8(text);
}

/** The outcome a status is journaled with. */
export function outcomeOf(status: number): number {
  if (status < 400) return Outcome.DONE;
  if (status === 401 || status === 403 || status === 404) return Outcome.DENIED;
  return status < 500 ? Outcome.REFUSED : Outcome.FAILED;
}

function checkLink(link: ChainLink): void {
  if (!CHAINED_KINDS.has(link.kind)) throw malformed("only patients and practices have a chain");
  if (link.sequence < 0n || link.sequence >= MAX_INT63 || link.previous < 0n || link.previous >= MAX_INT63) {
    throw malformed("a chain link's sequence and index are below 2^63");
  }
  if (link.sequence === 0n && link.previous !== 0n) throw malformed("the first entry of a chain has no previous entry");
}

/**
 * A version 2 entry links every patient and practice it names, each subject once:
 * one named outside its chain would be in the journal yet never missed from the
 * subject's history. A version 1 entry has no chain.
 */
function checkLinks(entry: JournalEntry): void {
  if (entry.version === ENTRY_VERSION_UNCHAINED) {
    if (entry.chain.length > 0) throw malformed("a version 1 journal entry has no chain");
    return;
  }
  const subjects = new Set(entry.chain.map((c) => c.subject.toLowerCase()));
  if (entry.chain.length > MAX_LINKS || subjects.size !== entry.chain.length) {
    throw malformed("a journal entry links each subject once, 65,535 at most");
  }
  const linked = new Set(entry.chain.map((c) => `${c.kind}:${c.subject.toLowerCase()}`));
  for (const [kind, id] of entry.objects) {
    if (CHAINED_KINDS.has(kind) && !linked.has(`${kind}:${id.toLowerCase()}`)) {
      throw malformed("a version 2 journal entry links every patient and practice it names");
    }
  }
}

export function encodeEntry(entry: JournalEntry): Uint8Array {
  const action = ascii(entry.action, "action");
  const client = ascii(entry.client, "client");
  if (action.length < 1 || action.length > 64 || client.length > 64) {
    throw malformed("a journal action is 1 to 64 and a client 0 to 64 characters");
  }
  if (entry.objects.length > MAX_OBJECTS || entry.requestDigest.length !== 32) {
    throw malformed("a journal entry names at most 16 objects");
  }
  if (entry.version !== ENTRY_VERSION && entry.version !== ENTRY_VERSION_UNCHAINED) {
    throw unsupported(`unsupported journal entry version ${entry.version}`);
  }
  entry.chain.forEach(checkLink);
  checkLinks(entry);
  const parts = [
    ENTRY_MAGIC,
    u8(entry.version),
    u64(entry.timestampMs),
    uuidBytes(entry.actor),
    u8(action.length),
    action,
    u8(entry.outcome),
    u16(entry.status),
    u8(entry.objects.length),
    ...entry.objects.map(([kind, id]) => concat(u8(kind), uuidBytes(id))),
    u8(client.length),
    client,
    entry.requestDigest,
  ];
  if (entry.signature === null) {
    parts.push(u8(0));
  } else {
    if (entry.signature.signature.length !== 64) throw malformed("a request signature is 64 bytes");
    parts.push(u8(1), u64(entry.signature.signerKeyIndex), entry.signature.signature);
  }
  if (entry.version !== ENTRY_VERSION_UNCHAINED) {
    parts.push(u16(entry.chain.length));
    for (const link of entry.chain) parts.push(u8(link.kind), uuidBytes(link.subject), u64(link.sequence), u64(link.previous));
  }
  return concat(...parts);
}

class Reader {
  private offset = 0;
  constructor(private readonly data: Uint8Array) {}

  take(n: number): Uint8Array {
    if (this.offset + n > this.data.length) throw malformed("a journal entry is truncated");
    const out = this.data.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  byte(): number {
    return this.take(1)[0]!;
  }

  end(): void {
    if (this.offset !== this.data.length) throw malformed("bytes follow the end of a journal entry");
  }
}

function asciiText(bytes: Uint8Array, what: string): string {
  if (bytes.some((b) => b > 0x7f)) throw malformed(`a journal ${what} is ASCII`);
  return String.fromCharCode(...bytes);
}

/** Parses an entry; a reader that verifies keeps `checkLinksRule` (the default). */
export function decodeEntry(data: Uint8Array, checkLinksRule = true): JournalEntry {
  const reader = new Reader(data);
  if (toHex(reader.take(4)) !== toHex(ENTRY_MAGIC)) throw malformed("not a U-HealthSec journal entry");
  const version = reader.byte();
  if (version !== ENTRY_VERSION && version !== ENTRY_VERSION_UNCHAINED) throw unsupported(`unsupported journal entry version ${version}`);
  const timestampMs = readU64(reader.take(8), 0);
  const actor = uuidText(reader.take(16));
  const action = asciiText(reader.take(reader.byte()), "action");
  const outcome = reader.byte();
  if (outcome < Outcome.DONE || outcome > Outcome.FAILED) throw malformed("unknown journal outcome");
  const status = readU16(reader.take(2), 0);
  const objectCount = reader.byte();
  const objects: [number, Uuid][] = [];
  for (let i = 0; i < objectCount; i++) {
    const kind = reader.byte();
    if (kind < ObjectKind.ACCOUNT || kind > ObjectKind.UPLOAD) throw malformed("unknown journal object kind");
    objects.push([kind, uuidText(reader.take(16))]);
  }
  const client = asciiText(reader.take(reader.byte()), "client");
  const requestDigest = reader.take(32);
  let signature: JournalEntry["signature"] = null;
  const signed = reader.byte();
  if (signed === 1) {
    signature = { signerKeyIndex: readU64(reader.take(8), 0), signature: reader.take(64) };
  } else if (signed !== 0) {
    throw malformed("a journal entry's signature flag is 0 or 1");
  }
  const chain: ChainLink[] = [];
  if (version !== ENTRY_VERSION_UNCHAINED) {
    const count = readU16(reader.take(2), 0);
    for (let i = 0; i < count; i++) {
      const kind = reader.byte();
      const link = { kind, subject: uuidText(reader.take(16)), sequence: readU64(reader.take(8), 0), previous: readU64(reader.take(8), 0) };
      checkLink(link);
      chain.push(link);
    }
  }
  reader.end();
  const entry = { version, timestampMs, actor, action, outcome, status, objects, client, requestDigest, signature, chain };
  if (checkLinksRule) checkLinks(entry);
  return entry;
}

/** SHA256("UHSR" || requestFields): an unsigned request's digest in the journal. */
export async function requestDigest(method: string, target: string, bodyDigest: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(REQUEST_MAGIC, requestFields(method, target, bodyDigest)));
}

/**
 * SHA256("UHSS" || requestFields || u64(signedAtMs) || u8(len(nonce)) || nonce): what a
 * client signs, fresh (the server refuses it 10 minutes away from its clock) and
 * single-use (`nonce` is the request's Idempotency-Key, "" for a GET or HEAD).
 */
export async function signedRequestDigest(
  method: string,
  target: string,
  bodyDigest: Uint8Array,
  signedAtMs: bigint,
  nonce: string,
): Promise<Uint8Array> {
  const fields = requestFields(method, target, bodyDigest);
  const nonceBytes = ascii(nonce, "nonce");
  if (signedAtMs < 0n || signedAtMs >= 1n << 63n || nonceBytes.length > MAX_NONCE) {
    throw malformed("a signed request needs a time and a nonce of at most 64 bytes");
  }
  return sha256(concat(SIGNED_REQUEST_MAGIC, fields, u64(signedAtMs), u8(nonceBytes.length), nonceBytes));
}

/** u8(len(method)) || method || u16(len(target)) || target || SHA256(body). */
function requestFields(method: string, target: string, bodyDigest: Uint8Array): Uint8Array {
  const methodBytes = ascii(method.toUpperCase(), "method");
  const targetBytes = utf8(target);
  if (bodyDigest.length !== 32 || methodBytes.length > 16 || targetBytes.length > 65535) {
    throw malformed("a request digest needs a method, a target and a 32-byte digest");
  }
  return concat(u8(methodBytes.length), methodBytes, u16(targetBytes.length), targetBytes, bodyDigest);
}

export function signRequest(privateKey: CryptoKey, digest: Uint8Array): Promise<Uint8Array> {
  return sign(privateKey, "request", digest);
}

export function verifyRequest(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): Promise<void> {
  return verify(publicKey, "request", digest, signature);
}

/** The `UHS-Signature` header's value: `<signer_key_index>;<signed_at_ms>;<base64url signature>`. */
export function signatureHeader(signerKeyIndex: bigint, signedAtMs: bigint, signature: Uint8Array): string {
  return `${signerKeyIndex};${signedAtMs};${toBase64Url(signature)}`;
}
