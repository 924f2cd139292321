/**
 * Searchable encryption of an index: Mitra (Chamani et al., CCS 2018), with its client
 * state in an envelope; docs/PROTOCOL.md section 18, byte for byte the Python SDK's
 * (uhealthsec/crypto/search.py), checked against tests/vectors/search.json.
 *
 * - an update (op, w, id) stores label = PRF(K, w || cnt || 0) -> value = (op || id) XOR
 *   PRF(K, w || cnt || 1), cnt being the keyword's counter after the update;
 * - a search sends the labels for cnt = 1 .. cnt[w] and cancels each deletion against
 *   the addition of the same id.
 *
 * The PRF is HMAC-SHA256 (@noble/hashes: synchronous, and its keyed state is copied
 * for each of the tens of thousands of labels a search may derive); HKDF and AES-GCM
 * are WebCrypto's. Pure functions; no I/O.
 */

import { type _HMAC, hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { concat, fromHex, fromUtf8, readU32, readU64, toHex, u32, u64, utf8, uuidBytes, uuidText } from "./bytes.js";
import { ProtocolError, malformed } from "./errors.js";
import { aesGcmOpen, aesGcmSeal, hkdf, importAesGcmKey } from "./primitives.js";
import { compareUtf8 } from "./search_text.js";

export const INDEX_KEY_SIZE = 32;
export const LABEL_SIZE = 32;
/** One byte of operation and a 16-byte document id. */
export const VALUE_SIZE = 17;
export const MAX_KEYWORD_BYTES = 255;
export const MAX_COUNTER = 2n ** 63n - 1n;

const NONCE_SIZE = 12;
const STATE_FORMAT = 0x01;
const STATE_AAD = utf8("uhs search state v1");
const DOCUMENT_AAD = utf8("uhs search document v1");
const EMPTY: Uint8Array = new Uint8Array(0);

export const Op = { Add: 0x00, Delete: 0x01 } as const;
export type Op = (typeof Op)[keyof typeof Op];

type Keyed = ReturnType<typeof hmac.create>;

/** The keys of one index, derived from its 32-byte index key. */
export interface IndexKeys {
  prf: Uint8Array;
  state: Uint8Array;
  document: Uint8Array;
  keyedPrf: Keyed;
  stateKey: CryptoKey;
  documentKey: CryptoKey;
}

export async function deriveIndexKeys(indexKey: Uint8Array): Promise<IndexKeys> {
  if (indexKey.length !== INDEX_KEY_SIZE) throw malformed("an index key is 32 bytes");
  const derive = (info: string): Promise<Uint8Array> => hkdf(indexKey, EMPTY, utf8(info), 32);
  const [prf, state, document] = await Promise.all([
    derive("uhs search v1 prf"),
    derive("uhs search v1 state"),
    derive("uhs search v1 document"),
  ]);
  return {
    prf,
    state,
    document,
    keyedPrf: hmac.create(sha256, prf),
    stateKey: await importAesGcmKey(state),
    documentKey: await importAesGcmKey(document),
  };
}

/** Zero-fills the keys held as bytes (at a lock); the CryptoKeys go with the last
 * reference to them. */
export function wipeIndexKeys(keys: IndexKeys): void {
  keys.prf.fill(0);
  keys.state.fill(0);
  keys.document.fill(0);
  keys.keyedPrf.destroy();
}

/** A user's personal index, its id and key, derived from their X25519 private key's 32
 * raw bytes: every device that unlocks their keystore finds the same index. */
export async function personalIndex(accountSecret: Uint8Array): Promise<{ id: string; key: Uint8Array }> {
  const id = await hkdf(accountSecret, EMPTY, utf8("uhs search v1 personal index id"), 16);
  const key = await hkdf(accountSecret, EMPTY, utf8("uhs search v1 personal index key"), INDEX_KEY_SIZE);
  return { id: uuidText(id), key };
}

function encodeKeyword(keyword: string): Uint8Array {
  const encoded = utf8(keyword);
  if (encoded.length < 1 || encoded.length > MAX_KEYWORD_BYTES) throw malformed("a keyword is 1 to 255 bytes of UTF-8");
  return concat(Uint8Array.of(encoded.length), encoded);
}

/** enc(w) || cnt (8) || which (1), written once per keyword and its counter and byte
 * rewritten for each PRF call: a search derives two PRFs per update of a keyword. */
class PrfInput {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** The keyed HMAC copied into it for each call: a copy into a fresh object costs
   * more than the two SHA-256 blocks of the PRF itself. */
  private scratch: _HMAC<any> | null = null;

  constructor(private readonly encodedKeyword: Uint8Array) {
    this.bytes = new Uint8Array(encodedKeyword.length + 9);
    this.bytes.set(encodedKeyword);
    this.view = new DataView(this.bytes.buffer);
  }

  /** `counter` as a number: counters stay far below 2^53 (an index holds at most
   * 10 million entries), which the state's decoding checks stay below 2^63. */
  prf(keys: IndexKeys, counter: number | bigint, which: number): Uint8Array {
    const at = this.encodedKeyword.length;
    if (typeof counter === "bigint") {
      if (counter < 1n || counter > MAX_COUNTER) throw malformed("a counter is 1 to 2^63-1");
      this.view.setBigUint64(at, counter);
    } else {
      if (!Number.isSafeInteger(counter) || counter < 1) throw malformed("a counter is 1 to 2^63-1");
      this.view.setUint32(at, Math.floor(counter / 2 ** 32));
      this.view.setUint32(at + 4, counter >>> 0);
    }
    this.bytes[at + 8] = which;
    const scratch: _HMAC<any> = keys.keyedPrf._cloneInto(this.scratch ?? undefined);
    this.scratch = scratch;
    return scratch.update(this.bytes).digest();
  }
}

function prf(keys: IndexKeys, encodedKeyword: Uint8Array, counter: bigint, which: number): Uint8Array {
  return new PrfInput(encodedKeyword).prf(keys, counter, which);
}

/** PRF(K, w || cnt || 0): where the counter-th update of keyword is stored. */
export function label(keys: IndexKeys, keyword: string, counter: bigint): Uint8Array {
  return prf(keys, encodeKeyword(keyword), counter, 0);
}

function xorPad(keys: IndexKeys, encodedKeyword: Uint8Array, counter: bigint, data: Uint8Array): Uint8Array {
  if (data.length !== VALUE_SIZE) throw malformed("a search value is 17 bytes");
  const pad = prf(keys, encodedKeyword, counter, 1);
  return data.map((b, i) => b ^ pad[i]!);
}

/** (op || id) XOR PRF(K, w || cnt || 1). */
export function value(keys: IndexKeys, keyword: string, counter: bigint, op: Op, documentId: string): Uint8Array {
  return xorPad(keys, encodeKeyword(keyword), counter, concat(Uint8Array.of(op), uuidBytes(documentId)));
}

export function openValue(keys: IndexKeys, keyword: string, counter: bigint, sealed: Uint8Array): { op: Op; documentId: string } {
  const plain = xorPad(keys, encodeKeyword(keyword), counter, sealed);
  // A value the server made up or moved from another label: refused, not guessed.
  if (plain[0]! > Op.Delete) throw malformed("a search value opens to an unknown operation");
  return { op: plain[0] as Op, documentId: uuidText(plain.subarray(1)) };
}

/** The client state of Mitra: the number of updates made on each keyword. */
export class Counters {
  private readonly counts: Map<string, bigint>;

  constructor(counts: Iterable<[string, bigint]> = []) {
    this.counts = new Map(counts);
  }

  get(keyword: string): bigint {
    return this.counts.get(keyword) ?? 0n;
  }

  get size(): number {
    return this.counts.size;
  }

  entries(): IterableIterator<[string, bigint]> {
    return this.counts.entries();
  }

  copy(): Counters {
    return new Counters(this.counts);
  }

  /** Mitra's Update: the (label, value) entry to store; the counter moves on. */
  update(keys: IndexKeys, op: Op, keyword: string, documentId: string): [Uint8Array, Uint8Array] {
    const counter = this.get(keyword) + 1n;
    const entry: [Uint8Array, Uint8Array] = [label(keys, keyword, counter), value(keys, keyword, counter, op, documentId)];
    this.counts.set(keyword, counter);
    return entry;
  }

  /** Mitra's Search, first half: the labels of every update made on keyword. */
  searchLabels(keys: IndexKeys, keyword: string): Uint8Array[] {
    const input = new PrfInput(encodeKeyword(keyword));
    const labels: Uint8Array[] = [];
    const count = Number(this.get(keyword));
    for (let counter = 1; counter <= count; counter++) labels.push(input.prf(keys, counter, 0));
    return labels;
  }
}

/** Mitra's Search, second half: the documents holding keyword now, from the values the
 * server returned for its labels in order (null where it holds none: an entry removed by
 * compaction or by the document's erasure). */
export function resolve(keys: IndexKeys, keyword: string, values: readonly (Uint8Array | null)[]): Set<string> {
  const input = new PrfInput(encodeKeyword(keyword));
  // Ids as hex while the updates are replayed; as UUIDs only for those left.
  const present = new Set<string>();
  values.forEach((sealed, at) => {
    if (sealed === null) return;
    if (sealed.length !== VALUE_SIZE) throw malformed("a search value is 17 bytes");
    const pad = input.prf(keys, at + 1, 1);
    const plain = sealed.map((b, i) => b ^ pad[i]!);
    const id = toHex(plain.subarray(1));
    if (plain[0] === Op.Add) present.add(id);
    else if (plain[0] === Op.Delete) present.delete(id);
    else throw malformed("a search value opens to an unknown operation");
  });
  return new Set([...present].map((id) => uuidText(fromHex(id))));
}

// -- the state envelope ---------------------------------------------------------------

function stateAad(indexId: string, version: bigint): Uint8Array {
  return concat(STATE_AAD, uuidBytes(indexId), u64(version));
}

/** format (1) || count (4) || per keyword, in the order of its encoding's bytes:
 * len (1) || UTF-8 || counter (8); all big-endian. */
export function encodeCounters(counters: Counters): Uint8Array {
  const entries = [...counters.entries()].map(([w, c]) => [encodeKeyword(w), c] as const);
  entries.sort(([a], [b]) => compareBytes(a, b));
  return concat(Uint8Array.of(STATE_FORMAT), u32(entries.length), ...entries.flatMap(([w, c]) => [w, u64(c)]));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function decodeCounters(data: Uint8Array): Counters {
  if (data.length < 5 || data[0] !== STATE_FORMAT) throw malformed("not a search state");
  const count = readU32(data, 1);
  let at = 5;
  let previous: Uint8Array = EMPTY;
  const counts: [string, bigint][] = [];
  for (let i = 0; i < count; i++) {
    if (at >= data.length) throw malformed("a search state is truncated");
    const size = data[at]!;
    const encoded = data.subarray(at, at + 1 + size);
    if (size === 0 || data.length < at + 1 + size + 8 || compareBytes(encoded, previous) <= 0) {
      throw malformed("a search state's keywords are not in order");
    }
    const counter = readU64(data, at + 1 + size);
    if (counter < 1n || counter > MAX_COUNTER) throw malformed("a search state holds a counter out of range");
    counts.push([fromUtf8(encoded.subarray(1)), counter]);
    previous = encoded;
    at += 1 + size + 8;
  }
  if (at !== data.length) throw malformed("a search state has trailing bytes");
  return new Counters(counts);
}

function nonce(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
}

/** nonce (12) || AES-256-GCM(state key, nonce, encoded counters,
 * aad = "uhs search state v1" || index id (16) || version (8)). */
export async function sealState(keys: IndexKeys, indexId: string, version: bigint, counters: Counters): Promise<Uint8Array> {
  const n = nonce();
  return concat(n, await aesGcmSeal(keys.stateKey, n, encodeCounters(counters), stateAad(indexId, version)));
}

export async function openState(keys: IndexKeys, indexId: string, version: bigint, sealed: Uint8Array): Promise<Counters> {
  if (sealed.length < NONCE_SIZE + 16) throw malformed("a search state envelope is too short");
  const plain = await aesGcmOpen(keys.stateKey, sealed.subarray(0, NONCE_SIZE), sealed.subarray(NONCE_SIZE), stateAad(indexId, version));
  if (plain === null) {
    throw new ProtocolError("decryption_failed", "the search state does not open: another index's, another version's, or altered");
  }
  return decodeCounters(plain);
}

// -- what a document was indexed under --------------------------------------------------

/** Where the list of a document's keywords is kept, so that any of the user's devices
 * can delete them later without the document. */
export function documentLabel(keys: IndexKeys, documentId: string): Uint8Array {
  return hmac(sha256, keys.document, concat(utf8("label"), uuidBytes(documentId)));
}

/** nonce (12) || AES-256-GCM(document key, nonce, the keywords in the order of their
 * UTF-8 bytes, each len (1) || UTF-8, aad = "uhs search document v1" || document id (16)). */
export async function sealKeywords(keys: IndexKeys, documentId: string, keywords: Iterable<string>): Promise<Uint8Array> {
  const body = concat(...[...new Set(keywords)].sort(compareUtf8).map(encodeKeyword));
  const n = nonce();
  return concat(n, await aesGcmSeal(keys.documentKey, n, body, concat(DOCUMENT_AAD, uuidBytes(documentId))));
}

export async function openKeywords(keys: IndexKeys, documentId: string, sealed: Uint8Array): Promise<string[]> {
  if (sealed.length < NONCE_SIZE + 16) throw malformed("a document's keyword list is too short");
  const body = await aesGcmOpen(keys.documentKey, sealed.subarray(0, NONCE_SIZE), sealed.subarray(NONCE_SIZE), concat(DOCUMENT_AAD, uuidBytes(documentId)));
  if (body === null) throw new ProtocolError("decryption_failed", "a document's keyword list does not open");
  const keywords: string[] = [];
  let at = 0;
  while (at < body.length) {
    const size = body[at]!;
    if (size === 0 || at + 1 + size > body.length) throw malformed("a document's keyword list is truncated");
    keywords.push(fromUtf8(body.subarray(at + 1, at + 1 + size)));
    at += 1 + size;
  }
  return keywords;
}

/** How many of a query's keywords a document's opened keyword list holds, counted term
 * by term; null when a term has none of its keywords in the list (the document does not
 * match, whatever the index's values said). */
export function termsHeld(terms: readonly (readonly string[])[], keywords: Iterable<string>): number | null {
  const held = new Set(keywords);
  let count = 0;
  for (const term of terms) {
    let matched = 0;
    for (const w of new Set(term)) if (held.has(w)) matched++;
    if (matched === 0) return null;
    count += matched;
  }
  return count;
}
