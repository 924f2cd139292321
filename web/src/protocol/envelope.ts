/**
 * Document envelope (docs/PROTOCOL.md section 3): AES-256-GCM in chunks (STREAM),
 * keys from HKDF with a per-envelope salt, a header MAC.
 *
 * Both directions stream from a ReadableStream to a WritableStream holding a few
 * chunks at a time, so a 1 GiB file costs the memory of a 1 MiB one.
 */

import { concat, constantTimeEqual, u32, u8, utf8 } from "./bytes.js";
import { ProtocolError, malformed, unsupported } from "./errors.js";
import { RootBuilder } from "./merkle.js";
import {
  type IncrementalHash,
  aesGcmOpen,
  aesGcmSeal,
  createStreamingSha256,
  hkdf,
  hmac,
  importAesGcmKey,
  sha256,
} from "./primitives.js";
import { ExactReader, bytesSink, bytesSource } from "./streams.js";

export const MAGIC = utf8("UHSE");
/** Content digest: SHA-256 over the whole envelope. Read, no longer written. */
export const VERSION_WHOLE_HASH = 0x01;
/** Content digest: RFC 6962 Merkle tree hash over the header and the sealed chunks. */
export const VERSION_CHUNK_TREE = 0x02;
/** What writers write. */
export const VERSION = VERSION_CHUNK_TREE;
export const CIPHER_AES_256_GCM = 0x01;
export const HEADER_SIZE = 78;
export const FIELDS_SIZE = 46;
export const MIN_CHUNK_LOG2 = 12;
export const MAX_CHUNK_LOG2 = 24;
export const DEFAULT_CHUNK_LOG2 = 20;
export const DOCUMENT_KEY_SIZE = 32;
export const SALT_SIZE = 32;
export const NONCE_PREFIX_SIZE = 7;
export const TAG_SIZE = 16;
const MAX_CHUNKS = 2 ** 32;

const PAYLOAD_KEY_INFO = utf8("uhealthsec/v1/envelope/payload-key");
const HEADER_KEY_INFO = utf8("uhealthsec/v1/envelope/header-mac-key");

export interface EnvelopeHeader {
  version: number;
  chunkLog2: number;
  salt: Uint8Array;
  noncePrefix: Uint8Array;
}

export interface SealOptions {
  chunkLog2?: number;
  /** Fixed salt and nonce prefix, for test vectors only: a writer draws them at random. */
  salt?: Uint8Array;
  noncePrefix?: Uint8Array;
}

/** Parses the 46 bytes of header fields, in the order of checks of section 3.4 step 1. */
export function parseHeaderFields(fields: Uint8Array): EnvelopeHeader {
  if (fields.length < FIELDS_SIZE) throw malformed("envelope header is too short");
  if (!constantTimeEqual(fields.subarray(0, 4), MAGIC)) throw malformed("not a U-HealthSec envelope (bad magic bytes)");
  const version = fields[4]!;
  if (version !== VERSION_WHOLE_HASH && version !== VERSION_CHUNK_TREE) throw unsupported(`unsupported envelope version ${version}`);
  if (fields[5] !== CIPHER_AES_256_GCM) throw unsupported(`unsupported envelope cipher ${fields[5]}`);
  const chunkLog2 = fields[6]!;
  if (chunkLog2 < MIN_CHUNK_LOG2 || chunkLog2 > MAX_CHUNK_LOG2) {
    throw malformed(`envelope chunk size 2^${chunkLog2} is out of range`);
  }
  return { version, chunkLog2, salt: fields.slice(7, 39), noncePrefix: fields.slice(39, 46) };
}

function headerFields(header: EnvelopeHeader): Uint8Array {
  return concat(MAGIC, u8(header.version), u8(CIPHER_AES_256_GCM), u8(header.chunkLog2), header.salt, header.noncePrefix);
}

/** Leaves hashed but not yet folded, at most: each holds a copy of its chunk. */
const LEAVES_IN_FLIGHT = 4;

/**
 * The content digest of an envelope (section 3.5), fed in pieces of any size.
 *
 * The header's version byte chooses: version 2 is the RFC 6962 Merkle tree hash over
 * the leaves [header, sealed chunk 0, ..., sealed chunk n], cut here from the chunk
 * size the header names; version 1 is SHA-256 over every byte. Bytes that do not
 * start with a header of a known version are digested as SHA-256 over every byte.
 *
 * Each leaf is one WebCrypto digest of 0x00 || chunk, with the CPU's SHA
 * instructions, started as soon as the chunk is given: where WebCrypto works off the
 * calling thread (Node) it runs beside the next chunk's cipher; Chromium 156 computes
 * it on the calling thread, at about 1 ms per MiB. Leaves fold in order into a stack
 * of subtree roots. At most LEAVES_IN_FLIGHT leaves are pending: `update` waits for
 * the oldest beyond that.
 */
export class EnvelopeDigest {
  private readonly header = new Uint8Array(HEADER_SIZE);
  private headerFilled = 0;
  private whole: IncrementalHash | null = null;
  private tree: RootBuilder | null = null;
  private leafSize = 0;
  /** 0x00 || the chunk being assembled, when it arrives in several pieces. */
  private leaf: Uint8Array | null = null;
  private leafFilled = 0;
  private folded: Promise<void> = Promise.resolve();
  /** 0x00 || the chunk being hashed whole (see addLeaf). */
  private prefixed: Uint8Array | null = null;
  private readonly folds: Promise<void>[] = [];

  async update(data: Uint8Array): Promise<void> {
    let rest = data;
    if (this.whole === null && this.tree === null) {
      const taken = Math.min(rest.length, HEADER_SIZE - this.headerFilled);
      this.header.set(rest.subarray(0, taken), this.headerFilled);
      this.headerFilled += taken;
      rest = rest.subarray(taken);
      if (this.headerFilled < HEADER_SIZE) return;
      await this.start();
    }
    if (this.whole !== null) {
      this.whole.update(rest);
      return;
    }
    while (rest.length > 0) {
      if (this.leaf === null && rest.length >= this.leafSize) {
        this.addLeaf(rest.subarray(0, this.leafSize));
        rest = rest.subarray(this.leafSize);
      } else {
        this.leaf ??= new Uint8Array(1 + this.leafSize);
        const taken = Math.min(rest.length, this.leafSize - this.leafFilled);
        this.leaf.set(rest.subarray(0, taken), 1 + this.leafFilled);
        this.leafFilled += taken;
        rest = rest.subarray(taken);
        if (this.leafFilled === this.leafSize) this.endLeaf();
      }
      while (this.folds.length > LEAVES_IN_FLIGHT) await this.folds.shift();
    }
  }

  /** The digest of the bytes fed so far (a final short chunk is a leaf). */
  async digest(): Promise<Uint8Array> {
    if (this.whole !== null) return this.whole.digest();
    if (this.tree === null) return sha256(this.header.subarray(0, this.headerFilled));
    if (this.leaf !== null) this.endLeaf();
    await this.folded;
    return this.tree.root();
  }

  private async start(): Promise<void> {
    let header: EnvelopeHeader | null = null;
    try {
      header = parseHeaderFields(this.header.subarray(0, FIELDS_SIZE));
    } catch {
      header = null;
    }
    if (header === null || header.version === VERSION_WHOLE_HASH) {
      this.whole = await createStreamingSha256();
      this.whole.update(this.header);
      return;
    }
    this.tree = new RootBuilder();
    this.leafSize = 2 ** header.chunkLog2 + TAG_SIZE;
    this.addLeaf(this.header);
  }

  /**
   * Starts the leaf hash of `chunk`, copied after its 0x00 prefix into one buffer
   * reused for every leaf: WebCrypto copies what it is given when called (WebCrypto
   * `digest`, step 2), so the buffer is free again once the call returns.
   */
  private addLeaf(chunk: Uint8Array): void {
    if (this.prefixed === null || this.prefixed.length < 1 + chunk.length) this.prefixed = new Uint8Array(1 + chunk.length);
    const prefixed = this.prefixed.subarray(0, 1 + chunk.length);
    prefixed.set(chunk, 1);
    this.fold(prefixed);
  }

  private endLeaf(): void {
    const prefixed = this.leaf!.subarray(0, 1 + this.leafFilled);
    this.leaf = null;
    this.leafFilled = 0;
    this.fold(prefixed);
  }

  /** Hashes `prefixed` (0x00 || leaf) now; adds it to the tree after every leaf before it. */
  private fold(prefixed: Uint8Array): void {
    const hashing = handled(sha256(prefixed));
    const tree = this.tree!;
    this.folded = handled(this.folded.then(async () => tree.add(await hashing)));
    this.folds.push(this.folded);
  }
}

/** The content digest of a whole envelope held in memory (what its author signs). */
export async function contentDigest(envelope: Uint8Array): Promise<Uint8Array> {
  const digest = new EnvelopeDigest();
  await digest.update(envelope);
  return digest.digest();
}

class EnvelopeKeys {
  private constructor(
    private readonly payloadKey: CryptoKey,
    private readonly headerKey: Uint8Array,
    private readonly noncePrefix: Uint8Array,
  ) {}

  static async derive(documentKey: Uint8Array, header: EnvelopeHeader): Promise<EnvelopeKeys> {
    if (documentKey.length !== DOCUMENT_KEY_SIZE) throw malformed(`a document key is ${DOCUMENT_KEY_SIZE} bytes`);
    const payload = await hkdf(documentKey, header.salt, PAYLOAD_KEY_INFO, 32);
    const headerKey = await hkdf(documentKey, header.salt, HEADER_KEY_INFO, 32);
    const payloadKey = await importAesGcmKey(payload);
    payload.fill(0);
    return new EnvelopeKeys(payloadKey, headerKey, header.noncePrefix);
  }

  nonce(index: number, last: boolean): Uint8Array {
    if (index >= MAX_CHUNKS) throw malformed("envelope exceeds the maximum number of chunks");
    return concat(this.noncePrefix, u32(index), u8(last ? 1 : 0));
  }

  headerMac(fields: Uint8Array): Promise<Uint8Array> {
    return hmac(this.headerKey, fields);
  }

  seal(index: number, last: boolean, plaintext: Uint8Array): Promise<Uint8Array> {
    return aesGcmSeal(this.payloadKey, this.nonce(index, last), plaintext);
  }

  open(index: number, last: boolean, sealed: Uint8Array): Promise<Uint8Array | null> {
    return aesGcmOpen(this.payloadKey, this.nonce(index, last), sealed);
  }

  dispose(): void {
    this.headerKey.fill(0);
  }
}

const NOTHING: Promise<Uint8Array> = Promise.resolve(new Uint8Array(0));

/**
 * `promise`, marked as handled: a read or a cipher started ahead and left behind by a
 * refusal must not surface as an unhandled rejection (the refusal is what is reported).
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * Writes a chunk once `writer` has room, without waiting for the sink to take it, so
 * that the next chunk is sealed or opened meanwhile; a sink's failure surfaces at
 * the next write or at the close. Holds at most what the sink's queue allows.
 */
function pipelinedWriter(writer: WritableStreamDefaultWriter<Uint8Array>): (chunk: Uint8Array) => Promise<void> {
  return async (chunk) => {
    await writer.ready;
    handled(writer.write(chunk));
  };
}

function randomBytes(n: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

export function generateDocumentKey(): Uint8Array {
  return randomBytes(DOCUMENT_KEY_SIZE);
}

/**
 * Seals `source` into `sink` and returns the content digest (section 3.5).
 * Holds one chunk back until it knows whether more data follows (section 3.3).
 */
export async function sealStream(
  documentKey: Uint8Array,
  source: ReadableStream<Uint8Array>,
  sink: WritableStream<Uint8Array>,
  options: SealOptions = {},
): Promise<Uint8Array> {
  const chunkLog2 = options.chunkLog2 ?? DEFAULT_CHUNK_LOG2;
  if (!Number.isInteger(chunkLog2) || chunkLog2 < MIN_CHUNK_LOG2 || chunkLog2 > MAX_CHUNK_LOG2) {
    throw new RangeError(`chunkLog2 must be within ${MIN_CHUNK_LOG2}..${MAX_CHUNK_LOG2}`);
  }
  const salt = options.salt ?? randomBytes(SALT_SIZE);
  const noncePrefix = options.noncePrefix ?? randomBytes(NONCE_PREFIX_SIZE);
  if (salt.length !== SALT_SIZE || noncePrefix.length !== NONCE_PREFIX_SIZE) {
    throw new RangeError("salt is 32 bytes and nonce prefix 7 bytes");
  }
  const header: EnvelopeHeader = { version: VERSION, chunkLog2, salt, noncePrefix };
  const keys = await EnvelopeKeys.derive(documentKey, header);
  const reader = new ExactReader(source);
  const writer = sink.getWriter();
  const digest = new EnvelopeDigest();
  const chunkSize = 2 ** chunkLog2;
  try {
    const fields = headerFields(header);
    const headerBytes = concat(fields, await keys.headerMac(fields));
    await digest.update(headerBytes);
    await writer.write(headerBytes);
    const emit = pipelinedWriter(writer);
    // Chunk i is sealed while chunk i - 1 is hashed and written and the source
    // produces chunk i + 2 (each beside the others where WebCrypto works off this
    // thread; the source, in the page, always does).
    let current = await reader.read(chunkSize);
    let upcoming = current.length === chunkSize ? handled(reader.read(chunkSize)) : NOTHING;
    let previous: Promise<Uint8Array> | null = null;
    for (let index = 0; ; index++) {
      const next = await upcoming;
      const last = next.length === 0;
      const sealing = handled(keys.seal(index, last, current));
      if (!last) upcoming = next.length === chunkSize ? handled(reader.read(chunkSize)) : NOTHING;
      if (previous !== null) {
        const sealed = await previous;
        await digest.update(sealed);
        await emit(sealed);
      }
      previous = sealing;
      if (last) break;
      current = next;
    }
    const sealed = await previous;
    await digest.update(sealed);
    await emit(sealed);
    await writer.close();
    return await digest.digest();
  } catch (error) {
    await reader.cancel(error);
    await writer.abort(error).catch(() => undefined);
    throw error;
  } finally {
    keys.dispose();
  }
}

async function explainFailure(
  keys: EnvelopeKeys,
  index: number,
  piece: Uint8Array,
  final: boolean,
  full: boolean,
): Promise<ProtocolError> {
  if (final && full && (await keys.open(index, false, piece)) !== null) {
    return new ProtocolError("truncated", "the envelope ends after a chunk that is not its final one");
  }
  if (!final && (await keys.open(index, true, piece)) !== null) {
    return new ProtocolError("trailing_data", "data follows the final chunk of the envelope");
  }
  return new ProtocolError(
    `chunk_authentication:${index}`,
    `chunk ${index} failed authentication: the ciphertext was modified, reordered or taken from another envelope`,
  );
}

/**
 * Opens `source` into `sink` and returns the content digest of the bytes read.
 * Plaintext reaches the sink chunk by chunk as each verifies; on any refusal the
 * sink is aborted, so whoever holds it must treat what it received as void until
 * this promise resolves (section 3.4 step 5).
 */
/**
 * The envelope keys of `headerBytes` (a whole header, 78 bytes), once its MAC proves
 * that `documentKey` is the key it was sealed under (PROTOCOL 3.4).
 */
async function authenticatedKeys(documentKey: Uint8Array, headerBytes: Uint8Array): Promise<EnvelopeKeys> {
  const fields = headerBytes.subarray(0, FIELDS_SIZE);
  const keys = await EnvelopeKeys.derive(documentKey, parseHeaderFields(fields));
  if (!constantTimeEqual(await keys.headerMac(fields), headerBytes.subarray(FIELDS_SIZE, HEADER_SIZE))) {
    keys.dispose();
    throw new ProtocolError(
      "header_authentication",
      "the envelope header does not authenticate: it was modified or the document key is wrong",
    );
  }
  return keys;
}

/** Checks that `documentKey` is the key the envelope header `headerBytes` commits to, as
 * crypto/envelope.py's `check_header`. */
export async function checkHeader(documentKey: Uint8Array, headerBytes: Uint8Array): Promise<void> {
  if (headerBytes.length < HEADER_SIZE) throw new ProtocolError("truncated", "the data is too short to hold an envelope header");
  (await authenticatedKeys(documentKey, headerBytes)).dispose();
}

export async function openStream(
  documentKey: Uint8Array,
  source: ReadableStream<Uint8Array>,
  sink: WritableStream<Uint8Array>,
): Promise<Uint8Array> {
  const reader = new ExactReader(source);
  const writer = sink.getWriter();
  let keys: EnvelopeKeys | null = null;
  try {
    const headerBytes = await reader.read(HEADER_SIZE);
    if (headerBytes.length < HEADER_SIZE) {
      throw new ProtocolError("truncated", "the data is too short to hold an envelope header");
    }
    const header = parseHeaderFields(headerBytes.subarray(0, FIELDS_SIZE));
    keys = await authenticatedKeys(documentKey, headerBytes);
    const digest = new EnvelopeDigest();
    await digest.update(headerBytes);
    const pieceSize = 2 ** header.chunkLog2 + TAG_SIZE;
    const emit = pipelinedWriter(writer);
    // Chunk i is opened and hashed while the source produces chunk i + 2.
    let piece = await reader.read(pieceSize);
    let upcoming = piece.length === pieceSize ? handled(reader.read(pieceSize)) : null;
    for (let index = 0; ; index++) {
      const full = piece.length === pieceSize;
      const next = upcoming === null ? null : await upcoming;
      const final = next === null || next.length === 0;
      if (piece.length < TAG_SIZE) {
        throw new ProtocolError(
          "truncated",
          index === 0 && piece.length === 0
            ? "the envelope has a header but no payload"
            : `the envelope ends inside chunk ${index}`,
        );
      }
      if (final && piece.length === TAG_SIZE && index > 0) {
        throw malformed("an empty final chunk is only valid as the first chunk");
      }
      const opening = handled(keys.open(index, final, piece));
      upcoming = !final && next!.length === pieceSize ? handled(reader.read(pieceSize)) : null;
      await digest.update(piece);
      const plaintext = await opening;
      if (plaintext === null) throw await explainFailure(keys, index, piece, final, full);
      await emit(plaintext);
      if (final) break;
      piece = next!;
    }
    await writer.close();
    return await digest.digest();
  } catch (error) {
    await reader.cancel(error);
    await writer.abort(error).catch(() => undefined);
    throw error;
  } finally {
    keys?.dispose();
  }
}

/** Seals bytes into an envelope (tests and small documents). */
export async function seal(documentKey: Uint8Array, plaintext: Uint8Array, options: SealOptions = {}): Promise<Uint8Array> {
  const out = bytesSink();
  await sealStream(documentKey, bytesSource(plaintext), out.sink, options);
  return out.bytes();
}

/** Opens an envelope held in memory; returns its plaintext and content digest. */
export async function open(
  documentKey: Uint8Array,
  envelope: Uint8Array,
): Promise<{ plaintext: Uint8Array; contentDigest: Uint8Array }> {
  const out = bytesSink();
  const contentDigest = await openStream(documentKey, bytesSource(envelope), out.sink);
  return { plaintext: out.bytes(), contentDigest };
}
